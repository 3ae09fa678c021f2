#!/usr/bin/env node
import yargs from "yargs";
import type { CommandModule } from "yargs";
import { reportError } from "./cli.js";
import { stopProgress } from "./progress.js";
import { UsageError, usageSentence } from "./usage.js";
import { VERSION } from "../lib/version.js";
import { hideBin } from "yargs/helpers";
import { compareCommand } from "./commands/compare.js";
import { editCommand } from "./commands/edit.js";
import { evalCommand } from "./commands/eval.js";
import { inspectCommand } from "./commands/inspect.js";
import { locateCommand } from "./commands/locate.js";
import { reportCommand } from "./commands/report.js";
import { runCommand } from "./commands/run.js";
import { scoreCommand } from "./commands/score.js";
import { undoCommand } from "./commands/undo.js";

const commands = [inspectCommand, scoreCommand, locateCommand, editCommand, undoCommand, evalCommand, compareCommand, runCommand, reportCommand];
const names = commands.map((c) => String(c.command).split(" ")[0]!);
const argv = hideBin(process.argv);
const json = argv.includes("--json");

// Node's own warning lines name the process, not the tool; ours are one sentence like every message.
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (!argv.includes("--quiet")) {
    stopProgress();
    process.stderr.write(`gguf-debias: warning: ${w.message}\n`);
  }
});

const cli = yargs(argv)
  .scriptName("gguf-debias")
  .usage("$0 <command> [options]\n\nMeasure, locate and remove gender bias in a GGUF model by editing FFN neurons.")
  .option("json", { type: "boolean", default: false, describe: "Print machine-readable JSON on stdout (errors too: {error: {code, message}})" })
  .option("quiet", { type: "boolean", default: false, describe: "No progress on stderr" });
for (const command of commands) cli.command(command as CommandModule);
await cli
  .demandCommand(1, "Name a command.")
  .strict()
  .fail((message, error, y) => {
    if (error && !(error instanceof UsageError)) throw error;
    const first = argv.find((a) => !a.startsWith("-"));
    if (first === undefined) {
      // No command at all: the help is the answer, on stderr so stdout stays clean.
      y.showHelp((help: string) => process.stderr.write(`${help}\n\n`));
    }
    const unknownCommand = first !== undefined && !names.includes(first);
    const usage = commands.find((c) => String(c.command).split(" ")[0] === first)?.command;
    const sentence = unknownCommand ? `"${first}" is not a command; the commands are ${names.join(", ")} (see --help).` : error instanceof UsageError ? error.message : usageSentence(message ?? "bad arguments", argv, typeof usage === "string" ? usage : undefined);
    reportError(json, "E_USAGE", sentence, 2);
    process.exit(2);
  })
  .help()
  .alias("h", "help")
  .version(VERSION)
  .alias("v", "version")
  .parseAsync();
