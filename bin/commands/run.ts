import type { Argv, CommandModule } from "yargs";
import { run } from "../../lib/pipeline.js";
import { renderReport } from "../../lib/report.js";
import { defaultModelPath, workloadFor } from "../../lib/workload-for.js";
import { UsageError, handle, printResult, progress } from "../cli.js";
import { evaluatorOptions, modelOptions, type ModelArgs } from "./score.js";

interface RunArgs extends ModelArgs {
  output?: string;
  inPlace: boolean;
  overwrite: boolean;
  maxKl: number;
  minFactual: number;
  maxNeurons?: number;
  scale: number;
  seed: number;
}

export const runCommand: CommandModule<ModelArgs, RunArgs> = {
  command: "run [model]",
  describe: "Measure, locate, edit and verify: the whole pipeline (default: the embedded test model)",
  builder: (y) =>
    y
      .positional("model", { type: "string", describe: "GGUF file (default: the embedded test model)" })
      .options(modelOptions)
      .option("output", { alias: "o", type: "string", describe: "Edited model file (default: <model>.debiased.gguf)" })
      .option("in-place", { type: "boolean", default: false, describe: "Edit the model itself, journaled and undoable" })
      .option("overwrite", { type: "boolean", default: false, describe: "Replace the output file if it exists" })
      .option("max-kl", { type: "number", default: 0.02, describe: "Damage budget: mean KL on neutral text, nats" })
      .option("min-factual", { type: "number", default: 0.8, describe: "Damage budget: share of the factual margin to keep" })
      .option("max-neurons", { type: "number", describe: "Most neurons to edit (default: 2% of FFN neurons)" })
      .option("scale", { type: "number", default: 0, describe: "Scale chosen neurons by this instead of zeroing them" })
      .option("seed", { type: "number", default: 1 })
      .check((a) => {
        if (a.inPlace && a.output) throw new UsageError("Give either --in-place or -o OUT, not both.");
        if (!(a.scale >= 0 && a.scale < 1)) throw new UsageError("--scale must be at least 0 and below 1.");
        return true;
      // yargs types kebab-case options by their kebab name; yargs-parser also hands us the camelCase one.
      }) as unknown as Argv<RunArgs>,
  handler: (args) =>
    handle(async () => {
      const path = args.model ?? defaultModelPath();
      const workload = await workloadFor(path, args.dataset);
      const report = progress(args);
      report(`debiasing ${path} with ${workload.source}`, 0, 1);
      const result = await run(path, workload, {
        ...(args.output ? { output: args.output } : {}),
        inPlace: args.inPlace,
        overwrite: args.overwrite,
        maxKl: args.maxKl,
        minFactualRatio: args.minFactual,
        ...(args.maxNeurons !== undefined ? { maxNeurons: args.maxNeurons } : {}),
        scale: args.scale,
        seed: args.seed,
        evaluator: evaluatorOptions(args),
        onProgress: report,
      });
      const text = renderReport(result);
      printResult(args, { ...result, report: text }, () => text);
    }),
};
