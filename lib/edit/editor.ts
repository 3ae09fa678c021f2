// Applies neuron-edit plans to GGUF files: in place (journaled, undoable, crash-safe; see journal.ts)
// or into a new file carrying its provenance as `debias.*` metadata.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { access, link, open, readdir, rename, rm, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { DebiasError } from "../errors.js";
import { GgufValueType, type GgufArray, type GgufKv } from "../gguf/format.js";
import { cannotOpen, checkDestinations, regularFile } from "../files.js";
import { lockOpenFile } from "../gguf/file-lock.js";
import {
  emptyJournal,
  findJournal,
  identityOf,
  interruptedJournal,
  journalPath,
  journalTmpPath,
  killPoint,
  readJournal,
  sha256Of,
  syncDir,
  writeJournal,
  type EntryState,
  type FileIdentity,
  type Journal,
  type JournalEntry,
} from "./journal.js";
import { planNeuronEdits, type NeuronEdit, type PlanOptions, type Requantizer } from "./neuron-edit.js";
import { openForReading, openGguf, readAt, type GgufFile } from "../gguf/reader.js";
import { encodeKv, reheader } from "../gguf/writer.js";

export interface EditOptions extends PlanOptions {
  /** Recorded in the journal or the provenance, e.g. "gguf-debias 0.1.0". */
  readonly tool?: string;
}

/**
 * ggml's own quantizers unless the caller brings others. Loaded on first use only: most edits never
 * requantize (gated FFNs, float types), and the editor stays usable where the addon is not built.
 */
const defaultRequantizer: Requantizer = {
  dequantize: async (...args) => (await import("./requantizer.js")).nativeRequantizer.dequantize(...args),
  quantize: async (...args) => (await import("./requantizer.js")).nativeRequantizer.quantize(...args),
};

const withRequantizer = (options: EditOptions): EditOptions => ({ ...options, requantizer: options.requantizer ?? defaultRequantizer });

export interface EditResult {
  readonly file: string;
  readonly edited: readonly NeuronEdit[];
  readonly bytesWritten: number;
  /** The journal holding the undo record, or null when the edit changed no byte. */
  readonly journal: string | null;
  readonly description: readonly string[];
  readonly maxRelError: number;
  readonly maxAbsError: number;
}

export interface UndoResult {
  readonly file: string;
  readonly restored: true;
  /** The edits that were undone. */
  readonly edits: readonly NeuronEdit[];
  readonly bytesRestored: number;
  /** Interrupted edits (or undos) rolled back: the most recent edits, so an undo that finds one undoes nothing more. */
  readonly rolledBack: number;
  /** The edits still recorded afterwards, oldest first: the next undo takes back the last. */
  readonly remaining: readonly EditHistoryEntry[];
}

export interface RecoverResult {
  readonly file: string;
  /** Interrupted edits (or undos) whose original bytes were written back. */
  readonly rolledBack: number;
}

export interface EditHistoryEntry {
  readonly id: string;
  readonly state: EntryState;
  readonly createdAt: string;
  readonly tool: string;
  readonly edits: readonly NeuronEdit[];
  readonly description: readonly string[];
  readonly bytes: number;
}

export interface Provenance {
  readonly tool: string;
  /** sha256 of the file this one was written from. */
  readonly sourceSha256: string;
  /** Every neuron edited since the original model, in order. */
  readonly edits: readonly NeuronEdit[];
}

export interface EditHistory {
  readonly file: string;
  /** In-place edits recorded in the journal, oldest first. */
  readonly entries: readonly EditHistoryEntry[];
  /** `debias.*` metadata of a file written by editToNewFile, or null. */
  readonly provenance: Provenance | null;
  /** Where the undo record of in-place edits is (or would be) kept. */
  readonly journal: string;
  /**
   * The journal was found by the file's device and inode under another name in its folder: that of a
   * hard link to it, or the name it had when it was edited. It is used where it is.
   */
  readonly journalUnderOtherName: boolean;
  /**
   * With no journal of its own: another journal in the model's folder whose last edit the file carries
   * (the model was renamed without it), or null.
   */
  readonly strayJournal: string | null;
}

