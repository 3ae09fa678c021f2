// Is the chosen set special? The same number of random neurons, drawn from the same layers and edited the
// same way, measured on the split the verdict is judged on: the chosen set's gain against that spread, as z
// and an empirical p. An effect a random set matches is not an effect.
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
  /** The split the verdict is judged on: the random sets are measured there. */
  split: "selection" | "heldout";
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

/**
 * The chosen set's score on every probe (what the edit is predicted to do), and its gain on the judged
 * split against random sets measured on that split's probes only (a third of a pass each, not a whole
 * one). Gains there are computed within the split — the original, the chosen set and the random sets
 * alike, baselines from the split's own neutral words — so they compare like with like.
 */
export async function compareWithRandomSets(evaluator: Evaluator, probes: ProbeSet, original: Float64Array, chosen: readonly EditedNeuron[], options: RandomSetOptions): Promise<{ chosen: BiasScore; comparison: RandomComparison }> {
  const sets = randomSetsLike(chosen, options.sets ?? 20, options.nFf, options.seed ?? 1);
  const [all] = await probes.measureVariants(evaluator, [interventionsFor(chosen)]);
  const keep = probes.items.map((item) => item.probe.split === options.split);
  const subset = probes.filter((p) => p.split === options.split);
  const within = (b: Float64Array) => Float64Array.from(b.filter((_, i) => keep[i]));
  const size = (b: Float64Array) => objectiveSize(subset.scoreOf(b, options.scoreOptions), options.objective);
  const sizes: number[] = [];
  for (let first = 0; first < sets.length; first += 8) {
    const bs = await subset.measureVariants(evaluator, sets.slice(first, first + 8).map((set) => interventionsFor(set)));
    sizes.push(...bs.map(size));
  }
  const size0 = size(within(original));
  const gain = size0 - size(within(all!));
  const random = sizes.map((s) => size0 - s);
  const sd = std(random);
  const comparison: SplitComparison = { gain, randomMean: mean(random), randomStd: sd, z: sd > 0 ? (gain - mean(random)) / sd : null, p: (1 + random.filter((g) => g >= gain).length) / (1 + random.length), gains: random };
  return { chosen: probes.scoreOf(all!, options.scoreOptions), comparison: { sets: sets.length, size: chosen.length, selection: options.split === "selection" ? comparison : null, heldout: options.split === "heldout" ? comparison : null } };
}
