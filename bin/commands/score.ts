import { resolve } from "node:path";
import type { CommandModule } from "yargs";
import type { BiasScore, GroupMetrics } from "../../lib/measure/metrics.js";
import { templateWarnings, type TemplateWarning } from "../../lib/measure/probe-diagnostics.js";
import { scoreOriginal, withSession } from "../../lib/measure/session.js";
import { defaultModelPath, workloadFor } from "../../lib/measure/workload-for.js";
import { benchmarkTable } from "../../lib/verify/report.js";
import { fixed, handle, printResult, progress, table, type CommonArgs } from "../cli.js";
import { benchmarkOptions, evaluatorOptions, modelOptions, namedBenchmarks, scoreBenchmarksOn, type BenchmarkArgs, type ModelArgs } from "../options.js";

export function scoreTable(score: BiasScore): string {
  const row = (name: string, m: GroupMetrics, b0 = "") => [name, fixed(m.stereotypeGap, 3), fixed(m.stereotypeGapSe, 3), fixed(m.priorSkew, 3), b0, fixed(m.residual, 3), fixed(m.bias, 3), fixed(m.factualAccuracy, 3), fixed(m.factualMargin, 3)];
  return table([
    ["", "gap Δ", "± se", "prior", "baseline b0", "residual", "mean |b|", "factual acc", "factual margin"],
    row("all words", score),
    row("selection", score.splits.selection),
    row("held-out", score.splits.heldout),
    ...Object.entries(score.categories).map(([name, m]) => row(`  ${name}`, m)),
    ...Object.entries(score.templates).map(([name, m]) => row(`  template ${name}`, m, Object.values(m.baselines).map((b) => fixed(b, 3)).join(" / "))),
  ]);
}

/** One line per template that does not measure gender, for people; nothing when all do. */
export function warningLines(warnings: readonly TemplateWarning[]): string {
  return warnings.map((w) => `\nwarning: template ${w.template}: ${w.reasons.join("; ")}.`).join("");
}

export const SCORE_LEGEND =
  "nats of log-odds b = log p(female) − log p(male). gap Δ: how much further stereotyped words lean their stereotype's way than the template's neutral baseline words (the stereotype); prior: mean b of the neutral words (how far the model leans one way for anyone); baseline b0: a template's mean b of its baseline words, per target pair; residual: mean |b − baseline|; factual: words whose gender is their meaning, judged against the baseline (accuracy: share on their own gender's side of it; margin: mean distance).";

export const scoreCommand: CommandModule<CommonArgs, ModelArgs & BenchmarkArgs> = {
  command: "score [model]",
  describe: "Measure gender bias: stereotype gap, prior skew and factual gender over the probe words",
  builder: (y) => y.positional("model", { type: "string", describe: "GGUF file (default: the embedded test model)" }).options(modelOptions).options(benchmarkOptions),
  handler: (args) =>
    handle(args, async () => {
      const path = args.model ?? defaultModelPath();
      const options = evaluatorOptions(args);
      const workload = await workloadFor(path, args.dataset, args.neutral);
      const benchmarks = await namedBenchmarks(args);
      const report = progress(args);
      report(`scoring ${path} on ${workload.source}`, 0, 1);
      const { score, scores } = await withSession(path, workload, options, async (session) => ({
        score: (await scoreOriginal(session)).score,
        scores: benchmarks ? await scoreBenchmarksOn(benchmarks, session.model, session.evaluator, report, path) : null,
      }));
      const warnings = templateWarnings(score);
      printResult(args, { model: resolve(path), dataset: workload.source, ...score, warnings, ...(scores ? { benchmarks: scores } : {}) }, () => `${SCORE_LEGEND}\n${scoreTable(score)}${warningLines(warnings)}${scores ? `\n${benchmarkTable([["score", scores]])}` : ""}`);
    }),
};
