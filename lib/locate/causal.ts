// Causal attribution: edit neurons through the graph hook and measure what really changes — the objective
// (stereotype gap by default) and factual margin on the selection probes, KL on neutral text. Many
// variants (one neuron, or one candidate set, each) share batches, since per-sequence interventions make
// them independent.
import type { Evaluator } from "../llama/evaluator.js";
import type { BiasScore, ProbeKey, ScoreOptions } from "../measure/metrics.js";
import type { NeutralRun, NeutralText } from "../measure/neutral-text.js";
import type { ProbeSet } from "../measure/probe-set.js";
import { objectiveValue, searchSize, type ObjectiveKind } from "../measure/objective.js";
import { interventionsFor, type NeuronId } from "./neurons.js";

export interface CausalEffect {
  /** Change of what the search minimises (`loss`, nats) on the probes; negative = less bias. */
  dLoss: number;
  /** Change of factual margin (nats); negative = factual gender weakened. */
  dFactual: number;
  /** Mean KL(original ‖ edited) on the neutral text, nats. */
  kl: number;
  /** What the search minimises under the edit: the objective's size, plus the factual margin lost at the same relative rate. */
  loss: number;
  /** The signed objective under the edit (> 0: toward the stereotype, or toward female for the prior). */
  objective: number;
  factualMargin: number;
  factualAccuracy: number;
  /** b per probe under the edit. */
  b: Float64Array;
  /** The full score under the edit (per word, split, category, template). */
  score: BiasScore;
}

/** What every measurement of an edit is compared against. */
export interface Baseline {
  probes: ProbeSet;
  /** b per probe of the unedited model; `score` is its dataset metrics. */
  b: Float64Array;
  score: BiasScore;
  neutral: NeutralText;
  neutralRun: NeutralRun;
  objective: ObjectiveKind;
  /** Directions of stereotyped words the dataset leaves open, taken from the original model. */
  scoreOptions: ScoreOptions;
}

/** What an edit's effect is judged against: the unedited score, the objective, and the probes that score b. */
export type EffectBase = Pick<Baseline, "score" | "objective" | "scoreOptions"> & { probes: { items: readonly { probe: ProbeKey }[]; scoreOf: ProbeSet["scoreOf"] } };

/** Measures edits, in order: through the hook in a run (`hookEffects`), from a table in unit tests. */
export type MeasureEdits = (edits: readonly Edit[], onProgress?: (done: number, total: number) => void) => Promise<CausalEffect[]>;

const GROUP = 16;

export type Edit = readonly (NeuronId & { scale?: number })[];

/** The effect of an edit, from b per probe under it and its mean KL on neutral text. */
export function effectOf(base: EffectBase, b: Float64Array, kl: number): CausalEffect {
  const baseSize = searchSize(base.score, base.objective);
  // Factual gender lost counts against the gain at the same relative rate: an edit that dims gender as a
  // whole (stereotype −25%, factual margin −20% on the distributed fixtures) is no stereotype edit.
  const margin0 = base.score.factualMargin ?? 0;
  const score = base.probes.scoreOf(b, base.scoreOptions);
  const margin = score.factualMargin ?? 0;
  const size = searchSize(score, base.objective) + (margin0 > 0 ? (baseSize * Math.max(0, margin0 - margin)) / margin0 : 0);
  return {
    dLoss: size - baseSize,
    dFactual: margin - margin0,
    kl,
    loss: size,
    objective: objectiveValue(score, base.objective) ?? 0,
    factualMargin: margin,
    factualAccuracy: score.factualAccuracy ?? 0,
    b,
    score,
  };
}

/** Edits measured through the graph hook on `evaluator`. */
export const hookEffects = (evaluator: Evaluator, base: Baseline): MeasureEdits => (edits, onProgress) => causalEffects(evaluator, base, edits, onProgress);

/** The measured effect of each edit (a list of neurons with scales; scale 0 or absent = zeroed). */
export async function causalEffects(evaluator: Evaluator, base: Baseline, edits: readonly Edit[], onProgress?: (done: number, total: number) => void): Promise<CausalEffect[]> {
  const out: CausalEffect[] = [];
  for (let first = 0; first < edits.length; first += GROUP) {
    const variants = edits.slice(first, first + GROUP).map((neurons) => interventionsFor(neurons));
    const bs = await base.probes.measureVariants(evaluator, variants);
    const kls = await base.neutral.klVariants(evaluator, base.neutralRun, variants);
    bs.forEach((b, v) => out.push(effectOf(base, b, kls[v]!)));
    onProgress?.(Math.min(first + GROUP, edits.length), edits.length);
  }
  return out;
}
