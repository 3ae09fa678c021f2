// WinoBias and CrowS-Pairs as a run or `eval` uses them: named on the command line as `winobias=DIR` or
// `crows-pairs=FILE` (the user's own copies: the project ships only data it wrote), loaded and checked
// before any model work, and scored on a model with or without an edit. WinoBias is scored on its test
// split, CrowS-Pairs on its gender pairs: what the published figures for those benchmarks report.
import { join } from "node:path";
import { DebiasError } from "../errors.js";
import type { SentenceScorer } from "./benchmark.js";
import { sentenceScorer, spells } from "./sentence-scorer.js";
import type { Evaluator, InterventionSpec } from "../llama/evaluator.js";
import type { DebiasModel } from "../llama/model.js";
import { loadCrowsPairs, scoreCrowsPairs, type CrowsPair, type CrowsPairsScore } from "./crows-pairs.js";
import { loadWinoBias, scoreWinoBias, WINOBIAS_KINDS, winoBiasReadings, WINOBIAS_TYPES, winoBiasFileName, type WinoBiasItem, type WinoBiasScore } from "./winobias.js";

export const BENCHMARK_NAMES = ["winobias", "crows-pairs"] as const;
export type BenchmarkName = (typeof BENCHMARK_NAMES)[number];

export interface BenchmarkSource {
  name: BenchmarkName;
  /** The WinoBias folder or the CrowS-Pairs CSV file. */
  path: string;
}

/** `winobias=DIR` or `crows-pairs=FILE`, as `--benchmark` takes it. */
export function parseBenchmarkSpec(spec: string): BenchmarkSource {
  const at = spec.indexOf("=");
  const name = spec.slice(0, at).trim().toLowerCase();
  const path = spec.slice(at + 1);
  if (at < 0 || !(BENCHMARK_NAMES as readonly string[]).includes(name) || path === "") {
    throw new DebiasError("E_BENCHMARK_SPEC", `The benchmark ${JSON.stringify(spec)} is not winobias=DIR (the folder of the WinoBias data files) or crows-pairs=FILE (the CrowS-Pairs CSV).`);
  }
  return { name: name as BenchmarkName, path };
}

/** Every file a benchmark is read from, so no output of a run can be one of them. */
export function benchmarkFiles(source: BenchmarkSource): { path: string; what: string }[] {
  if (source.name === "crows-pairs") return [{ path: source.path, what: "CrowS-Pairs file" }];
  const data = WINOBIAS_KINDS.flatMap((kind) => WINOBIAS_TYPES.map((type) => winoBiasFileName(kind, type, "test")));
  return [...data, "female_occupations.txt", "male_occupations.txt"].map((name) => ({ path: join(source.path, name), what: "WinoBias file" }));
}

export interface Benchmarks {
  sources: readonly BenchmarkSource[];
  winobias: WinoBiasItem[] | null;
  crowsPairs: CrowsPair[] | null;
}

/** Loads and checks every named benchmark; each may be named once. */
export async function loadBenchmarks(sources: readonly BenchmarkSource[]): Promise<Benchmarks> {
  const one = (name: BenchmarkName): BenchmarkSource | null => {
    const named = sources.filter((s) => s.name === name);
    if (named.length > 1) throw new DebiasError("E_BENCHMARK_SPEC", `The benchmark ${name} is named ${named.length} times (${named.map((s) => s.path).join(", ")}); name it once.`);
    return named[0] ?? null;
  };
  const [wino, crows] = [one("winobias"), one("crows-pairs")];
  return {
    sources,
    winobias: wino ? await loadWinoBias(wino.path, { splits: ["test"] }) : null,
    crowsPairs: crows ? await loadCrowsPairs(crows.path) : null,
  };
}

/** Sentences a scoring reads: two readings per WinoBias line and per CrowS-Pairs pair. */
export function benchmarkSentences(benchmarks: Benchmarks): number {
  return 2 * ((benchmarks.winobias?.length ?? 0) + (benchmarks.crowsPairs?.length ?? 0));
}

export interface BenchmarkScores {
  /** Accuracy on pro- and anti-stereotyped lines (percent) and their gap; ideal gap 0. */
  winobias: (WinoBiasScore & LeftOut) | null;
  /** Percent of pairs whose more stereotypical sentence is the likelier; ideal 50. */
  crowsPairs: (CrowsPairsScore & LeftOut) | null;
}

export interface LeftOut {
  /** Lines or pairs not scored because the model's vocabulary cannot spell one of their sentences. */
  leftOut: number;
}

/**
 * Scores each loaded benchmark with the scorer made for it (`scorerFor` may report progress by name).
 * A line or pair with a sentence the model cannot spell (a character its vocabulary lacks, such as "%"
 * for a story model) is left out of the score and counted, so the rest still measure.
 */
export async function scoreBenchmarks(benchmarks: Benchmarks, scorerFor: (name: BenchmarkName) => SentenceScorer, spells: (text: string) => boolean): Promise<BenchmarkScores> {
  const spelled = <T>(items: readonly T[], texts: (item: T) => readonly string[]) => items.filter((item) => texts(item).every(spells));
  const wino = benchmarks.winobias && spelled(benchmarks.winobias, winoBiasReadings);
  const crows = benchmarks.crowsPairs && spelled(benchmarks.crowsPairs, (p) => [p.sentMore, p.sentLess]);
  return {
    winobias: wino ? { ...(await scoreWinoBias(wino, scorerFor("winobias"))), leftOut: benchmarks.winobias!.length - wino.length } : null,
    crowsPairs: crows ? { ...(await scoreCrowsPairs(crows, scorerFor("crows-pairs"))), leftOut: benchmarks.crowsPairs!.length - crows.length } : null,
  };
}

/**
 * Scores every loaded benchmark on a model, through FFN interventions when given: each sentence by its
 * summed log-probability (sentenceScorer), what the model's vocabulary cannot spell left out.
 */
export function scoreBenchmarksOnModel(benchmarks: Benchmarks, model: DebiasModel, evaluator: Evaluator, interventions: readonly InterventionSpec[] = [], onProgress?: (name: BenchmarkName, done: number, total: number) => void): Promise<BenchmarkScores> {
  return scoreBenchmarks(benchmarks, (name) => sentenceScorer(model, evaluator, interventions, onProgress && ((done, total) => onProgress(name, done, total))), (text) => spells(model, text));
}
