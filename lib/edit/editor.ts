// Applies neuron-edit plans to GGUF files: in place (journaled, undoable, crash-safe; see journal.ts)
// or into a new file carrying its provenance as `debias.*` metadata.
import { createHash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, realpath, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { DebiasError } from "../errors.js";
import { GgufValueType, type GgufArray, type GgufKv } from "./format.js";
import {
  emptyJournal,
  journalPath,
  killPoint,
  readJournal,
  sha256Of,
  syncDir,
  withLock,
  writeJournal,
  type EntryState,
  type Journal,
  type JournalEntry,
} from "./journal.js";
import { planNeuronEdits, type NeuronEdit, type PlanOptions, type Requantizer } from "./neuron-edit.js";
import { openForReading, openGguf, readAt, type GgufFile } from "./reader.js";
import { encodeKv, reheader } from "./writer.js";

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

async function openForWrite(path: string): Promise<FileHandle> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    throw new DebiasError("E_GGUF_OPEN", `Cannot open GGUF file ${path}: ${(err as Error).message}.`, { cause: err });
  }
  const readOnly = (): DebiasError =>
    new DebiasError("E_GGUF_READONLY", `${path} is read-only; make it writable to edit it in place, or write an edited copy instead.`);
  // honour the mode bits even where the process could write anyway (root), since they state intent
  if ((mode & 0o222) === 0) throw readOnly();
  try {
    return await open(path, "r+");
  } catch (err) {
    if (["EACCES", "EPERM", "EROFS"].includes((err as NodeJS.ErrnoException).code ?? "")) throw readOnly();
    throw new DebiasError("E_GGUF_OPEN", `Cannot open GGUF file ${path} for writing: ${(err as Error).message}.`, { cause: err });
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

/** Rolls back every interrupted entry of an already locked and opened model. */
async function recoverLocked(fh: FileHandle, path: string): Promise<number> {
  const journal = await readJournal(path);
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
        `${path} does not match the interrupted edit recorded in ${journalPath(path)}; it was changed since, so it is left as is (move the journal away if the file is known to be good).`);
    }
    await writeSide(fh, path, entry, "before", "recover-half");
    journal.entries.pop();
    await writeJournal(path, journal);
    rolledBack++;
  }
  return rolledBack;
}

/** Opens `path` for writing, takes its lock and rolls back any interrupted edit before calling `fn`. */
async function withModel<T>(path: string, fn: (fh: FileHandle, rolledBack: number) => Promise<T>): Promise<T> {
  const fh = await openForWrite(path);
  try {
    return await withLock(path, async () => fn(fh, await recoverLocked(fh, path)));
  } finally {
    await fh.close();
  }
}

const hasInterruptedEntry = (journal: Journal | null): boolean => journal?.entries.some((e) => e.state !== "committed") ?? false;

/** Rolls back an interrupted in-place edit or undo of `path`, if there is one (only then writing). */
export async function recover(path: string): Promise<RecoverResult> {
  if (!hasInterruptedEntry(await readJournal(path))) return { file: path, rolledBack: 0 };
  return withModel(path, async (_fh, rolledBack) => ({ file: path, rolledBack }));
}

/**
 * Edits `path` in place. The journal entry holding the original bytes is durable before the first
 * byte changes; the edit is verified, then committed. Throws before touching anything on bad input.
 */
export async function editInPlace(path: string, edits: readonly NeuronEdit[], options: EditOptions = {}): Promise<EditResult> {
  return withModel(path, async (fh) => {
    const journal = (await readJournal(path)) ?? emptyJournal(path);
    const last = journal.entries.at(-1);
    if (last && !(await matches(fh, path, last, "after"))) {
      throw new DebiasError("E_JOURNAL_STALE",
        `${path} no longer matches its last recorded edit in ${journalPath(path)} (it was changed or replaced since); move the journal away to start a new edit history.`);
    }
    const plan = await planNeuronEdits(await openGguf(path), edits, withRequantizer(options));
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
    await writeJournal(path, journal);
    killPoint("journal-written");
    let bytesWritten: number;
    try {
      bytesWritten = await writeSide(fh, path, entry, "after", "patches-half");
      killPoint("patches-written");
      entry.state = "committed";
      entry.mtimeMsAfter = (await fh.stat()).mtimeMs;
      await writeJournal(path, journal);
    } catch (err) {
      // roll back now; should that fail too, the pending entry makes the next open do it
      await recoverLocked(fh, path).catch(() => undefined);
      throw err;
    }
    killPoint("committed");
    return { ...result, bytesWritten, journal: journalPath(path) };
  });
}

async function undoLocked(fh: FileHandle, path: string, journal: Journal): Promise<UndoResult> {
  const entry = journal.entries.at(-1)!;
  if (!(await matches(fh, path, entry, "after"))) {
    throw new DebiasError("E_UNDO_MISMATCH",
      `Cannot undo the last edit of ${path}: the edited bytes were changed since (recorded in ${journalPath(path)}), so restoring them could corrupt the file.`);
  }
  entry.state = "undoing";
  await writeJournal(path, journal);
  killPoint("undo-marked");
  const bytesRestored = await writeSide(fh, path, entry, "before", "undo-half");
  journal.entries.pop();
  await writeJournal(path, journal);
  return { file: path, restored: true, edits: entry.edits, bytesRestored };
}

function nothingToUndo(path: string): never {
  throw new DebiasError("E_UNDO_NOTHING", `${path} has no recorded in-place edit to undo.`);
}

/** Restores the bytes of the most recent in-place edit of `path`, exactly. */
export async function undo(path: string): Promise<UndoResult> {
  return withModel(path, async (fh) => {
    const journal = await readJournal(path);
    if (!journal || journal.entries.length === 0) nothingToUndo(path);
    return undoLocked(fh, path, journal);
  });
}

