// The fast search: a fixed number of passes instead of one per candidate per round. Candidates come
// ranked by their direct effect on the objective (no pass of their own); each round measures the set so
// far plus the next 1, 2, 4 … ranked candidates, all in one batch, and keeps the smallest addition with
// nearly all of the best valid gain. A candidate that on top of the set breaks the budget alone is
// dropped. What it cannot see, and the thorough search can: neurons that act only through later layers,
// and pairs that cancel each other's side effects.
import type { Baseline } from "../locate/causal.js";
import type { NeuronId } from "../locate/neurons.js";
import type { Evaluator } from "../llama/evaluator.js";
import { searchKit, type Selection, type SelectionOptions, type SelectionStep } from "./selection.js";

/** Variants measured per round at most: the sizes tried on top of the set. */
const PER_ROUND = 5;

/** Up to `count` addition sizes from 1 to `limit`: powers of two, evenly spread on a log scale, `limit` last. */
export function roundSizes(limit: number, count: number): number[] {
  if (limit < 1 || count < 1) return [];
  const ladder: number[] = [];
  for (let k = 1; k < limit; k *= 2) ladder.push(k);
  // a last power of two close to the limit (40 after 32) is a pass spent on nearly the same set
  if (ladder.length > 1 && limit < 1.5 * ladder.at(-1)!) ladder.pop();
  ladder.push(limit);
  if (ladder.length <= count) return ladder;
  if (count === 1) return [1];
  return [...new Set(Array.from({ length: count }, (_, j) => ladder[Math.round((j * (ladder.length - 1)) / (count - 1))]!))];
}

export async function searchRanked(evaluator: Evaluator, base: Baseline, ranked: readonly NeuronId[], totalNeurons: number, passes: number, options: SelectionOptions = {}): Promise<Selection> {
  // No single-neuron spread is measured here: a step must shrink the objective on every fold, and the
  // random sets judge the chosen one afterwards.
  const kit = searchKit(evaluator, base, totalNeurons, options, 0);
  let pool = [...ranked];
  let chosen: NeuronId[] = [];
  let current = kit.start;
  const steps: SelectionStep[] = [];
  let stopped = "";
  for (let round = 1; ; round++) {
    stopped = kit.done(chosen.length, current);
    if (stopped) break;
    const left = passes - kit.passes();
    const sizes = roundSizes(Math.min(kit.maxNeurons - chosen.length, pool.length), Math.min(PER_ROUND, left));
    if (pool.length === 0) {
      stopped = "every ranked candidate was tried";
      break;
    }
    if (sizes.length === 0) {
      stopped = `the search spent its ${passes} passes`;
      break;
    }
    const trials = sizes.map((k) => pool.slice(0, k));
    const effects = await kit.measure(trials.map((added) => kit.withScale([...chosen, ...added])), `round ${round}: trying the next ${sizes.join("/")} ranked candidates on top of ${chosen.length} chosen`);
    const tried = effects.map((e, t) => kit.judge(round, current, chosen.length, trials[t]!, e));
    steps.push(...tried);
    const best = kit.accept(tried, current);
    if (best < 0) {
      // The next candidate alone breaks the budget on top of the set: leave it out and go on.
      if (kit.budgetProblem(effects[0]!) !== "") {
        pool = pool.slice(1);
        continue;
      }
      stopped = "no addition passed every rule (see steps)";
      break;
    }
    chosen = [...chosen, ...trials[best]!];
    current = kit.pointOf(effects[best]!);
    pool = pool.slice(sizes[best]!);
  }
  return { search: "fast", ...(await kit.finish(chosen, current, steps, stopped, [])) };
}
