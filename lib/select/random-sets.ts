// Is the chosen set special? The same number of random neurons, drawn from the same layers and edited the
// same way, measured on every probe (selection and held-out) in shared batches: the chosen set's gain
// against that spread, as z and an empirical p, per split. An effect a random set matches is not an effect.
import type { ScoreOptions, BiasScore } from "../measure/metrics.js";
import type { ProbeSet } from "../measure/probe-set.js";
import { interventionsFor, mean, neuronKey, std } from "../locate/neurons.js";
import type { Evaluator } from "../llama/evaluator.js";
import { objectiveSize, type ObjectiveKind } from "./objective.js";
import { seededRandom } from "../random.js";
import type { EditedNeuron } from "./selection.js";

export interface SplitComparison {
  /** Shrink of |objective| on this split (nats) by the chosen set; > 0 = less bias. */
  gain: number;
  /** Mean and spread of the shrink by the random sets. */
  randomMean: number;
  randomStd: number;
  /** (gain − randomMean) / randomStd; null when the random sets do not vary. */
  z: number | null;
  /** Share of random sets that did at least as well (with the chosen one counted, so never 0). */
  p: number;
  /** Each random set's shrink, in draw order. */
  gains: number[];
}

export interface RandomComparison {
  sets: number;
  size: number;
  selection: SplitComparison | null;
  heldout: SplitComparison | null;
}

export interface RandomSetOptions {
  sets?: number;
  seed?: number;
  nFf: number;
  objective: ObjectiveKind;
  scoreOptions: ScoreOptions;
}

/** Random sets like `chosen` (same size, layers and scales), disjoint from it. */
export function randomSetsLike(chosen: readonly EditedNeuron[], count: number, nFf: number, seed: number): EditedNeuron[][] {
  const random = seededRandom(seed);
  const taken = new Set(chosen.map(neuronKey));
  return Array.from({ length: count }, () => {
    const used = new Set(taken);
    return chosen.map(({ layer, scale }) => {
      for (;;) {
        const n = { layer, index: Math.floor(random() * nFf), scale };
        if (used.has(neuronKey(n))) continue;
        used.add(neuronKey(n));
        return n;
      }
    });
  });
}

/** Scores of the chosen set and of the random sets on every probe; the chosen one first. */
export async function compareWithRandomSets(evaluator: Evaluator, probes: ProbeSet, before: BiasScore, chosen: readonly EditedNeuron[], options: RandomSetOptions): Promise<{ chosen: BiasScore; comparison: RandomComparison }> {
  const sets = randomSetsLike(chosen, options.sets ?? 20, options.nFf, options.seed ?? 1);
  const scores: BiasScore[] = [];
  const all = [chosen, ...sets];
  for (let first = 0; first < all.length; first += 8) {
    const bs = await probes.measureVariants(evaluator, all.slice(first, first + 8).map((set) => interventionsFor(set)));
    for (const b of bs) scores.push(probes.scoreOf(b, options.scoreOptions));
  }
  const split = (name: "selection" | "heldout"): SplitComparison | null => {
    if (before.splits[name].counts.stereotyped === 0 && options.objective === "stereotype") return null;
    const size0 = objectiveSize(before.splits[name], options.objective);
    const gains = scores.map((s) => size0 - objectiveSize(s.splits[name], options.objective));
    const [gain, ...random] = gains as [number, ...number[]];
    const sd = std(random);
    return { gain, randomMean: mean(random), randomStd: sd, z: sd > 0 ? (gain - mean(random)) / sd : null, p: (1 + random.filter((g) => g >= gain).length) / (1 + random.length), gains: random };
  };
  return { chosen: scores[0]!, comparison: { sets: sets.length, size: chosen.length, selection: split("selection"), heldout: split("heldout") } };
}
