// The checks every command makes before opening a path the user named, so each mistake has one code
// and one sentence wherever it is made, and nothing ever blocks on opening a FIFO or a device.
import { realpath, stat } from "node:fs/promises";
import { DebiasError } from "./errors.js";

/** `path` resolved through symlinks, after checking it names an existing regular file. */
export async function regularFile(path: string, what = "file"): Promise<string> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new DebiasError("E_FILE_NOT_FOUND", `The ${what} ${path} does not exist.`, { cause: err });
    throw new DebiasError("E_FILE_OPEN", `Cannot open the ${what} ${path}: ${(err as Error).message}.`, { cause: err });
  }
  const st = await stat(real);
  if (!st.isFile()) {
    const kind = st.isDirectory() ? "a folder" : st.isFIFO() ? "a pipe" : st.isSocket() ? "a socket" : "a device";
    throw new DebiasError("E_NOT_A_FILE", `The ${what} ${path} is ${kind}, not a regular file.`);
  }
  return real;
}