/** Undoes every recorded in-place edit of `path`, newest first. */
export async function undoAll(path: string): Promise<UndoResult[]> {
  return withModel(path, async (fh) => {
    const journal = await readJournal(path);
    if (!journal || journal.entries.length === 0) nothingToUndo(path);
    const out: UndoResult[] = [];
    while (journal.entries.length > 0) out.push(await undoLocked(fh, path, journal));
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

/** The in-place edit history of `path` and the provenance metadata it carries. */
export async function listEdits(path: string): Promise<EditHistory> {
  const file = await openGguf(path);
  const journal = await readJournal(path);
  const entries = (journal?.entries ?? []).map((e) => ({
    id: e.id,
    state: e.state,
    createdAt: e.createdAt,
    tool: e.tool,
    edits: e.edits,
    description: e.description,
    bytes: e.patches.reduce((n, p) => n + Buffer.byteLength(p.after, "base64"), 0),
  }));
  return { file: path, entries, provenance: readProvenance(file) };
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

export interface NewFileOptions extends EditOptions {
  /** Replace `dst` if it exists (atomically). */
  readonly overwrite?: boolean;
}

export interface NewFileResult {
  readonly file: string;
  readonly edited: readonly NeuronEdit[];
  readonly bytesWritten: number;
  readonly sourceSha256: string;
  readonly description: readonly string[];
  readonly maxRelError: number;
  readonly maxAbsError: number;
}

/**
 * Writes an edited copy of `src` to `dst` (streamed; `src` is never modified) with the edits recorded
 * as `debias.*` metadata. `dst` appears atomically, complete or not at all.
 */
/**
 * Whether `dst` can receive an edited copy of `src`: not the input itself, not an existing file unless
 * `overwrite`, and in a folder that exists. Cheap, so callers check before minutes of work.
 */
export async function checkNewFileTarget(src: string, dst: string, overwrite = false): Promise<void> {
  const srcReal = await realpath(src).catch((err: unknown) => {
    throw new DebiasError("E_GGUF_OPEN", `Cannot open GGUF file ${src}: ${(err as Error).message}.`, { cause: err });
  });
  const dstExists = await stat(dst).then(() => true, () => false);
  if (dstExists && (await realpath(dst)) === srcReal) {
    throw new DebiasError("E_EDIT_SAME_FILE", `The output ${dst} is the input model itself; edit it in place instead.`);
  }
  if (dstExists && !overwrite) throw new DebiasError("E_DST_EXISTS", `The output ${dst} already exists; choose another name or allow overwriting (--overwrite on the command line).`);
  const folder = dirname(resolve(dst));
  const isFolder = await stat(folder).then((s) => s.isDirectory(), () => false);
  if (!isFolder) throw new DebiasError("E_DST_DIR", `The folder of the output ${dst} (${folder}) does not exist.`);
}

export async function editToNewFile(src: string, dst: string, edits: readonly NeuronEdit[], options: NewFileOptions = {}): Promise<NewFileResult> {
  await checkNewFileTarget(src, dst, options.overwrite ?? false);
  if (hasInterruptedEntry(await readJournal(src))) {
    throw new DebiasError("E_JOURNAL_PENDING", `${src} has an interrupted in-place edit (${journalPath(src)}); recover it before copying.`);
  }

  const file = await openGguf(src);
  const plan = await planNeuronEdits(file, edits, withRequantizer(options));
  const prior = readProvenance(file)?.edits ?? [];
  const placeholder: GgufKv = { key: KV.source, type: GgufValueType.STRING, value: "0".repeat(64) };
  const provenanceKvs: GgufKv[] = [
    { key: KV.tool, type: GgufValueType.STRING, value: options.tool ?? DEFAULT_TOOL },
    ...neuronArrays([...prior, ...plan.edits]),
    placeholder,
  ];

  const tmp = `${resolve(dst)}.debias-tmp`;
  const hash = createHash("sha256");
  const input = await openForReading(src);
  let output: FileHandle | undefined;
  let bytesWritten = 0;
  try {
    const original = await readAt(input, src, 0, file.dataOffset);
    hash.update(original);
    const header = reheader(file, original, provenanceKvs);
    // the source hash is only known once the copy is done; it overwrites this fixed-length placeholder
    const placeholderKv = encodeKv(placeholder);
    const placeholderAt = header.indexOf(placeholderKv) + placeholderKv.length - 64;
    output = await open(tmp, "w");
    await output.write(header, 0, header.length, 0);
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
      await output.write(chunk, 0, chunk.length, pos + shift);
      bytesWritten += chunk.length;
      if (end >= (file.dataOffset + file.fileSize) / 2) killPoint("copy-half");
    }
    const sourceSha256 = hash.digest("hex");
    await output.write(Buffer.from(sourceSha256), 0, 64, placeholderAt);
    await output.sync();
    await output.close();
    output = undefined;
    await rename(tmp, dst);
    await syncDir(dirname(resolve(dst)));
    const written = await openGguf(dst);
    if (written.tensors.length !== file.tensors.length || written.dataOffset !== header.length) {
      throw new DebiasError("E_EDIT_VERIFY", `The edited copy ${dst} does not parse back to the same tensors as ${src}.`);
    }
    return {
      file: dst,
      edited: plan.edits,
      bytesWritten: bytesWritten + header.length,
      sourceSha256,
      description: plan.description,
      maxRelError: plan.maxRelError,
      maxAbsError: plan.maxAbsError,
    };
  } catch (err) {
    await output?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    if (err instanceof DebiasError) throw err;
    throw ioError(dst, "Writing", err);
  } finally {
    await input.close();
  }
}
