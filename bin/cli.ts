// What every command shares: --json output on stdout, progress on stderr, and one sentence plus a
// non-zero exit code for any failure a user can cause.
import { isDebiasError } from "../lib/errors.js";

export interface CommonArgs {
  json: boolean;
  quiet: boolean;
}

/** A wrong combination of arguments: reported like yargs' own usage errors (exit code 2). */
export class UsageError extends Error {}

export function printResult(args: CommonArgs, value: unknown, human: () => string): void {
  process.stdout.write(args.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/** Progress goes to stderr (never stdout, which --json keeps for the result), on a TTY as one line. */
export function progress(args: CommonArgs): (stage: string, done: number, total: number) => void {
  let last = "";
  return (stage, done, total) => {
    if (args.quiet) return;
    const line = total > 1 ? `${stage} ${done}/${total}` : stage;
    if (line === last) return;
    last = line;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}${done === total && total > 1 ? "\n" : ""}`);
    else process.stderr.write(`${line}\n`);
  };
}

/** Runs a command body; a DebiasError becomes "gguf-debias: <sentence>" and exit code 1. */
export async function handle(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (isDebiasError(err)) {
      process.stderr.write(`gguf-debias: ${err.message} [${err.code}]\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

export { fixed, table } from "../lib/verify/report.js";
