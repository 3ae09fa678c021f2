// An edited copy of a model in a new file: written beside the destination under a temporary name, read
// back and checked against the plan, then published without ever replacing a file unasked; the copy
// carries its provenance as `debias.*` metadata (provenance.ts).
import { createHash, randomBytes } from "node:crypto";
import { link, open, readdir, rename, rm, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { DebiasError } from "../errors.js";
import { GgufValueType, type GgufKv } from "../gguf/format.js";
import { checkDestinations, ioError, regularFile } from "../files.js";
import { lockOpenFile } from "../gguf/file-lock.js";
import { interruptedJournal, killPoint, syncDir } from "./journal.js";
import { planNeuronEdits, type NeuronEdit } from "./neuron-edit.js";
import { openForReading, openGguf, readAt } from "../gguf/reader.js";
import { encodeKv, reheader } from "../gguf/writer.js";
import { DEFAULT_TOOL, KV, neuronArrays, readProvenance } from "./provenance.js";
import { withRequantizer, type EditOptions } from "./edit-options.js";

const COPY_CHUNK = 1 << 23;

const interruptedEdit = (path: string, journal: string): DebiasError =>
  new DebiasError("E_JOURNAL_PENDING", `${path} has an interrupted in-place edit (${journal}); run \`gguf-debias undo ${path}\` to roll it back first.`);

export interface NewFileOptions extends EditOptions {
  /** Replace `dst` if it exists (atomically). */
  readonly overwrite?: boolean;
}

export interface NewFileResult {
  readonly file: string;
  readonly edited: readonly NeuronEdit[];
  readonly bytesWritten: number;
  readonly sourceSha256: string;
  /** sha256 of the written file, as read back. */
  readonly sha256: string;
  readonly description: readonly string[];
  readonly maxRelError: number;
  readonly maxAbsError: number;
}

/**
 * Whether `dst` can receive an edited copy of `src`: not the input itself, not an existing file unless
 * `overwrite`, never something other than a regular file, and in a folder that exists. Cheap, so
 * callers check before minutes of work.
 */
export async function checkNewFileTarget(src: string, dst: string, overwrite = false): Promise<void> {
  await regularFile(src, "model");
  await checkDestinations([{ path: src, what: "model" }], [{ path: dst, what: "output", overwrite }]);
}

const TMP_SUFFIX = ".debias-tmp";

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes partial copies to `dst` left by writers that died (`<dst>.<pid>-<random>.debias-tmp`), never
 * the input of this copy, whatever it is named (a file named like a partial copy may be given as input).
 */
async function removeAbandonedCopies(dst: string, input: { dev: number; ino: number }): Promise<void> {
  const prefix = `${basename(dst)}.`;
  const names = await readdir(dirname(dst)).catch(() => [] as string[]);
  for (const name of names) {
    const pid = name.startsWith(prefix) && name.endsWith(TMP_SUFFIX) ? /^(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length, -TMP_SUFFIX.length))?.[1] : undefined;
    if (pid === undefined || processAlive(Number(pid))) continue;
    const path = join(dirname(dst), name);
    const st = await stat(path).catch(() => null);
    if (st && !(st.dev === input.dev && st.ino === input.ino)) await rm(path, { force: true });
  }
}

/** Moves the finished copy `tmp` to `dst`; without `overwrite`, atomically refuses a `dst` that appeared meanwhile. */
async function publish(tmp: string, dst: string, overwrite: boolean): Promise<void> {
  if (overwrite) return rename(tmp, dst);
  const appeared = (): DebiasError => new DebiasError("E_DST_EXISTS", `The output ${dst} was created by something else while the copy was written; the copy was discarded.`);
  try {
    await link(tmp, dst);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    if (code === "EEXIST") throw appeared();
    // file systems without hard links (FAT, some network mounts): check, then rename
    if (!["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"].includes(code)) throw err;
    if (await stat(dst).then(() => true, () => false)) throw appeared();
    return rename(tmp, dst);
  }
  await unlink(tmp);
}

/** Checks that `dst` holds exactly `header` followed by data hashing to `dataSha256`; returns the file's sha256. */
/** Writes all of `buf` at `position`, however short the system's writes come back; none at all is an error. */
async function writeFully(fh: FileHandle, path: string, buf: Buffer, offset: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buf, offset + done, length - done, position + done);
    if (bytesWritten <= 0) throw new DebiasError("E_IO", `Writing ${path} stopped after ${done} of ${length} bytes (is the disk full?).`);
    done += bytesWritten;
  }
}

/** Reads the copy back: exactly `size` bytes, the header as written and the data's sha256; returns the whole file's sha256. */
async function verifyCopy(path: string, header: Buffer, dataSha256: string, size: number): Promise<string> {
  const changed = (): DebiasError =>
    new DebiasError("E_EDIT_VERIFY", `The edited copy ${path} does not read back as written (a short write on a full disk, or another job replacing it); it was not published.`);
  const fh = await openForReading(path);
  try {
    if ((await fh.stat()).size !== size || !(await readAt(fh, path, 0, header.length)).equals(header)) throw changed();
    const data = createHash("sha256");
    const whole = createHash("sha256").update(header);
    for (let pos = header.length; pos < size; pos += COPY_CHUNK) {
      const chunk = await readAt(fh, path, pos, Math.min(COPY_CHUNK, size - pos));
      data.update(chunk);
      whole.update(chunk);
    }
    if (data.digest("hex") !== dataSha256) throw changed();
    return whole.digest("hex");
  } finally {
    await fh.close();
  }
}