const DEFAULT_TOOL = "gguf-debias";

const KV = {
  tool: "debias.tool",
  source: "debias.source_sha256",
  layers: "debias.layers",
  indices: "debias.indices",
  scales: "debias.scales",
} as const;

function ioError(path: string, action: string, err: unknown): DebiasError {
  return new DebiasError("E_IO", `${action} ${path} failed: ${(err as Error).message}.`, { cause: err });
}

const readOnly = (path: string): DebiasError =>
  new DebiasError("E_GGUF_READONLY", `${path} is read-only; make it writable to edit it in place, or write an edited copy instead.`);

/** Whether the model can be edited in place, checked before a run spends minutes on it. */
export async function checkInPlaceTarget(path: string): Promise<void> {
  const real = await regularFile(path, "model");
  // honour the mode bits even where the process could write anyway (root), since they state intent
  if (((await stat(real)).mode & 0o222) === 0) throw readOnly(path);
  await access(real, constants.W_OK).catch(() => {
    throw readOnly(path);
  });
}

async function openForWrite(path: string): Promise<FileHandle> {
  if (((await stat(path)).mode & 0o222) === 0) throw readOnly(path);
  try {
    return await open(path, "r+");
  } catch (err) {
    if (["EACCES", "EPERM", "EROFS"].includes((err as NodeJS.ErrnoException).code ?? "")) throw readOnly(path);
    throw cannotOpen("GGUF file (for writing)", path, err);
  }
}

type Side = "before" | "after";

const sideBytes = (entry: JournalEntry, side: Side): Buffer[] => entry.patches.map((p) => Buffer.from(p[side], "base64"));

async function currentBytes(fh: FileHandle, path: string, entry: JournalEntry): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const p of entry.patches) out.push(await readAt(fh, path, p.offset, Buffer.byteLength(p.before, "base64")));
  return out;
}

async function matches(fh: FileHandle, path: string, entry: JournalEntry, side: Side): Promise<boolean> {
  if ((await fh.stat()).size !== entry.fileSize) return false;
  return sha256Of(await currentBytes(fh, path, entry)) === (side === "before" ? entry.sha256Before : entry.sha256After);
}

/** Writes one side of an entry's patches, fsyncs, and checks they read back. */
async function writeSide(fh: FileHandle, path: string, entry: JournalEntry, side: Side, halfPoint: string): Promise<number> {
  const chunks = sideBytes(entry, side);
  let written = 0;
  for (let i = 0; i < chunks.length; i++) {
    if (i === Math.floor(chunks.length / 2)) killPoint(halfPoint);
    const b = chunks[i]!;
    try {
      const { bytesWritten } = await fh.write(b, 0, b.length, entry.patches[i]!.offset);
      if (bytesWritten !== b.length) throw new Error(`short write (${bytesWritten} of ${b.length} bytes)`);
    } catch (err) {
      throw ioError(path, "Writing", err);
    }
    written += b.length;
  }
  try {
    await fh.sync();
  } catch (err) {
    throw ioError(path, "Flushing", err);
  }
  if (!(await matches(fh, path, entry, side))) {
    throw new DebiasError("E_EDIT_VERIFY", `${path} did not read back as written at the edited offsets; the disk may be failing.`);
  }
  return written;
}

/** A model opened for writing under its exclusive lock, with its journal found. */
interface LockedModel {
  readonly fh: FileHandle;
  readonly real: string;
  /** The journal file (see findJournal). */
  readonly journal: string;
  readonly identity: FileIdentity;
}

