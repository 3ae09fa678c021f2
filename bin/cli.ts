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

/**
 * Reports a failure a user caused: one sentence on stderr, and with --json also `{error: {code, message}}`
 * on stdout, so a tool reading stdout always gets JSON.
 */
export function reportError(json: boolean, code: string, message: string, exitCode: number): void {
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } }, null, 2)}\n`);
  process.stderr.write(`gguf-debias: ${message}${code.startsWith("E_") ? ` [${code}]` : ""}\n`);
  process.exitCode = exitCode;
}

/** Runs a command body; a DebiasError becomes one sentence and exit code 1, a UsageError exit code 2. */
export async function handle(args: CommonArgs, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (isDebiasError(err)) return reportError(args.json, err.code, err.message, 1);
    if (err instanceof UsageError) return reportError(args.json, "E_USAGE", err.message, 2);
    throw err;
  }
}

export { fixed, table } from "../lib/verify/report.js";
