// A saved `run --json` result, read back for `report`: the file is checked as a user file (regular,
// bounded) and its content against the shape the text and HTML reports read, so a hand-edited,
// truncated or older result fails with one sentence naming the first bad field, never a TypeError.
import { DebiasError } from "../errors.js";
import { readUserFile } from "../files.js";
import type { Candidate, LocateResult } from "../locate/locate.js";
import type { BiasScore } from "../measure/metrics.js";
import type { Capability } from "../measure/neutral-text.js";
import type { ObjectiveKind } from "../measure/objective.js";
import type { BenchmarkScores, BenchmarkSource } from "../measure/standard-benchmarks.js";
import type { RandomComparison } from "../select/random-sets.js";
import type { EditedNeuron, Selection } from "../select/selection.js";
import type { Verdict } from "./verdict.js";


export interface RunProvenance {
  /** gguf-debias and llama.cpp versions. */
  tool: string;
  llamaCommit: string;
  command: string | null;
  startedAt: string;
  /** The probe dataset's name (`tinystories`, `commonwords`, a user file's own name). */
  dataset?: string;
  /** The input as it was before the run, and the written file (null when nothing was written). */
  model: { path: string; sha256: string };
  output: { path: string; sha256: string } | null;
}

export interface RunResult {
  /** The edited model, or the untouched input when nothing was written. */
  file: string;
  written: boolean;
  /** The input itself was edited (journaled: `undo` restores it). */
  inPlace: boolean;
  objective: ObjectiveKind;
  before: BiasScore;
  /** Measured on the written file; the original's numbers when nothing was written. */
  after: BiasScore;
  /** The chosen set measured through the hook before anything was written (null when none was chosen). */
  predicted: BiasScore | null;
  eval: Capability;
  neurons: Candidate[];
  /** The set the search chose (written or not). */
  selected: EditedNeuron[];
  /** The neurons edited in the written file: the selected set, or none when nothing was written. */
  edited: EditedNeuron[];
  locate: Omit<LocateResult, "neurons"> | null;
  selection: Omit<Selection, "neurons"> | null;
  randomSets: RandomComparison | null;
  verdict: Verdict;
  /** WinoBias and CrowS-Pairs, when the run was given them (`--benchmark`). */
  benchmarks: RunBenchmarks | null;
  cost: RunCost;
  provenance: RunProvenance;
}

export interface RunBenchmarks {
  sources: BenchmarkSource[];
  before: BenchmarkScores;
  /** With the chosen set through the hook, before anything was written (null when no set was chosen). */
  predicted: BenchmarkScores | null;
  /** Measured on the written file (null when nothing was written). */
  after: BenchmarkScores | null;
}

/**
 * What a run cost. A pass is one evaluation of the selection probes and the neutral text: the
 * machine-independent unit the search is steered by. Tokens count every token run through a model;
 * passes are tokens over the tokens of one pass, so a capture or a split-only measurement counts for
 * what it evaluates.
 */
export interface RunCost {
  passes: number;
  /** Tokens of one pass on this model and dataset. */
  tokensPerPass: number;
  tokens: number;
  /** Per stage, in order: wall seconds, passes and tokens. */
  stages: Record<string, { seconds: number; passes: number; tokens: number }>;
  /** Peak resident memory of the process so far (bytes). */
  peakRssBytes: number;
}

/** Results of the bundled dataset are about 1 MB; a hundredfold is room for large datasets, not for a mistake. */
const MAX_RESULT_BYTES = 128 * 2 ** 20;

/** Why `value` at `at` does not fit, or null. */
type Check = (value: unknown, at: string) => string | null;

const kind = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : `the ${typeof v} ${JSON.stringify(v)}`);
const wrong = (v: unknown, at: string, what: string): string => (v === undefined ? `${at} is missing` : `${at || "it"} should be ${what}, not ${kind(v)}`);
/** A path to a field as JavaScript would write it: keys of records (words, stage names) may hold spaces. */
const field = (at: string, key: string): string => (/^[A-Za-z_$][\w$]*$/.test(key) ? (at ? `${at}.${key}` : key) : `${at}[${JSON.stringify(key)}]`);
const is = (type: "number" | "string" | "boolean"): Check => (v, at) => (typeof v === type ? null : wrong(v, at, `a ${type}`));
const number = is("number");
const string = is("string");
const boolean = is("boolean");
const nullable = (check: Check): Check => (v, at) => (v === null ? null : check(v, at));
/** JSON writes a NaN or an infinity as null, so a measured figure may be null. */
const figure = nullable(number);
const optional = (check: Check): Check => (v, at) => (v === undefined || v === null ? null : check(v, at));

