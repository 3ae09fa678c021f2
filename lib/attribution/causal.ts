// Causal attribution: zero neurons through the graph hook and measure what really changes — stereotyped
// bias and factual margin on the selection probes, KL on neutral text. Many variants (one neuron, or one
// candidate set, each) share batches, since per-sequence interventions make them independent.
import type { Evaluator } from "../llama/evaluator.js";
import type { BiasScore } from "../bias/metrics.js";
import type { NeutralRun, NeutralText } from "../bias/neutral-text.js";
import type { ProbeSet } from "../bias/probe-set.js";
import { interventionsFor, type NeuronId } from "./neurons.js";

export interface CausalEffect {
  /** Change of stereotyped bias (mean |b|, nats) on the probes; negative = less bias. */
  dBias: number;
  /** Change of factual margin (nats); negative = factual gender weakened. */
  dFactual: number;
  /** Mean KL(original ‖ edited) on the neutral text, nats. */
  kl: number;
  bias: number;
  factualMargin: number;
  factualAccuracy: number;
  /** The full score under the edit (per word, split, category). */
  score: BiasScore;
}

export interface Baseline {
  probes: ProbeSet;
  /** b per probe of the unedited model; `score` is its dataset metrics. */
  b: Float64Array;
  score: BiasScore;
  neutral: NeutralText;
  neutralRun: NeutralRun;
}

const GROUP = 16;

/** The measured effect of each edit (a list of neurons with scales; scale 0 or absent = zeroed). */
export async function causalEffects(
  evaluator: Evaluator,
  base: Baseline,
  edits: readonly (readonly (NeuronId & { scale?: number })[])[],
  onProgress?: (done: number, total: number) => void,
): Promise<CausalEffect[]> {
  const out: CausalEffect[] = [];
  for (let first = 0; first < edits.length; first += GROUP) {
    const variants = edits.slice(first, first + GROUP).map((neurons) => interventionsFor(neurons));
    const bs = await base.probes.measureVariants(evaluator, variants);
    const kls = await base.neutral.klVariants(evaluator, base.neutralRun, variants);
    bs.forEach((b, v) => {
      const score = base.probes.scoreOf(b);
      out.push({
        dBias: (score.bias ?? 0) - (base.score.bias ?? 0),
        dFactual: (score.factualMargin ?? 0) - (base.score.factualMargin ?? 0),
        kl: kls[v]!,
        bias: score.bias ?? 0,
        factualMargin: score.factualMargin ?? 0,
        factualAccuracy: score.factualAccuracy ?? 0,
        score,
      });
    });
    onProgress?.(Math.min(first + GROUP, edits.length), edits.length);
  }
  return out;
}
