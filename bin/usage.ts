// Every usage mistake reads the same whoever finds it — yargs' parser, a command's checks or a value
// that is not a number: one sentence naming what was typed and what is allowed, with where the help
// is. yargs' own messages (multi-line blocks, camelCase twins of option names, "NaN") are rewritten
// here and nowhere else.
import { count } from "../lib/text.js";
import { allowed, firstOutOfLimits } from "../lib/option-limits.js";

/** A wrong combination of arguments: reported like yargs' own usage errors (exit code 2). */
export class UsageError extends Error {}

const typed = (): string[] => process.argv.slice(2);

/** The command being run (the first word that is not an option), for "see gguf-debias X --help". */
function commandName(argv: readonly string[]): string | undefined {
  return argv.find((a) => !a.startsWith("-"));
}

const helpHint = (argv: readonly string[]): string => {
  const command = commandName(argv);
  return `see gguf-debias${command ? ` ${command}` : ""} --help`;
};

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const flag = (name: string): string => (name.length === 1 ? `-${name}` : `--${kebab(name)}`);

/** What the user typed after an option (yargs turns "abc" into NaN and a missing value into undefined). */
function typedValue(name: string, argv: readonly string[] = typed()): string | undefined {
  const spellings = [flag(name), ...(name.length === 1 ? [] : [`--${name}`])];
  for (let i = 0; i < argv.length; i++) {
    for (const s of spellings) {
      if (argv[i] === s) return argv[i + 1];
      if (argv[i]!.startsWith(`${s}=`)) return argv[i]!.slice(s.length + 1);
    }
  }
  return undefined;
}

/** `--name must be <allowed>, not <what was typed>.` — the one wording for a bad value. */
export function badValue(name: string, value: unknown, expected: string): UsageError {
  const shown = typeof value === "number" && !Number.isNaN(value) ? String(value) : JSON.stringify(typedValue(name) ?? String(value));
  return new UsageError(`${flag(name)} must be ${expected}, not ${shown}.`);
}

/** Every numeric flag against the library's limits (lib/option-limits.ts), before any work, named as the flag. */
export function checkLimits(args: Record<string, unknown>): void {
  const bad = firstOutOfLimits(args);
  if (bad) throw badValue(bad.name, bad.value, allowed(bad.name));
}

/**
 * Values yargs let through that are not values: a number option given a word (NaN) and an option
 * typed with nothing after it (a number option is then undefined, a string one empty). Checked for
 * every command before its body runs, so no option needs its own check for either.
 */
export function checkTypedValues(args: Record<string, unknown>, argv: readonly string[] = typed()): void {
  for (const [key, value] of Object.entries(args)) {
    if (typeof value === "number" && Number.isNaN(value) && key === kebab(key)) throw badValue(key, value, "a number");
  }
  for (const token of argv) {
    const match = /^--?([^=-][^=]*)$/.exec(token);
    if (!match || match[1]!.startsWith("no-")) continue;
    const key = match[1]!;
    if (key in args && (args[key] === undefined || args[key] === "")) throw new UsageError(`${flag(key)} needs a value (${helpHint(argv)}).`);
  }
}

/**
 * yargs' message for a usage mistake, as one sentence. `usage` is the command's own synopsis
 * ("edit <model>"), to name the arguments it is missing.
 */
export function usageSentence(message: string, argv: readonly string[] = typed(), usage?: string): string {
  const hint = helpHint(argv);
  const command = commandName(argv);
  const list = (text: string) => text.split(",").map((s) => s.trim()).filter(Boolean);
  let m: RegExpExecArray | null;
  if ((m = /^Unknown arguments?: (.*)$/s.exec(message))) {
    // yargs names an unknown --min-factual twice, as min-factual and minFactual
    const names = list(m[1]!).filter((n, _, all) => n === kebab(n) || !all.includes(kebab(n)));
    const options = names.filter((n) => argv.some((a) => a === flag(n) || a.startsWith(`${flag(n)}=`) || a === `--${n}`));
    const words = names.filter((n) => !options.includes(n));
    const parts = [
      ...(options.length ? [`${command ?? "gguf-debias"} has no option${options.length > 1 ? "s" : ""} ${options.map(flag).join(", ")}`] : []),
      ...(words.length ? [`${command ?? "gguf-debias"} takes no further argument${words.length > 1 ? "s" : ""} ${words.map((w) => JSON.stringify(w)).join(", ")}`] : []),
    ];
    return `${parts.join("; and ")} (${hint}).`;
  }
  if ((m = /^Invalid values:\s*(.*)$/s.exec(message))) {
    const bad = [...m[1]!.matchAll(/Argument: (\S+), Given: (.*?), Choices: (.*)/g)].map(([, name, given, choices]) => `${flag(name!)} must be one of ${choices!.replace(/"/g, "")}, not ${given}`);
    return `${bad.join("; ")}.`;
  }
  if ((m = /^Missing required arguments?: (.*)$/s.exec(message))) {
    return `${command ?? "gguf-debias"} needs ${list(m[1]!).map(flag).join(" and ")} (${hint}).`;
  }
  if ((m = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(message))) {
    const positionals = (usage ?? "").split(" ").slice(1).filter((p) => p.startsWith("<"));
    const missing = positionals.slice(Number(m[1]));
    return `${command ?? "gguf-debias"} needs ${missing.length ? missing.join(" ") : count(Number(m[2]), "argument")}: gguf-debias ${usage ?? command} (${hint}).`;
  }
  if ((m = /^Too many non-option arguments: got (\d+), maximum of (\d+)$/.exec(message))) {
    return `${command ?? "gguf-debias"} takes at most ${count(Number(m[2]), "argument")}, not ${m[1]} (${hint}).`;
  }
  if ((m = /^(?:Not enough arguments following|Missing argument values?): (.*)$/s.exec(message))) {
    return `${list(m[1]!).map(flag).join(", ")} needs a value (${hint}).`;
  }
  if ((m = /^Arguments (\S+) and (\S+) are mutually exclusive$/.exec(message))) {
    return `Give either ${flag(m[1]!)} or ${flag(m[2]!)}, not both.`;
  }
  return message.split("\n").map((s) => s.trim()).filter(Boolean).join(" ");
}
