// The checks every command makes before opening a path the user named, so each mistake has one code
// and one sentence wherever it is made, and nothing ever blocks on opening a FIFO or a device.
import { createHash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { access, open, realpath, stat, writeFile, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { DebiasError } from "./errors.js";
import { findJournal, journalPath } from "./edit/journal-path.js";

/** The one sentence for a file that exists but cannot be opened (permissions, too many open files …). */
export function cannotOpen(what: string, path: string, err: unknown): DebiasError {
  return new DebiasError("E_FILE_OPEN", `Cannot open the ${what} ${path}: ${(err as Error).message}.`, { cause: err });
}

/** `path` resolved through symlinks, after checking it names an existing regular file. */
export async function regularFile(path: string, what = "file"): Promise<string> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new DebiasError("E_FILE_NOT_FOUND", `The ${what} ${path} does not exist.`, { cause: err });
    throw cannotOpen(what, path, err);
  }
  const st = await stat(real);
  if (!st.isFile()) {
    const kind = st.isDirectory() ? "a folder" : st.isFIFO() ? "a pipe" : st.isSocket() ? "a socket" : "a device";
    throw new DebiasError("E_NOT_A_FILE", `The ${what} ${path} is ${kind}, not a regular file.`);
  }
  return real;
}

const MiB = 2 ** 20;
const size = (bytes: number): string => (bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${bytes} bytes`);

/**
 * The bytes of a file the user named (a dataset, a neutral text, a run result), read whole. Refused
 * before it is opened unless it is a regular file, opened without blocking and checked again on the
 * descriptor (a path swapped for a FIFO meanwhile never blocks), and refused with E_FILE_TOO_LARGE
 * past `limit` bytes, which the caller sets to what it can hold in memory, before more than that is read.
 */
export async function readUserFile(path: string, what: string, limit: number): Promise<Buffer> {
  const real = await regularFile(path, what);
  let fh: FileHandle;
  try {
    fh = await open(real, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw cannotOpen(what, path, err);
  }
  const tooLarge = (bytes: string) => new DebiasError("E_FILE_TOO_LARGE", `The ${what} ${path} is ${bytes}, more than the ${size(limit)} it may be.`);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new DebiasError("E_NOT_A_FILE", `The ${what} ${path} is not a regular file.`);
    if (st.size > limit) throw tooLarge(size(st.size));
    // read to the end rather than to the size seen: a file still growing is caught too
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(MiB, limit + 1 - length));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > limit) throw tooLarge(`over ${size(limit)}`);
    }
    return Buffer.concat(chunks, length);
  } catch (err) {
    if (err instanceof DebiasError) throw err;
    throw new DebiasError("E_IO", `Reading the ${what} ${path} failed: ${(err as Error).message}.`, { cause: err });
  } finally {
    await fh.close();
  }
}

/** A path a command will write, named as the user knows it. */
export interface Destination {
  path: string;
  what: string;
  /** The user allowed replacing an existing file. */
  overwrite: boolean;
}

/** A file the command reads (it need not exist yet to be protected by path). */
export interface Source {
  path: string;
  what: string;
}

const identity = (st: { dev: number | bigint; ino: number | bigint }) => `${st.dev}:${st.ino}`;

/**
 * Checks every path a command will write before any work starts: none may be a file it reads (a link or
 * a hard link to one included: files are compared by device and inode), the journal of a model it reads,
 * or another of its outputs; an existing one must be a regular file the user allowed replacing; its
 * folder must exist and be writable. One sentence names the first problem.
 */
export async function checkDestinations(sources: readonly Source[], destinations: readonly Destination[]): Promise<void> {
  const protectedIds = new Map<string, Source>();
  const protectedPaths = new Map<string, Source>();
  for (const source of sources) {
    const st = await stat(source.path).catch(() => null);
    if (st) protectedIds.set(identity(st), source);
    const real = await realpath(source.path).catch(() => resolve(source.path));
    protectedPaths.set(real, source);
    if (source.what === "model") {
      const journal = { path: `${source.path}.debias-journal`, what: "edit journal of the model" };
      protectedPaths.set(journalPath(real), journal);
      // the journal a hard link or an earlier name left, which this model's undo uses
      if (st) {
        const found = await findJournal(real);
        protectedPaths.set(found, { ...journal, path: found });
      }
    }
  }
  const seen = new Map<string, Destination>();
  for (const dst of destinations) {
    const folder = dirname(resolve(dst.path));
    const folderReal = await realpath(folder).catch(() => null);
    if (folderReal === null || !(await stat(folderReal)).isDirectory()) throw new DebiasError("E_DST_DIR", `The folder of the ${dst.what} ${dst.path} (${folder}) does not exist.`);
    const st = await stat(dst.path).catch(() => null);
    const real = st ? await realpath(dst.path) : join(folderReal, basename(dst.path));
    const source = (st && protectedIds.get(identity(st))) ?? protectedPaths.get(real);
    if (source) throw new DebiasError("E_EDIT_SAME_FILE", `The ${dst.what} ${dst.path} is the ${source.what} ${source.path}${source.path === dst.path ? "" : " (the same file)"}; write it elsewhere.`);
    const key = st ? identity(st) : real;
    const twin = seen.get(key);
    if (twin) throw new DebiasError("E_EDIT_SAME_FILE", `The ${dst.what} ${dst.path} and the ${twin.what} ${twin.path} are the same file; give them different names.`);
    seen.set(key, dst);
    if (st) {
      if (!st.isFile()) throw new DebiasError("E_NOT_A_FILE", `The ${dst.what} ${dst.path} exists and is not a regular file.`);
      if (!dst.overwrite) throw new DebiasError("E_DST_EXISTS", `The ${dst.what} ${dst.path} already exists; choose another name or allow overwriting (--overwrite).`);
    }
    await access(folderReal, constants.W_OK).catch((err: unknown) => {
      throw new DebiasError("E_DST_DIR", `The folder of the ${dst.what} ${dst.path} (${folder}) is not writable.`, { cause: err });
    });
  }
}

/**
 * Writes a text file the user asked for (a report, a model card): never over an existing file unless
 * `overwrite`, and each failure one sentence naming `what` and the path.
 */
export async function writeUserFile(path: string, text: string, what: string, overwrite = false): Promise<void> {
  try {
    await writeFile(path, text, { flag: overwrite ? "w" : "wx" });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new DebiasError("E_DST_EXISTS", `The ${what} ${path} already exists; choose another name or allow overwriting (--overwrite).`);
    if (code === "ENOENT") throw new DebiasError("E_DST_DIR", `The folder of the ${what} ${path} does not exist.`);
    throw new DebiasError("E_IO", `Writing the ${what} ${path} failed: ${(err as Error).message}.`, { cause: err });
  }
}

/** The one sentence for reading or writing a file that failed midway. */
export function ioError(path: string, action: string, err: unknown): DebiasError {
  return new DebiasError("E_IO", `${action} ${path} failed: ${(err as Error).message}.`, { cause: err });
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (err) {
    throw ioError(path, "Reading", err);
  }
  return h.digest("hex");
}
