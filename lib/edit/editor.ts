// Applies neuron-edit plans to a GGUF file in place: journaled, undoable and crash-safe (see journal.ts);
// its history of edits. An edited copy in a new file is new-file.ts.
import { randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { access, open, readdir, rm, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { DebiasError } from "../errors.js";
import { cannotOpen, ioError, regularFile } from "../files.js";
import { lockOpenFile } from "../gguf/file-lock.js";
import { findJournal, journalPath, journalTmpPath } from "./journal-path.js";
import {
  emptyJournal,
  identityOf,
  interruptedJournal,
  killPoint,
  readJournal,
  sha256Of,
  writeJournal,
  type EntryState,
  type FileIdentity,
  type Journal,
  type JournalEntry,
} from "./journal.js";
import { planNeuronEdits, type NeuronEdit } from "./neuron-edit.js";
import { openForReading, openGguf, readAt } from "../gguf/reader.js";
import { DEFAULT_TOOL, readProvenance, type Provenance } from "./provenance.js";
import { withRequantizer, type EditOptions } from "./edit-options.js";

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