/** Rolls back every interrupted entry of a locked model. */
async function recoverLocked(m: LockedModel): Promise<number> {
  const { fh, real: path } = m;
  const journal = await readJournal(m.journal);
  if (!journal) return 0;
  let rolledBack = 0;
  for (let entry = journal.entries.at(-1); entry && entry.state !== "committed"; entry = journal.entries.at(-1)) {
    const size = (await fh.stat()).size;
    const before = sideBytes(entry, "before");
    const after = sideBytes(entry, "after");
    const current = size === entry.fileSize ? await currentBytes(fh, path, entry) : null;
    // every byte must be either as before or as after the interrupted write; anything else means the
    // file was changed by something else since, and writing the old bytes back would corrupt it
    const consistent = current?.every((cur, i) => cur.every((byte, k) => byte === before[i]![k] || byte === after[i]![k]));
    if (!consistent) {
      throw new DebiasError("E_JOURNAL_MISMATCH",
        `${path} does not match the interrupted edit recorded in ${m.journal}; it was changed since, so it is left as is (move the journal away if the file is known to be good).`);
    }
    await writeSide(fh, path, entry, "before", "recover-half");
    journal.entries.pop();
    await writeJournal(m.journal, journal, m.identity);
    rolledBack++;
  }
  return rolledBack;
}

/**
 * Opens the model `path` names for writing, takes its exclusive lock, finds its journal, clears what a
 * crashed journal writer left and rolls back any interrupted edit before calling `fn`.
 */
async function withModel<T>(path: string, fn: (m: LockedModel, rolledBack: number) => Promise<T>): Promise<T> {
  const real = await regularFile(path, "model");
  const fh = await openForWrite(real);
  try {
    lockOpenFile(fh.fd, real, true);
    // found under the lock, which is the file's whatever its name: no editor of it moves its journal meanwhile
    const m: LockedModel = { fh, real, journal: await findJournal(real), identity: await identityOf(fh) };
    await rm(journalTmpPath(m.journal), { force: true });
    return await fn(m, await recoverLocked(m));
  } finally {
    await fh.close();
  }
}

/**
 * Whether the model `path` names has an in-place edit or undo that was interrupted, through whatever
 * name it was made (a hard link, the name before a rename: see findJournal).
 */
export async function hasInterruptedEdit(path: string): Promise<boolean> {
  return (await interruptedJournal(await regularFile(path, "model"))) !== null;
}

/** Rolls back an interrupted in-place edit or undo of `path`, if there is one (only then writing). */
export async function recover(path: string): Promise<RecoverResult> {
  if (!(await hasInterruptedEdit(path))) return { file: path, rolledBack: 0 };
  return withModel(path, async (_m, rolledBack) => ({ file: path, rolledBack }));
}

/**
 * Edits `path` in place. The journal entry holding the original bytes is durable before the first
 * byte changes; the edit is verified, then committed. Throws before touching anything on bad input.
 */
export async function editInPlace(path: string, edits: readonly NeuronEdit[], options: EditOptions = {}): Promise<EditResult> {
  return withModel(path, async (m) => {
    const { fh, real } = m;
    const journal = (await readJournal(m.journal)) ?? emptyJournal(real);
    const last = journal.entries.at(-1);
    if (last && !(await matches(fh, real, last, "after"))) {
      throw new DebiasError("E_JOURNAL_STALE",
        `${real} no longer matches its last recorded edit in ${m.journal} (it was changed or replaced since); move the journal away to start a new edit history.`);
    }
    const plan = await planNeuronEdits(await openGguf(real), edits, withRequantizer(options));
    const result = { file: path, edited: plan.edits, description: plan.description, maxRelError: plan.maxRelError, maxAbsError: plan.maxAbsError };
    if (plan.patches.length === 0) return { ...result, bytesWritten: 0, journal: null };
    const st = await fh.stat();
    const entry: JournalEntry = {
      id: randomUUID(),
      state: "pending",
      createdAt: new Date().toISOString(),
      tool: options.tool ?? DEFAULT_TOOL,
      edits: plan.edits,
      description: plan.description,
      fileSize: st.size,
      mtimeMsBefore: st.mtimeMs,
      mtimeMsAfter: null,
      sha256Before: sha256Of(plan.patches.map((p) => p.original)),
      sha256After: sha256Of(plan.patches.map((p) => p.bytes)),
      patches: plan.patches.map((p) => ({ offset: p.offset, before: p.original.toString("base64"), after: p.bytes.toString("base64") })),
    };
    journal.entries.push(entry);
    await writeJournal(m.journal, journal, m.identity);
    killPoint("journal-written");
    let bytesWritten: number;
    try {
      bytesWritten = await writeSide(fh, real, entry, "after", "patches-half");
      killPoint("patches-written");
      entry.state = "committed";
      entry.mtimeMsAfter = (await fh.stat()).mtimeMs;
      await writeJournal(m.journal, journal, m.identity);
    } catch (err) {
      // roll back now; should that fail too, the pending entry makes the next open do it
      await recoverLocked(m).catch(() => undefined);
      throw err;
    }
    killPoint("committed");
    return { ...result, bytesWritten, journal: m.journal };
  });
}

