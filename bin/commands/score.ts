import { resolve } from "node:path";
import type { CommandModule } from "yargs";
import type { BiasScore, GroupMetrics } from "../../lib/measure/metrics.js";
import { templateWarnings, type TemplateWarning } from "../../lib/measure/probe-diagnostics.js";
import { scoreOriginal, withSession } from "../../lib/pipeline.js";
import type { EvaluationOptions } from "../../lib/llama/model.js";
import type { GpuBackend } from "../../lib/native.js";
import { defaultModelPath, workloadFor } from "../../lib/measure/workload-for.js";
import { loadBenchmarks, parseBenchmarkSpec, scoreBenchmarks, type Benchmarks, type BenchmarkScores } from "../../lib/measure/standard-benchmarks.js";
import { sentenceScorer, spells } from "../../lib/measure/sentence-scorer.js";
import type { DebiasModel } from "../../lib/llama/model.js";
import type { Evaluator } from "../../lib/llama/evaluator.js";
import { benchmarkTable } from "../../lib/verify/report.js";
import { fixed, handle, printResult, progress, table, type CommonArgs } from "../cli.js";
import { checkNumber } from "../usage.js";

export interface ModelArgs extends CommonArgs {
  model?: string;
  dataset?: string;
  neutral?: string;
  threads?: number;
  gpuLayers?: number;
  gpu?: GpuBackend;
}

export interface BenchmarkArgs {
  benchmark?: string[];
}

export const benchmarkOptions = {
  benchmark: { type: "string", array: true, describe: "Also score a standard benchmark from your copy of it: winobias=DIR (the folder of WinoBias's data files; its test split) or crows-pairs=FILE (the CrowS-Pairs CSV; its gender pairs). Give it twice for both" },
} as const;

/** The benchmarks named with --benchmark, loaded and checked (null when none was named). */
export async function namedBenchmarks(args: BenchmarkArgs): Promise<Benchmarks | null> {
  const sources = (args.benchmark ?? []).map(parseBenchmarkSpec);
  return sources.length ? loadBenchmarks(sources) : null;
}

/** Scores the benchmarks on a model as it is, reporting progress by benchmark. */
export function scoreBenchmarksOn(benchmarks: Benchmarks, model: DebiasModel, evaluator: Evaluator, report: (label: string, done: number, total: number) => void, what: string): Promise<BenchmarkScores> {
  return scoreBenchmarks(benchmarks, (name) => sentenceScorer(model, evaluator, [], (done, total) => report(`scoring ${name} on ${what}`, done, total)), (text) => spells(model, text));
}

export const modelOptions = {
  dataset: { type: "string", describe: "Probe dataset: a JSON file, or a bundled one by name, commonwords or tinystories (default: commonwords, or a fixture's own)" },
  neutral: { type: "string", describe: "Neutral text of the model's own domain, one sentence a line (default: the dataset's, else the bundled text)" },
  threads: { type: "number", describe: "CPU threads (default: the cores other processes leave free, by load average)" },
  "gpu-layers": { type: "number", describe: "Layers to offload to a GPU, -1 for all (default 0: CPU only); results equal the CPU's up to rounding" },
  gpu: { type: "string", choices: ["cuda", "vulkan"], describe: "With the prebuilt libraries, the GPU backend to load from node-llama-cpp's optional package (source builds compile theirs in)" },
} as const;

export const evaluatorOptions = (args: ModelArgs): EvaluationOptions => {
  checkNumber("threads", args.threads, 1, 1024, true);
  checkNumber("gpu-layers", args.gpuLayers, -1, 100000, true);
  return { ...(args.threads ? { threads: args.threads } : {}), ...(args.gpuLayers ? { gpuLayers: args.gpuLayers } : {}), ...(args.gpu ? { gpu: args.gpu } : {}) };
};

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
