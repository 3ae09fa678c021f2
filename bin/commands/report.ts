import type { CommandModule } from "yargs";
import { renderReport } from "../../lib/verify/report.js";
import { readRunResult } from "../../lib/verify/run-result.js";
import { writeHtmlReport } from "../../lib/verify/html-report.js";
import { renderModelCard } from "../../lib/verify/model-card.js";
import { handle, printResult, type CommonArgs } from "../cli.js";
import { checkDestinations, writeUserFile } from "../../lib/files.js";

export const reportCommand: CommandModule<CommonArgs, CommonArgs & { result: string; html?: string; card?: string; overwrite: boolean }> = {
  command: "report <result>",
  describe: "Print the readable summary of a saved `run --json` result, or write it as one HTML page or a Markdown model card",
  builder: (y) =>
    y
      .positional("result", { type: "string", demandOption: true })
      .option("html", { type: "string", describe: "Write a self-contained HTML report (charts, numbers, command, hashes) to this file" })
      .option("card", { type: "string", describe: "Write a Markdown model card (verdict, numbers, budget, edited neurons, benchmarks, command, versions, hashes) to publish beside the edited GGUF" })
      .option("overwrite", { type: "boolean", default: false, describe: "Replace the HTML report or model card if it exists" }),
  handler: (args) =>
    handle(args, async () => {
      const result = await readRunResult(args.result);
      const text = renderReport(result);
      // never over the result it reads, nor over the models the run read or wrote, nor one over the other
      const models = [result.provenance.model?.path, result.provenance.output?.path].filter((p): p is string => typeof p === "string").map((p) => ({ path: p, what: "model" }));
      await checkDestinations([{ path: args.result, what: "run result" }, ...models], [
        ...(args.html ? [{ path: args.html, what: "HTML report", overwrite: args.overwrite }] : []),
        ...(args.card ? [{ path: args.card, what: "model card", overwrite: args.overwrite }] : []),
      ]);
      if (args.html) await writeHtmlReport(result, args.html, args.overwrite);
      if (args.card) await writeUserFile(args.card, renderModelCard(result), "model card", args.overwrite);
      const written = [...(args.html ? [`HTML report: ${args.html}`] : []), ...(args.card ? [`model card: ${args.card}`] : [])];
      printResult(args, { report: text, ...(args.html ? { html: args.html } : {}), ...(args.card ? { card: args.card } : {}) }, () => [text, ...written].join("\n"));
    }),
};
