// The CLI as a user runs it: the built bin in a child process, its exit code, stdout and stderr.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { packageRoot } from "../../lib/package-root.js";

export const CLI = join(packageRoot(), "dist", "bin", "gguf-debias.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `gguf-debias ...args` in `cwd`; a non-zero exit is a result, not a throw. */
export async function ggufIn(cwd: string, ...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as CliResult;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export const gguf = (...args: string[]): Promise<CliResult> => ggufIn(process.cwd(), ...args);
