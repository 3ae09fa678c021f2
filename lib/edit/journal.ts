// The edit journal and the lock that serialises editors of one model file.
//
// `<model>.debias-journal` is JSON holding a stack of entries, oldest first. Each entry records the
// patches of one edit (offset, bytes before, bytes after) and a state:
//   pending   written and fsynced before the first model byte changes; the edit may be half applied
//   committed every patch written, fsynced and verified; undo pops these in reverse order
//   undoing   an undo was started; the model may be half restored
// Recovery treats pending and undoing alike: it writes the "before" bytes back, which finishes an
// undo or cancels an edit, so a kill at any point leaves the model either as before or fully edited.
// The journal is replaced atomically (write a temporary file, fsync, rename, fsync the directory),
// so a state change is itself all-or-nothing.
import { createHash } from "node:crypto";
import { open, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { DebiasError } from "../errors.js";
import type { NeuronEdit } from "./neuron-edit.js";

export type EntryState = "pending" | "committed" | "undoing";

export interface JournalPatch {
  readonly offset: number;
  /** base64 */
  readonly before: string;
  /** base64 */
  readonly after: string;
}

export interface JournalEntry {
  readonly id: string;
  state: EntryState;
  readonly createdAt: string;
  readonly tool: string;
  readonly edits: readonly NeuronEdit[];
  readonly description: readonly string[];
  readonly fileSize: number;
  readonly mtimeMsBefore: number;
  mtimeMsAfter: number | null;
  /** sha256 of the touched ranges concatenated in patch order, before and after the edit. */
  readonly sha256Before: string;
  readonly sha256After: string;
  readonly patches: readonly JournalPatch[];
}

export interface Journal {
  readonly format: "gguf-debias-journal";
  readonly version: 1;
  readonly model: string;
  readonly entries: JournalEntry[];
}

export const journalPath = (model: string): string => `${model}.debias-journal`;
export const lockPath = (model: string): string => `${model}.debias.lock`;

/** Test hook: GGUF_DEBIAS_KILL_AT=<point> makes the process SIGKILL itself there, as a crash would. */
export function killPoint(name: string): void {
  if (process.env.GGUF_DEBIAS_KILL_AT === name) process.kill(process.pid, "SIGKILL");
}

export function sha256Of(buffers: readonly Buffer[]): string {
  const h = createHash("sha256");
  for (const b of buffers) h.update(b);
  return h.digest("hex");
}

export function emptyJournal(model: string): Journal {
  return { format: "gguf-debias-journal", version: 1, model: basename(model), entries: [] };
}

function corrupt(path: string, why: string): never {
  throw new DebiasError("E_JOURNAL_CORRUPT", `The edit journal ${path} is unreadable (${why}); move it away only if the model is known to be intact.`);
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function checkEntry(path: string, e: JournalEntry, i: number): void {
  const ok =
    typeof e === "object" && e !== null &&
    typeof e.id === "string" &&
    ["pending", "committed", "undoing"].includes(e.state) &&
    isCount(e.fileSize) &&
    typeof e.sha256Before === "string" &&
    typeof e.sha256After === "string" &&
    Array.isArray(e.edits) &&
    Array.isArray(e.patches) &&
    e.patches.every((p) =>
      isCount(p?.offset) && typeof p.before === "string" && typeof p.after === "string" &&
      Buffer.byteLength(p.before, "base64") === Buffer.byteLength(p.after, "base64"));
  if (!ok) corrupt(path, `entry ${i} is malformed`);
}

/** The journal of `model`, or null when it has none. */
export async function readJournal(model: string): Promise<Journal | null> {
  const path = journalPath(model);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new DebiasError("E_JOURNAL_READ", `Cannot read the edit journal ${path}: ${(err as Error).message}.`, { cause: err });
  }
  let j: Journal;
  try {
    j = JSON.parse(text) as Journal;
  } catch {
    corrupt(path, "not JSON");
  }
  if (j?.format !== "gguf-debias-journal" || j.version !== 1 || !Array.isArray(j.entries)) corrupt(path, "not a gguf-debias journal");
  j.entries.forEach((e, i) => checkEntry(path, e, i));
  return j;
}

export async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch (err) {
    // some platforms (Windows) cannot open or fsync a directory; the rename is then as durable as it gets
    if (!["EISDIR", "EPERM", "EINVAL", "EACCES"].includes((err as NodeJS.ErrnoException).code ?? "")) throw err;
  } finally {
    await fh?.close();
  }
}

/** Replaces the journal atomically and durably; an empty journal is removed. */
export async function writeJournal(model: string, journal: Journal): Promise<void> {
  const path = journalPath(model);
  try {
    if (journal.entries.length === 0) {
      await rm(path, { force: true });
    } else {
      const tmp = `${path}.tmp`;
      const fh = await open(tmp, "w");
      try {
        await fh.writeFile(JSON.stringify(journal));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    }
    await syncDir(dirname(path));
  } catch (err) {
    throw new DebiasError("E_JOURNAL_WRITE", `Cannot write the edit journal ${path}: ${(err as Error).message}.`, { cause: err });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

// A lock file that names no pid was caught between create and write; after this long it is abandoned.
const UNNAMED_LOCK_STALE_MS = 10_000;

async function lockIsStale(lock: string): Promise<{ stale: boolean; holder: string }> {
  try {
    const text = (await readFile(lock, "utf8")).trim();
    const pid = /^\d+$/.test(text) ? Number(text) : null;
    if (pid !== null) return { stale: !processAlive(pid), holder: `process ${pid}` };
    const age = Date.now() - (await stat(lock)).mtimeMs;
    return { stale: age > UNNAMED_LOCK_STALE_MS, holder: "another process" };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { stale: true, holder: "nobody" };
    throw err;
  }
}

/**
 * Runs `fn` holding `<model>.debias.lock` (created with O_EXCL, holding our pid). A lock whose process
 * is gone is taken over. Two processes taking over the same stale lock at the same instant could
 * both succeed; editors of one model are expected to be started by one user, so that is accepted.
 */
export async function withLock<T>(model: string, fn: () => Promise<T>): Promise<T> {
  const lock = lockPath(model);
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(lock, "wx");
      try {
        await fh.writeFile(`${process.pid}\n`);
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new DebiasError("E_LOCK_FAILED", `Cannot create the lock file ${lock}: ${(err as Error).message}.`, { cause: err });
      }
      const { stale, holder } = await lockIsStale(lock);
      if (!stale || attempt > 0) {
        throw new DebiasError("E_LOCKED", `${model} is being edited by ${holder} (lock file ${lock}); wait for it, or delete the lock if no editor is running.`);
      }
      await rm(lock, { force: true });
    }
  }
  try {
    return await fn();
  } finally {
    // a lock left behind names this pid and is taken over once this process has exited
    await unlink(lock).catch(() => undefined);
  }
}
