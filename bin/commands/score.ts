import type { CommandModule } from "yargs";
import type { BiasScore, GroupMetrics } from "../../lib/bias/metrics.js";
import { withSession } from "../../lib/pipeline.js";
import type { EvaluatorOptions } from "../../lib/llama/evaluator.js";
import { defaultModelPath, workloadFor } from "../../lib/workload-for.js";
import { fixed, handle, printResult, progress, table, type CommonArgs } from "../cli.js";

export interface ModelArgs extends CommonArgs {
  model?: string;
  dataset?: string;
  threads?: number;
}

export const modelOptions = {
  dataset: { type: "string", describe: "Probe dataset JSON (default: the bundled CommonWords dataset, or a fixture's own)" },
  threads: { type: "number", describe: "CPU threads (default: all)" },
} as const;

export const evaluatorOptions = (args: ModelArgs): EvaluatorOptions => (args.threads ? { threads: args.threads } : {});

export function scoreTable(score: BiasScore): string {
  const row = (name: string, m: GroupMetrics) => [name, fixed(m.bias), fixed(m.biasSigned), fixed(m.biasedFraction, 3), fixed(m.factualAccuracy, 3), fixed(m.factualMargin)];
  return table([
    ["", "bias", "signed", "biased", "factual acc", "factual margin"],
    row("all words", score),
    row("selection", score.splits.selection),
    row("held-out", score.splits.heldout),
    ...Object.entries(score.categories).map(([name, m]) => row(`  ${name}`, m)),
  ]);
}

export const scoreCommand: CommandModule<CommonArgs, ModelArgs> = {
  command: "score [model]",
  describe: "Measure gender bias: log-odds of female vs male continuations over the probe words",
  builder: (y) => y.positional("model", { type: "string", describe: "GGUF file (default: the embedded test model)" }).options(modelOptions),
  handler: (args) =>
    handle(async () => {
      const path = args.model ?? defaultModelPath();
      const workload = await workloadFor(path, args.dataset);
      const report = progress(args);
      report(`scoring ${path} on ${workload.source}`, 0, 1);
      const score = await withSession(path, workload, evaluatorOptions(args), (session) => session.probes.score(session.evaluator));
      printResult(args, score, () => `bias in nats (log-odds female − male), stereotyped words; factual: words whose gender is their meaning\n${scoreTable(score)}`);
    }),
};