/** Undoes the last entry of `journal`; the result is for `path`, the name the user gave. */
async function undoLocked(m: LockedModel, path: string, journal: Journal): Promise<UndoResult> {
  const { fh, real } = m;
  const entry = journal.entries.at(-1)!;
  if (!(await matches(fh, real, entry, "after"))) {
    throw new DebiasError("E_UNDO_MISMATCH",
      `Cannot undo the last edit of ${path}: the edited bytes were changed since (recorded in ${m.journal}), so restoring them could corrupt the file.`);
  }
  entry.state = "undoing";
  await writeJournal(m.journal, journal, m.identity);
  killPoint("undo-marked");
  const bytesRestored = await writeSide(fh, real, entry, "before", "undo-half");
  journal.entries.pop();
  await writeJournal(m.journal, journal, m.identity);
  return { file: path, restored: true, edits: entry.edits, bytesRestored, rolledBack: 0, remaining: journal.entries.map(historyEntry) };
}

const onlyRolledBack = (path: string, rolledBack: number, journal: Journal | null): UndoResult =>
  ({ file: path, restored: true, edits: [], bytesRestored: 0, rolledBack, remaining: (journal?.entries ?? []).map(historyEntry) });

async function nothingToUndo(fh: FileHandle, path: string, real: string): Promise<never> {
  const stray = await strayJournalFor(fh, real);
  throw new DebiasError("E_UNDO_NOTHING", stray
    ? `${path} has no edit journal of its own (${journalPath(real)}), but ${stray} records the in-place edits it carries (the model was renamed or moved without it); rename that journal to ${basename(journalPath(real))} and run undo again.`
    : `${path} has no recorded in-place edit to undo (its journal would be ${journalPath(real)}; a model moved without its journal cannot be undone).`);
}

/**
 * Another model's journal in the same folder whose last edit this file carries byte for byte: the
 * journal of this very file, left behind under its old name when the model was renamed.
 */
async function strayJournalFor(fh: FileHandle, real: string): Promise<string | null> {
  const dir = dirname(real);
  const own = basename(journalPath(real));
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".debias-journal") && n !== own);
  for (const name of names) {
    const journal = await readJournal(join(dir, name)).catch(() => null);
    const last = journal?.entries.at(-1);
    if (last && (await matches(fh, real, last, "after").catch(() => false))) return join(dir, name);
  }
  return null;
}

/** For a model without a journal: a journal in its folder, left under an old name, that records its edits. */
async function strayJournal(real: string): Promise<string | null> {
  const fh = await openForReading(real);
  try {
    return await strayJournalFor(fh, real);
  } finally {
    await fh.close();
  }
}

/**
 * Restores the bytes of the most recent in-place edit of `path`, exactly. An interrupted edit (or undo)
 * is the most recent one: when there was one, rolling it back is the whole undo, and the committed
 * edits before it stay (`remaining` lists them).
 */
