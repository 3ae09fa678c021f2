import type { CommandModule } from "yargs";
import { locate } from "../../lib/attribution/locate.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { selectionBaseline, withSession } from "../../lib/pipeline.js";
import { defaultModelPath, workloadFor } from "../../lib/workload-for.js";
import { fixed, handle, printResult, progress, table } from "../cli.js";
import { evaluatorOptions, modelOptions, type ModelArgs } from "./score.js";

export const locateCommand: CommandModule<ModelArgs, ModelArgs & { candidates: number; seed: number }> = {
  command: "locate [model]",
  describe: "Find the FFN neurons behind the bias and class them gender / general / other",
  builder: (y) =>
    y
      .positional("model", { type: "string", describe: "GGUF file (default: the embedded test model)" })
      .options(modelOptions)
      .option("candidates", { type: "number", default: 48, describe: "Candidates taken by direct logit effect" })
      .option("seed", { type: "number", default: 1, describe: "Seed of the random-neuron noise baseline" }),
  handler: (args) =>
    handle(async () => {
      const path = args.model ?? defaultModelPath();
      const workload = await workloadFor(path, args.dataset);
      const result = await withSession(path, workload, evaluatorOptions(args), async (session) => {
        return locate(session.model, await openGguf(path), session.evaluator, await selectionBaseline(session), { dlaCandidates: args.candidates, seed: args.seed, onProgress: progress(args) });
      });
      printResult(args, result, () => {
        const shown = [...result.neurons].sort((a, b) => a.causal.dBias - b.causal.dBias).slice(0, 30);
        return [
          `${result.neurons.filter((n) => n.kind === "gender").length} gender, ${result.neurons.filter((n) => n.kind === "general").length} general, ${result.neurons.filter((n) => n.kind === "other").length} other neurons among ${result.neurons.length} candidates`,
          `baseline bias ${fixed(result.baseline.bias)} nats; a random neuron moves it by ${fixed(result.noise.dBiasMean)} ± ${fixed(result.noise.dBiasStd)} (noise floor ${fixed(result.noise.noiseFloor)})`,
          table([["neuron", "kind", "dla", "word corr", "Δbias", "Δfactual", "KL"], ...shown.map((n) => [`${n.layer}:${n.index}`, n.kind, fixed(n.dla), fixed(n.wordCorrelation, 3), fixed(n.causal.dBias), fixed(n.causal.dFactual), fixed(n.causal.kl, 5)])]),
        ].join("\n");
      });
    }),
};
