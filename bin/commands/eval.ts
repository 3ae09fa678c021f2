import type { CommandModule } from "yargs";
import { withSession } from "../../lib/pipeline.js";
import { checkSameVocabulary } from "../../lib/llama/vocabulary.js";
import { workloadFor } from "../../lib/measure/workload-for.js";
import { fixed, handle, printResult, progress } from "../cli.js";
import { evaluatorOptions, modelOptions, type ModelArgs } from "./score.js";

export const evalCommand: CommandModule<ModelArgs, ModelArgs & { base: string }> = {
  command: "eval <model>",
  describe: "Compare an edited model with its original on neutral text: KL, top-1 agreement, perplexity",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true })
      .option("base", { type: "string", demandOption: true, describe: "The original model" })
      .options(modelOptions),
  handler: (args) =>
    handle(args, async () => {
      await checkSameVocabulary(args.base, args.model!);
      const workload = await workloadFor(args.base, args.dataset);
      const report = progress(args);
      report(`evaluating ${args.base} on neutral text`, 0, 1);
      const base = await withSession(args.base, workload, evaluatorOptions(args), (session) => session.neutral.run(session.evaluator));
      report(`evaluating ${args.model} on neutral text`, 0, 1);
      const result = await withSession(args.model!, workload, evaluatorOptions(args), (session) => session.neutral.compare(session.evaluator, base));
      printResult(args, result, () => `KL(original ‖ edited) ${fixed(result.kl, 5)} nats, top-1 agreement ${fixed(100 * result.top1Agreement, 1)}%, perplexity ${fixed(result.perplexity, 3)} (original ${fixed(result.basePerplexity, 3)})`);
    }),
};
