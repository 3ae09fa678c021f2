// The options more than one command takes, declared once, with the library's own defaults shown in the
// help (lib/defaults.ts), and the checks their values get.
import type { GpuBackend } from "../lib/native.js";
import type { EvaluationOptions } from "../lib/llama/model.js";
import type { Evaluator } from "../lib/llama/evaluator.js";
import type { DebiasModel } from "../lib/llama/model.js";
import { DEFAULTS, type DamageBudget } from "../lib/defaults.js";
import { OBJECTIVES, type ObjectiveKind } from "../lib/measure/objective.js";
import { loadBenchmarks, parseBenchmarkSpec, scoreBenchmarksOnModel, type Benchmarks, type BenchmarkScores } from "../lib/measure/standard-benchmarks.js";
import type { CommonArgs } from "./cli.js";

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
  return scoreBenchmarksOnModel(benchmarks, model, evaluator, [], (name, done, total) => report(`scoring ${name} on ${what}`, done, total));
}

export const modelOptions = {
  dataset: { type: "string", describe: "Probe dataset: a JSON file, or a bundled one by name, commonwords, tinystories or demo (default: commonwords, or demo for the demo model's vocabulary)" },
  neutral: { type: "string", describe: "Neutral text of the model's own domain, one sentence a line (default: the dataset's, else the bundled text)" },
  threads: { type: "number", describe: "CPU threads (default: the cores other processes leave free, by load average)" },
  "gpu-layers": { type: "number", describe: "Layers to offload to a GPU, -1 for all (default 0: CPU only); results equal the CPU's up to rounding" },
  gpu: { type: "string", choices: ["cuda", "vulkan"], describe: "With the prebuilt libraries, the GPU backend to load from node-llama-cpp's optional package (source builds compile theirs in)" },
} as const;

export const evaluatorOptions = (args: ModelArgs): EvaluationOptions => {
  return { ...(args.threads ? { threads: args.threads } : {}), ...(args.gpuLayers ? { gpuLayers: args.gpuLayers } : {}), ...(args.gpu ? { gpu: args.gpu } : {}) };
};

export interface BudgetArgs {
  maxKl: number;
  minFactualRatio: number;
  objective: ObjectiveKind;
}

export const budgetOptions = {
  "max-kl": { type: "number", default: DEFAULTS.maxKl, describe: "Damage budget: mean KL on neutral text, nats" },
  // --min-factual was its name before 0.2; kept so scripts that use it still run
  "min-factual-ratio": { alias: "min-factual", type: "number", default: DEFAULTS.minFactualRatio, describe: "Damage budget: share of the factual margin to keep" },
  objective: { choices: OBJECTIVES, default: "stereotype", describe: "What to remove: the stereotype gap, or (explicitly) the prior skew" },
} as const;

/** The damage budget and objective as the library takes them. */
export function budgetOf(args: BudgetArgs): Pick<DamageBudget, "maxKl" | "minFactualRatio"> & { objective: ObjectiveKind } {
  return { maxKl: args.maxKl, minFactualRatio: args.minFactualRatio, objective: args.objective };
}

export const candidatesOption = {
  candidates: { type: "number", describe: "Candidates screened (default: 2·√(FFN neurons), 32 to 512)" },
} as const;

export const seedOption = {
  seed: { type: "number", default: DEFAULTS.seed, describe: "Seed of the random neurons and random sets (same seed, same result)" },
} as const;
