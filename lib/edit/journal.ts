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
// so a state change is itself all-or-nothing. It is read and written only under the model's exclusive
// lock (file-lock.ts), and verified completely (every patch against its checksums) before any byte
// of the model is written from it. It sits next to the model's real path, so every symlink to the
// model shares it, and records the model's device and inode, so a hard link or the file renamed
// without it still finds it in the same folder (findJournal).
import { createHash } from "node:crypto";
import { open, readFile, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { DebiasError } from "../errors.js";
import { findJournal, journalTmpPath } from "./journal-path.js";
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

/** A file's device and inode, in decimal: inode numbers can pass 2^53. */
export interface FileIdentity {
  readonly dev: string;
  readonly ino: string;
}

export interface Journal {
  readonly format: "gguf-debias-journal";
  readonly version: 1;
  readonly model: string;
  /** The model file when the journal was last written; absent in journals of versions before it was recorded. */
  readonly identity?: FileIdentity;
  readonly entries: JournalEntry[];
}

export async function identityOf(fh: FileHandle): Promise<FileIdentity> {
  const st = await fh.stat({ bigint: true });
  return { dev: String(st.dev), ino: String(st.ino) };
}

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
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Why entry `e` cannot be trusted, or null: shape, strict base64, bounds, and both checksums. */
function entryFault(e: JournalEntry): string | null {
  const shaped =
    typeof e === "object" && e !== null &&
    typeof e.id === "string" &&
    ["pending", "committed", "undoing"].includes(e.state) &&
    isCount(e.fileSize) &&
    typeof e.sha256Before === "string" &&
    typeof e.sha256After === "string" &&
    Array.isArray(e.edits) &&
    Array.isArray(e.patches) &&
    e.patches.every((p) => typeof p === "object" && p !== null && isCount(p.offset) && typeof p.before === "string" && typeof p.after === "string");
  if (!shaped) return "it is malformed";
  for (const [k, p] of e.patches.entries()) {
    if (!BASE64.test(p.before) || !BASE64.test(p.after)) return `patch ${k} is not valid base64`;
    const length = Buffer.byteLength(p.before, "base64");
    if (Buffer.byteLength(p.after, "base64") !== length) return `patch ${k} has before and after bytes of different lengths`;
    if (p.offset + length > e.fileSize) return `patch ${k} ends at byte ${p.offset + length}, past the end of the ${e.fileSize}-byte model`;
  }
  const side = (key: "before" | "after"): string => sha256Of(e.patches.map((p) => Buffer.from(p[key], "base64")));
  if (side("before") !== e.sha256Before) return "its original bytes do not match their checksum";
  if (side("after") !== e.sha256After) return "its edited bytes do not match their checksum";
  return null;
}

/** The journal in file `path`, or null when there is none. */
export async function readJournal(path: string): Promise<Journal | null> {
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
  if (j.identity !== undefined && (typeof j.identity?.dev !== "string" || typeof j.identity.ino !== "string")) corrupt(path, "its file identity is malformed");
  j.entries.forEach((e, i) => {
    const fault = entryFault(e);
    if (fault) corrupt(path, `entry ${i}: ${fault}`);
  });
  return j;
}

const hasInterruptedEntry = (journal: Journal | null): boolean => journal?.entries.some((e) => e.state !== "committed") ?? false;

/** The journal of the model `real` if an in-place edit or undo of it was interrupted (by a crash, a kill), else null. */
export async function interruptedJournal(real: string): Promise<string | null> {
  const journal = await findJournal(real);
  return hasInterruptedEntry(await readJournal(journal)) ? journal : null;
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

/**
 * Replaces the journal in file `path` atomically and durably, stamped with the identity of the model
 * it records (which a copied model and journal do not share until the copy's first write); an empty
 * journal is removed.
 */
export async function writeJournal(path: string, journal: Journal, identity: FileIdentity): Promise<void> {
  try {
    if (journal.entries.length === 0) {
      await rm(path, { force: true });
    } else {
      const tmp = journalTmpPath(path);
      const fh = await open(tmp, "w");
      try {
        await fh.writeFile(JSON.stringify({ ...journal, identity }));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    }
    await syncDir(dirname(path));
  } catch (err) {
    await rm(journalTmpPath(path), { force: true }).catch(() => undefined);
    throw new DebiasError("E_JOURNAL_WRITE", `Cannot write the edit journal ${path}: ${(err as Error).message}.`, { cause: err });
  }
}
