import type { CommandModule } from "yargs";
import { renderReport } from "../../lib/verify/report.js";
import { readRunResult } from "../../lib/verify/run-result.js";
import { writeHtmlReport } from "../../lib/verify/html-report.js";
import { handle, printResult, type CommonArgs } from "../cli.js";
import { checkDestinations } from "../../lib/files.js";

export const reportCommand: CommandModule<CommonArgs, CommonArgs & { result: string; html?: string; overwrite: boolean }> = {
  command: "report <result>",
  describe: "Print the readable summary of a saved `run --json` result, or write it as one HTML page",
  builder: (y) =>
    y
      .positional("result", { type: "string", demandOption: true })
      .option("html", { type: "string", describe: "Write a self-contained HTML report (charts, numbers, command, hashes) to this file" })
      .option("overwrite", { type: "boolean", default: false, describe: "Replace the HTML file if it exists" }),
  handler: (args) =>
    handle(args, async () => {
      const result = await readRunResult(args.result);
      const text = renderReport(result);
      if (args.html) {
        // never over the result it reads, nor over the models the run read or wrote
        const models = [result.provenance.model?.path, result.provenance.output?.path].filter((p): p is string => typeof p === "string").map((p) => ({ path: p, what: "model" }));
        await checkDestinations([{ path: args.result, what: "run result" }, ...models], [{ path: args.html, what: "HTML report", overwrite: args.overwrite }]);
        await writeHtmlReport(result, args.html, args.overwrite);
      }
      printResult(args, { report: text, ...(args.html ? { html: args.html } : {}) }, () => `${text}${args.html ? `\nHTML report: ${args.html}` : ""}`);
    }),
};
