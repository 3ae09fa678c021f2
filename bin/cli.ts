// What every command shares: --json output on stdout, progress on stderr, and one sentence plus a
// non-zero exit code for any failure a user can cause.
import { isDebiasError } from "../lib/errors.js";
import { stopProgress } from "./progress.js";
import { checkLimits, checkTypedValues, UsageError } from "./usage.js";

export { progress } from "./progress.js";

export interface CommonArgs {
  json: boolean;
  quiet: boolean;
}

export { UsageError } from "./usage.js";

export function printResult(args: CommonArgs, value: unknown, human: () => string): void {
  stopProgress();
  process.stdout.write(args.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/**
 * Reports a failure a user caused: one sentence on stderr, and with --json also `{error: {code, message}}`
 * on stdout, so a tool reading stdout always gets JSON.
 */
export function reportError(json: boolean, code: string, message: string, exitCode: number): void {
  stopProgress();
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } }, null, 2)}\n`);
  process.stderr.write(`gguf-debias: ${message}${code.startsWith("E_") ? ` [${code}]` : ""}\n`);
  process.exitCode = exitCode;
}

/** Runs a command body; a DebiasError becomes one sentence and exit code 1, a UsageError exit code 2. */
export async function handle(args: CommonArgs, body: () => Promise<void>): Promise<void> {
  try {
    checkTypedValues(args as unknown as Record<string, unknown>);
    checkLimits(args as unknown as Record<string, unknown>);
    await body();
  } catch (err) {
    if (isDebiasError(err)) return reportError(args.json, err.code, err.message, 1);
    if (err instanceof UsageError) return reportError(args.json, "E_USAGE", err.message, 2);
    throw err;
  }
}

export { fixed, table } from "../lib/verify/report.js";
