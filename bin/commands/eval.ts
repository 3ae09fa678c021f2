import type { CommandModule } from "yargs";
import { withNeutralText } from "../../lib/pipeline.js";
import { checkSameVocabulary } from "../../lib/llama/vocabulary.js";
import { workloadFor } from "../../lib/measure/workload-for.js";
import { fixed, handle, printResult, progress } from "../cli.js";
import { evaluatorOptions, modelOptions, type ModelArgs } from "./score.js";

export const evalCommand: CommandModule<ModelArgs, ModelArgs & { base: string }> = {
  command: "eval <model>",
  describe: "Compare an edited model with its original on neutral text: KL, top-1 agreement, perplexity",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "The edited GGUF file" })
      .option("base", { type: "string", demandOption: true, describe: "The original model" })
      .options(modelOptions),
  handler: (args) =>
    handle(args, async () => {
      await checkSameVocabulary(args.base, args.model!);
      const { neutralText } = await workloadFor(args.base, args.dataset, args.neutral);
      const source = args.neutral ?? `the neutral text of ${args.dataset ?? "the model's default dataset"}`;
      const report = progress(args);
      report(`evaluating ${args.base} on neutral text`, 0, 1);
      const base = await withNeutralText(args.base, neutralText, evaluatorOptions(args), (neutral, evaluator) => neutral.run(evaluator));
      report(`evaluating ${args.model} on neutral text`, 0, 1);
      const result = await withNeutralText(args.model!, neutralText, evaluatorOptions(args), (neutral, evaluator) => neutral.compare(evaluator, base));
      printResult(args, { ...result, neutralText: source }, () => `on ${source}: KL(original ‖ edited) ${fixed(result.kl, 5)} nats, top-1 agreement ${fixed(100 * result.top1Agreement, 1)}%, perplexity ${fixed(result.perplexity, 3)} (original ${fixed(result.basePerplexity, 3)})`);
    }),
};