/**
 * Writes an edited copy of `src` to `dst` (streamed; `src` is never modified, and held under a shared
 * lock so no in-place edit changes it meanwhile) with the edits recorded as `debias.*` metadata. The
 * copy is written to a temporary file of its own, then appears as `dst` complete or not at all, and is
 * read back before this returns.
 */
export async function editToNewFile(src: string, dst: string, edits: readonly NeuronEdit[], options: NewFileOptions = {}): Promise<NewFileResult> {
  await checkNewFileTarget(src, dst, options.overwrite ?? false);
  const real = await regularFile(src, "model");
  const input = await openForReading(real);
  try {
    lockOpenFile(input.fd, src, false);
    const interrupted = await interruptedJournal(real);
    if (interrupted) throw interruptedEdit(src, interrupted);
    await removeAbandonedCopies(resolve(dst), await input.stat());
    return await copyEdited(input, real, resolve(dst), edits, options);
  } finally {
    await input.close();
  }
}

async function copyEdited(input: FileHandle, src: string, dst: string, edits: readonly NeuronEdit[], options: NewFileOptions): Promise<NewFileResult> {
  const file = await openGguf(src);
  const plan = await planNeuronEdits(file, edits, withRequantizer(options));
  const prior = readProvenance(file)?.edits ?? [];
  const placeholder: GgufKv = { key: KV.source, type: GgufValueType.STRING, value: "0".repeat(64) };
  const provenanceKvs: GgufKv[] = [
    { key: KV.tool, type: GgufValueType.STRING, value: options.tool ?? DEFAULT_TOOL },
    ...neuronArrays([...prior, ...plan.edits]),
    placeholder,
  ];

  const tmp = `${dst}.${process.pid}-${randomBytes(4).toString("hex")}${TMP_SUFFIX}`;
  const hash = createHash("sha256");
  const dataHash = createHash("sha256");
  let output: FileHandle | undefined;
  let bytesWritten = 0;
  try {
    const original = await readAt(input, src, 0, file.dataOffset);
    hash.update(original);
    const header = reheader(file, original, provenanceKvs);
    // the source hash is only known once the copy is done; it overwrites this fixed-length placeholder
    const placeholderKv = encodeKv(placeholder);
    const placeholderAt = header.indexOf(placeholderKv) + placeholderKv.length - 64;
    output = await open(tmp, "wx");
    await writeFully(output, tmp, header, 0, header.length, 0);
    const shift = header.length - file.dataOffset;
    const patches = plan.patches;
    let next = 0;
    for (let pos = file.dataOffset; pos < file.fileSize; pos += COPY_CHUNK) {
      const chunk = await readAt(input, src, pos, Math.min(COPY_CHUNK, file.fileSize - pos));
      hash.update(chunk);
      const end = pos + chunk.length;
      while (next < patches.length && patches[next]!.offset + patches[next]!.length <= pos) next++;
      for (let i = next; i < patches.length && patches[i]!.offset < end; i++) {
        const p = patches[i]!;
        const from = Math.max(p.offset, pos);
        p.bytes.copy(chunk, from - pos, from - p.offset, Math.min(p.offset + p.length, end) - p.offset);
      }
      dataHash.update(chunk);
      await writeFully(output, tmp, chunk, 0, chunk.length, pos + shift);
      bytesWritten += chunk.length;
      if (end >= (file.dataOffset + file.fileSize) / 2) killPoint("copy-half");
    }
    const sourceSha256 = hash.digest("hex");
    header.write(sourceSha256, placeholderAt, "latin1");
    await writeFully(output, tmp, header, placeholderAt, 64, placeholderAt);
    await output.sync();
    const copied = await output.stat();
    await output.close();
    output = undefined;
    // Verified before it is published: a copy cut short (a full disk) never replaces anything.
    const sha256 = await verifyCopy(tmp, header, dataHash.digest("hex"), header.length + file.fileSize - file.dataOffset);
    const written = await openGguf(tmp);
    if (written.tensors.length !== file.tensors.length || written.dataOffset !== header.length) {
      throw new DebiasError("E_EDIT_VERIFY", `The edited copy of ${src} does not parse back to the same tensors; it was not published.`);
    }
    await publish(tmp, dst, options.overwrite ?? false);
    await syncDir(dirname(dst));
    const published = await stat(dst);
    if (published.dev !== copied.dev || published.ino !== copied.ino) {
      throw new DebiasError("E_EDIT_VERIFY", `The output ${dst} was replaced by another job right after the copy was published.`);
    }
    return {
      file: dst,
      edited: plan.edits,
      bytesWritten: bytesWritten + header.length,
      sourceSha256,
      sha256,
      description: plan.description,
      maxRelError: plan.maxRelError,
      maxAbsError: plan.maxAbsError,
    };
  } catch (err) {
    await output?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    if (err instanceof DebiasError) throw err;
    throw ioError(dst, "Writing", err);
  }
}
