// The fast search: a fixed number of passes instead of one per candidate per round. Candidates come
// ranked by their direct effect on the objective (no pass of their own); each round measures the set so
// far plus the next 1, 2, 4 … ranked candidates, all in one batch, and walks on by the rule the searches
// share (selection.ts). A candidate that alone does not help on top of the set is dropped. What it
// cannot see, and the thorough search can: neurons that act only through later layers, and pairs that
// cancel each other's side effects.
import type { CausalEffect, MeasureEdits } from "../locate/causal.js";
import { neuronKey, type NeuronId } from "../locate/neurons.js";
import { onTopOf, searchKit, sizeLadder, type SearchBase, type SearchResult, type SelectionOptions, type SelectionStep } from "./selection.js";

/** Variants measured per round at most: the sizes tried on top of the set. */
const PER_ROUND = 5;

/** Up to `count` of `sizes` (ascending), evenly spread over them: the first and the last always. */
export function spread(sizes: readonly number[], count: number): number[] {
  if (count < 1) return [];
  if (sizes.length <= count) return [...sizes];
  if (count === 1) return [sizes[0]!];
  return [...new Set(Array.from({ length: count }, (_, j) => sizes[Math.round((j * (sizes.length - 1)) / (count - 1))]!))];
}

/** Up to `count` addition sizes from 1 to `limit`, evenly spread on a log scale, `limit` last. */
export function roundSizes(limit: number, count: number): number[] {
  return spread(sizeLadder(limit), count);
}

export async function searchRanked(effects: MeasureEdits, base: SearchBase, ranked: readonly NeuronId[], totalNeurons: number, passes: number, options: SelectionOptions = {}): Promise<SearchResult> {
  // No single-neuron spread is measured here: a step must shrink the objective on every fold, and the
  // random sets judge the chosen one afterwards.
  const kit = searchKit(effects, base, totalNeurons, options, 0);
  // Sets already measured, by their neurons: a later round's "set plus the next k" is often an earlier
  // round's "plus 2k", and is judged again for free.
  const measured = new Map<string, CausalEffect>();
  const keyOf = (set: readonly NeuronId[]) => set.map(neuronKey).sort().join(" ");
  let pool = [...ranked];
  let walked: NeuronId[] = [];
  let current = kit.start;
  const steps: SelectionStep[] = [];
  let stopped = "";
  for (let round = 1; ; round++) {
    stopped = kit.done(walked, current);
    if (stopped) break;
    if (pool.length === 0) {
      stopped = "every ranked candidate was tried";
      break;
    }
    const ladder = sizeLadder(Math.min(kit.room(walked), pool.length));
    const setOf = (k: number) => [...walked, ...pool.slice(0, k)];
    const fresh = spread(ladder.filter((k) => !measured.has(keyOf(setOf(k)))), Math.min(PER_ROUND, passes - kit.passes()));
    const sizes = ladder.filter((k) => fresh.includes(k) || measured.has(keyOf(setOf(k))));
    if (fresh.length === 0) {
      stopped = `the search spent its ${passes} passes`;
      break;
    }
    const effects = await kit.measure(fresh.map((k) => kit.withScale(setOf(k))), `round ${round}: trying the next ${fresh.join("/")} ranked ${fresh.length === 1 && fresh[0] === 1 ? "candidate" : "candidates"} ${onTopOf(walked.length)}`);
    fresh.forEach((k, i) => measured.set(keyOf(setOf(k)), effects[i]!));
    const trials = sizes.map((k) => ({ added: pool.slice(0, k), effect: measured.get(keyOf(setOf(k)))! }));
    const tried = trials.map(({ added, effect }) => kit.judge(round, current, walked, added, effect));
    steps.push(...tried);
    const next = kit.advance(tried, current);
    if (next < 0) {
      // The next candidate alone does not help on top of the set: leave it out and go on.
      if (sizes[0] === 1) {
        pool = pool.slice(1);
        continue;
      }
      stopped = "no addition's gain held on every fold";
      break;
    }
    walked = [...walked, ...trials[next]!.added];
    current = kit.pointOf(trials[next]!.effect);
    pool = pool.slice(sizes[next]!);
  }
  return { search: "fast", ...(await kit.finish(steps, stopped, [])) };
}
