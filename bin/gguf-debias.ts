#!/usr/bin/env node
import yargs from "yargs";
import { UsageError } from "./cli.js";
import { hideBin } from "yargs/helpers";
import { editCommand } from "./commands/edit.js";
import { evalCommand } from "./commands/eval.js";
import { inspectCommand } from "./commands/inspect.js";
import { locateCommand } from "./commands/locate.js";
import { reportCommand } from "./commands/report.js";
import { runCommand } from "./commands/run.js";
import { scoreCommand } from "./commands/score.js";
import { undoCommand } from "./commands/undo.js";

await yargs(hideBin(process.argv))
  .scriptName("gguf-debias")
  .option("json", { type: "boolean", default: false, describe: "Print machine-readable JSON on stdout" })
  .option("quiet", { type: "boolean", default: false, describe: "No progress on stderr" })
  .command(inspectCommand)
  .command(scoreCommand)
  .command(locateCommand)
  .command(editCommand)
  .command(undoCommand)
  .command(evalCommand)
  .command(runCommand)
  .command(reportCommand)
  .demandCommand(1, "Name a command (see --help).")
  .strict()
  .fail((message, error) => {
    if (error && !(error instanceof UsageError)) throw error;
    process.stderr.write(`gguf-debias: ${message ?? error?.message}\n`);
    process.exit(2);
  })
  .help()
  .parseAsync();