function object(fields: Record<string, Check>): Check {
  return (v, at) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return wrong(v, at, "an object");
    for (const [key, check] of Object.entries(fields)) {
      const fault = check((v as Record<string, unknown>)[key], field(at, key));
      if (fault) return fault;
    }
    return null;
  };
}

const each = (check: Check, what: "a list" | "an object"): Check => (v, at) => {
  if (typeof v !== "object" || v === null || Array.isArray(v) !== (what === "a list")) return wrong(v, at, what);
  for (const [key, item] of Object.entries(v)) {
    const fault = check(item, what === "a list" ? `${at}[${key}]` : field(at, key));
    if (fault) return fault;
  }
  return null;
};
const list = (check: Check): Check => each(check, "a list");
const record = (check: Check): Check => each(check, "an object");

const metrics = {
  stereotypeGap: figure, stereotypeGapSe: figure, priorSkew: figure, residual: figure, bias: figure,
  factualAccuracy: figure, factualMargin: figure,
};
const group = object(metrics);
const score = object({
  ...metrics,
  splits: object({ selection: group, heldout: group }),
  categories: record(group),
  templates: record(object({ ...metrics, baselines: record(figure) })),
  words: list(object({ word: string, split: string, label: string, b: figure, direction: optional(string), gold: optional(string) })),
});
const neuron = object({ layer: number, index: number });
const edited = list(object({ layer: number, index: number, scale: number }));
const comparison = object({ gain: figure, randomMean: figure, randomStd: figure, z: figure, p: figure, gains: list(figure) });

const accuracy = object({ pro: figure, anti: figure, gap: figure });
const crows = object({ score: figure, n: number, stereo: object({ score: figure }), antistereo: object({ score: figure }) });
const benchmarkScores = object({ winobias: nullable(object({ overall: accuracy, type1: accuracy, type2: accuracy })), crowsPairs: nullable(crows) });

const RESULT = object({
  file: string,
  written: boolean,
  inPlace: boolean,
  objective: string,
  before: score,
  after: score,
  eval: object({ kl: figure, top1Agreement: figure, perplexity: figure, basePerplexity: figure }),
  neurons: list(object({ layer: number, index: number, kind: optional(string), dla: figure, causal: optional(object({ dLoss: figure })) })),
  selected: edited,
  edited,
  locate: nullable(object({ noise: object({ n: number, dLossStd: figure, noiseFloor: figure }) })),
  selection: nullable(object({
    search: string,
    passes: number,
    stopped: string,
    steps: list(object({ round: number, accepted: boolean, added: list(neuron), loss: figure, kl: figure, reason: optional(string) })),
    pareto: list(object({ chosen: boolean, loss: figure, kl: figure })),
    budget: object({ maxKl: figure, minFactualRatio: figure, maxNeurons: number }),
  })),
  randomSets: nullable(object({ sets: number, size: number, selection: nullable(comparison), heldout: nullable(comparison) })),
  verdict: object({ kind: string, judgedOn: string, sentence: string }),
  // results of versions before benchmarks lack the field
  benchmarks: optional(object({ sources: list(object({ name: string, path: string })), before: benchmarkScores, predicted: nullable(benchmarkScores), after: nullable(benchmarkScores) })),
  cost: object({ passes: number, tokens: number, peakRssBytes: number, stages: record(object({ seconds: number, passes: number })) }),
  provenance: object({
    tool: string,
    llamaCommit: string,
    command: nullable(string),
    startedAt: string,
    dataset: optional(string),
    model: object({ path: string, sha256: string }),
    output: nullable(object({ path: string, sha256: string })),
  }),
});

/** Checks a parsed `run --json` result; `source` names it in the error. */
export function validateRunResult(value: unknown, source: string): RunResult {
  const fault = RESULT(value, "");
  if (fault) throw new DebiasError("E_RUN_RESULT", `${source} is not a \`gguf-debias run --json\` result this version can read (${fault}); run it again.`);
  return value as RunResult;
}

/** Reads and checks a saved `run --json` result. */
export async function readRunResult(file: string): Promise<RunResult> {
  const text = (await readUserFile(file, "run result", MAX_RESULT_BYTES)).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DebiasError("E_RUN_RESULT", `The run result ${file} is not JSON (${(err as Error).message}); give the output of \`gguf-debias run --json\`.`, { cause: err });
  }
  return validateRunResult(value, `The run result ${file}`);
}
