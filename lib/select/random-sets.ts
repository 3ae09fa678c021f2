// Is the chosen set special? The same number of random neurons, drawn from the same layers and edited the
// same way, measured on the split the verdict is judged on: the chosen set's gain against that spread, as z
// and an empirical p. An effect a random set matches is not an effect.
import type { ScoreOptions, BiasScore } from "../measure/metrics.js";
import type { ProbeSet } from "../measure/probe-set.js";
import type { Probe } from "../measure/dataset.js";
import { interventionsFor, mean, neuronKey, std } from "../locate/neurons.js";
import type { Evaluator } from "../llama/evaluator.js";
import { objectiveSize, type ObjectiveKind } from "../measure/objective.js";
import { seededRandom } from "../random.js";
import { DEFAULTS } from "../defaults.js";
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
  /** Fewest sets measured before a clear result may end the comparison (default: all of them). */
  minSets?: number;
  /** The verdict's z threshold (default 2): twice it counts as clear. */
  minZ?: number;
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

/** The probes random sets are measured on: the judged split's stereotyped and baseline words (factual words do not enter the gain). */
export function randomSetProbe(split: "selection" | "heldout"): (p: Probe) => boolean {
  return (p) => p.split === split && p.label !== "factual";
}

/** Random sets are measured this many at a time, and at least this many: z from fewer means little. */
const GROUP = 4;
/** A z this far past the threshold (or a gain no better than random) settles the comparison early. */
const CLEAR = 2;

/**
 * The chosen set's score on every probe (what the edit is predicted to do: `selectionB`, measured by the
 * search, and the held-out probes measured here), and its gain on the judged split against random sets
 * measured on that split's objective probes only (stereotyped and baseline words; factual words do not
 * enter the gain). Gains there are computed within that subset — the original, the chosen set and the
 * random sets alike, baselines from the subset's own neutral words — so they compare like with like.
 * Sets are measured four at a time; from `minSets` on, a z beyond twice `minZ`, or a gain no better than
 * the random mean, ends the comparison early.
 */
export async function compareWithRandomSets(evaluator: Evaluator, probes: ProbeSet, original: Float64Array, chosen: readonly EditedNeuron[], selectionB: Float64Array, options: RandomSetOptions): Promise<{ chosen: BiasScore; comparison: RandomComparison }> {
  const sets = randomSetsLike(chosen, options.sets ?? 20, options.nFf, options.seed ?? DEFAULTS.seed);
  const isSelection = probes.items.map((item) => item.probe.split === "selection");
  const rest = probes.filter((p) => p.split !== "selection");
  const [restB] = rest.items.length > 0 ? await rest.measureVariants(evaluator, [interventionsFor(chosen)]) : [new Float64Array(0)];
  const all = new Float64Array(probes.items.length);
  let [j, k] = [0, 0];
  isSelection.forEach((sel, i) => (all[i] = sel ? selectionB[j++]! : restB![k++]!));

  const objectiveProbe = randomSetProbe(options.split);
  const keep = probes.items.map((item) => objectiveProbe(item.probe));
  const subset = probes.filter(objectiveProbe);
  const within = (b: Float64Array) => Float64Array.from(b.filter((_, i) => keep[i]));
  const size = (b: Float64Array) => objectiveSize(subset.scoreOf(b, options.scoreOptions), options.objective);
  const size0 = size(within(original));
  const gain = size0 - size(within(all));
  const random: number[] = [];
  const minSets = Math.min(options.minSets ?? sets.length, sets.length);
  const threshold = options.minZ ?? 2;
  const zOf = () => (std(random) > 0 ? (gain - mean(random)) / std(random) : null);
  for (let first = 0; first < sets.length; first += GROUP) {
    const bs = await subset.measureVariants(evaluator, sets.slice(first, first + GROUP).map((set) => interventionsFor(set)));
    random.push(...bs.map((b) => size0 - size(b)));
    const z = zOf();
    if (random.length >= minSets && z !== null && (z >= CLEAR * threshold || z <= 0)) break;
  }
  const sd = std(random);
  const comparison: SplitComparison = { gain, randomMean: mean(random), randomStd: sd, z: zOf(), p: (1 + random.filter((g) => g >= gain).length) / (1 + random.length), gains: random };
  return { chosen: probes.scoreOf(all, options.scoreOptions), comparison: { sets: random.length, size: chosen.length, selection: options.split === "selection" ? comparison : null, heldout: options.split === "heldout" ? comparison : null } };
}
