import type { CommandModule } from "yargs";
import { withNeutralText } from "../../lib/measure/session.js";
import { checkSameVocabulary } from "../../lib/llama/vocabulary.js";
import { workloadFor } from "../../lib/measure/workload-for.js";
import { benchmarkTable } from "../../lib/verify/report.js";
import { fixed, handle, printResult, progress } from "../cli.js";
import { benchmarkOptions, evaluatorOptions, modelOptions, namedBenchmarks, scoreBenchmarksOn, type BenchmarkArgs, type ModelArgs } from "../options.js";

export const evalCommand: CommandModule<ModelArgs, ModelArgs & BenchmarkArgs & { base: string }> = {
  command: "eval <model>",
  describe: "Compare an edited model with its original on neutral text: KL, top-1 agreement, perplexity",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "The edited GGUF file" })
      .option("base", { type: "string", demandOption: true, describe: "The original model" })
      .options(modelOptions)
      .options(benchmarkOptions),
  handler: (args) =>
    handle(args, async () => {
      await checkSameVocabulary(args.base, args.model!);
      const { neutralText } = await workloadFor(args.base, args.dataset, args.neutral);
      const source = args.neutral ?? `the neutral text of ${args.dataset ?? "the model's default dataset"}`;
      const benchmarks = await namedBenchmarks(args);
      const report = progress(args);
      report(`evaluating ${args.base} on neutral text`, 0, 1);
      const base = await withNeutralText(args.base, neutralText, evaluatorOptions(args), async (neutral, evaluator, model) => ({
        run: await neutral.run(evaluator),
        benchmarks: benchmarks ? await scoreBenchmarksOn(benchmarks, model, evaluator, report, args.base) : null,
      }));
      report(`evaluating ${args.model} on neutral text`, 0, 1);
      const edited = await withNeutralText(args.model!, neutralText, evaluatorOptions(args), async (neutral, evaluator, model) => ({
        result: await neutral.compare(evaluator, base.run),
        benchmarks: benchmarks ? await scoreBenchmarksOn(benchmarks, model, evaluator, report, args.model!) : null,
      }));
      const { result } = edited;
      const scores = base.benchmarks && edited.benchmarks ? { original: base.benchmarks, edited: edited.benchmarks } : null;
      printResult(args, { ...result, neutralText: source, ...(scores ? { benchmarks: scores } : {}) }, () =>
        `on ${source}: KL(original ‖ edited) ${fixed(result.kl, 5)} nats, top-1 agreement ${fixed(100 * result.top1Agreement, 1)}%, perplexity ${fixed(result.perplexity, 3)} (original ${fixed(result.basePerplexity, 3)})${scores ? `\n${benchmarkTable([["original", scores.original], ["edited", scores.edited]])}` : ""}`);
    }),
};