export async function undo(path: string): Promise<UndoResult> {
  return withModel(path, async (m, rolledBack) => {
    const journal = await readJournal(m.journal);
    if (rolledBack > 0) return onlyRolledBack(path, rolledBack, journal);
    if (!journal || journal.entries.length === 0) return nothingToUndo(m.fh, path, m.real);
    return undoLocked(m, path, journal);
  });
}

/** Undoes every recorded in-place edit of `path`, newest first, interrupted ones included. */
export async function undoAll(path: string): Promise<UndoResult[]> {
  return withModel(path, async (m, rolledBack) => {
    const journal = await readJournal(m.journal);
    if (!journal || journal.entries.length === 0) return rolledBack > 0 ? [onlyRolledBack(path, rolledBack, journal)] : nothingToUndo(m.fh, path, m.real);
    const out: UndoResult[] = [];
    while (journal.entries.length > 0) {
      const undone = await undoLocked(m, path, journal);
      out.push(out.length === 0 ? { ...undone, rolledBack } : undone);
    }
    return out;
  });
}

function neuronArrays(edits: readonly NeuronEdit[]): GgufKv[] {
  const arr = (key: string, itemType: GgufValueType, items: GgufArray["items"]): GgufKv => ({ key, type: GgufValueType.ARRAY, value: { itemType, items } });
  return [
    arr(KV.layers, GgufValueType.UINT32, Uint32Array.from(edits, (e) => e.layer)),
    arr(KV.indices, GgufValueType.UINT32, Uint32Array.from(edits, (e) => e.index)),
    arr(KV.scales, GgufValueType.FLOAT32, Float32Array.from(edits, (e) => e.scale)),
  ];
}

function readProvenance(file: GgufFile): Provenance | null {
  const tool = file.kv(KV.tool);
  if (!tool) return null;
  const items = (key: string): ArrayLike<number> => {
    const kv = file.kv(key);
    const v = kv?.value as GgufArray | undefined;
    if (kv?.type !== GgufValueType.ARRAY || !v || (v.itemType !== GgufValueType.UINT32 && v.itemType !== GgufValueType.FLOAT32)) {
      throw new DebiasError("E_GGUF_KV_TYPE", `${file.path}: the provenance KV ${key} is missing or not a numeric array.`);
    }
    return v.items as ArrayLike<number>;
  };
  const [layers, indices, scales] = [items(KV.layers), items(KV.indices), items(KV.scales)];
  if (layers.length !== indices.length || layers.length !== scales.length) {
    throw new DebiasError("E_GGUF_KV_TYPE", `${file.path}: the provenance arrays ${KV.layers}, ${KV.indices}, ${KV.scales} differ in length.`);
  }
  return {
    tool: file.kvString(KV.tool)!,
    sourceSha256: file.kvString(KV.source) ?? "",
    edits: Array.from({ length: layers.length }, (_, i) => ({ layer: layers[i]!, index: indices[i]!, scale: scales[i]! })),
  };
}

function historyEntry(e: JournalEntry): EditHistoryEntry {
  return {
    id: e.id,
    state: e.state,
    createdAt: e.createdAt,
    tool: e.tool,
    edits: e.edits,
    description: e.description,
    bytes: e.patches.reduce((n, p) => n + Buffer.byteLength(p.after, "base64"), 0),
  };
}

/** The in-place edit history of `path` and the provenance metadata it carries. */
export async function listEdits(path: string): Promise<EditHistory> {
  const real = await regularFile(path, "model");
  const file = await openGguf(real);
  const journalFile = await findJournal(real);
  const journal = await readJournal(journalFile);
  return {
    file: path,
    entries: (journal?.entries ?? []).map(historyEntry),
    provenance: readProvenance(file),
    journal: journalFile,
    journalUnderOtherName: journalFile !== journalPath(real),
    strayJournal: journal ? null : await strayJournal(real),
  };
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (err) {
    throw ioError(path, "Reading", err);
  }
  return h.digest("hex");
}

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
