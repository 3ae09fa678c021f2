import type { Argv, CommandModule } from "yargs";
import { locate } from "../../lib/locate/locate.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { scoreOriginal, withSession } from "../../lib/measure/session.js";
import { selectionBaseline } from "../../lib/locate/baseline.js";
import { defaultModelPath, workloadFor } from "../../lib/measure/workload-for.js";
import { resolve } from "node:path";
import { count } from "../../lib/text.js";
import { fixed, handle, printResult, progress, table } from "../cli.js";
import { budgetOf, budgetOptions, candidatesOption, evaluatorOptions, modelOptions, seedOption, type BudgetArgs, type ModelArgs } from "../options.js";

interface LocateArgs extends ModelArgs, BudgetArgs {
  candidates?: number;
  seed: number;
  all: boolean;
}

export const locateCommand: CommandModule<ModelArgs, LocateArgs> = {
  command: "locate [model]",
  describe: "Find candidate neurons behind the bias, zero each one, and class them gender / general / other",
  builder: (y) =>
    y
      .positional("model", { type: "string", describe: "GGUF file (default: the embedded test model)" })
      .options(modelOptions)
      .options(budgetOptions)
      .options(candidatesOption)
      .options(seedOption)
      .option("all", { type: "boolean", default: false, describe: "Show every candidate, not the 30 with the largest effect" }) as unknown as Argv<LocateArgs>,
  handler: (args) =>
    handle(args, async () => {
      const { objective, ...budget } = budgetOf(args);
      const options = evaluatorOptions(args);
      const path = args.model ?? defaultModelPath();
      const workload = await workloadFor(path, args.dataset, args.neutral);
      const result = await withSession(path, workload, options, async (session) => {
        const base = await selectionBaseline(session, objective, await scoreOriginal(session));
        return locate(session.model, await openGguf(path), session.evaluator, base, { ...(args.candidates !== undefined ? { candidates: args.candidates } : {}), ...budget, seed: args.seed, onProgress: progress(args) });
      });
      printResult(args, { model: resolve(path), dataset: workload.source, ...result }, () => {
        const sorted = [...result.neurons].sort((a, b) => a.causal.dLoss - b.causal.dLoss);
        const shown = args.all ? sorted : sorted.slice(0, 30);
        const kind = (k: string) => result.neurons.filter((n) => n.kind === k);
        const floor = result.noise.noiseFloor;
        const others = kind("other");
        const growing = others.filter((n) => n.causal.dLoss > floor).length;
        return [
          `${count(result.neurons.length, "candidate")} zeroed one at a time (${args.objective === "prior" ? "prior skew" : "stereotype gap"} ${fixed(result.baseline.objective)} nats on the selection probes): ${kind("gender").length} gender (each shrinks it by more than the noise floor), ${kind("general").length} general (each alone breaks the damage budget), ${others.length} other (${growing} grow it, ${others.length - growing} move it no more than the noise floor)`,
          `noise floor ${fixed(floor)} nats: the larger of 0.2% of the objective and three times the spread of what zeroing one of ${count(result.noise.n, "random neuron")} does (${fixed(result.noise.dLossMean)} ± ${fixed(result.noise.dLossStd)}; the progress counted them too); single neurons are weak on real models — run selects sets`,
          table([["neuron", "kind", "dla", "word corr", "Δobjective", "Δfactual", "KL"], ...shown.map((n) => [`${n.layer}:${n.index}`, n.kind, fixed(n.dla), fixed(n.wordCorrelation, 3), fixed(n.causal.dLoss), fixed(n.causal.dFactual), fixed(n.causal.kl, 5)])]),
          shown.length < sorted.length ? `showing the ${shown.length} of ${sorted.length} candidates with the largest effect; --all shows every one, --json gives every number` : "",
        ]
          .filter(Boolean)
          .join("\n");
      });
    }),
};
