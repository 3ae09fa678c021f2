// Chooses the set of neurons to edit. Single neurons are weak on real models (each moves the objective
// less than a random neuron's spread, yet a dozen together narrow it by a third) and compensate each other
// on planted ones (zeroing one alone misleads), so the set is grown in rounds, every candidate measured
// *conditional on the set so far*: each round re-screens the remaining candidates on top of the current
// set (one batched evaluation), then tries adding the best 1, 2, 4, 8 … of them at once and keeps the
// largest gain that holds on every fold of the selection probes (halves of the words, halves of the
// templates), clears the spread of random neurons, and stays inside the user's damage budget.
import { causalEffects, type Baseline, type CausalEffect, type Edit } from "../locate/causal.js";
import { DEFAULT_MAX_KL, DEFAULT_MIN_FACTUAL_RATIO, type LocatedNeuron } from "../locate/locate.js";
import { byPosition, neuronKey, type NeuronId } from "../locate/neurons.js";
import { groupMetrics, wordScores, type ProbeKey } from "../measure/metrics.js";
import type { Evaluator } from "../llama/evaluator.js";
import { objectiveValue, searchSize } from "./objective.js";

/** Strongest over-budget candidates whose pairs are tried each round. */
const PAIRED = 6;

export interface SelectionOptions {
  /** Largest mean KL(original ‖ edited) on neutral text, nats. Default 0.02. */
  maxKl?: number;
  /** Smallest share of the original factual margin to keep. Default 0.8. */
  minFactualRatio?: number;
  /** Most neurons to edit. Default 2% of the model's FFN neurons. */
  maxNeurons?: number;
  /** Scale applied to chosen neurons (0 = zero them). Default 0. */
  scale?: number;
  /**
   * Smallest gain (nats) a step adding k neurons must bring, per √k. Default: twice the spread of a
   * single random neuron's effect, so a step must beat what k random neurons would do.
   */
  minGain?: number;
  /** Stop once the objective is this share of its original size or less. Default 0.02. */
  stopAt?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface EditedNeuron extends NeuronId {
  scale: number;
}

export interface SelectionStep {
  round: number;
  /** The neurons this step adds to the set. */
  added: NeuronId[];
  accepted: boolean;
  reason: string;
  /** |objective| on the selection probes with the set plus these neurons. */
  bias: number;
  kl: number;
  factualMargin: number;
  /** Gain on each fold (halves of the words, halves of the templates). */
  foldGains: number[];
}

export interface ParetoPoint {
  neurons: number;
  scale: number;
  bias: number;
  kl: number;
  chosen: boolean;
}

/** How the set was searched: every candidate screened alone and re-screened on top of the set each round, or a few rounds over candidates ranked by direct effect. */
export type SearchKind = "thorough" | "fast";

export interface Selection {
  search: SearchKind;
  neurons: EditedNeuron[];
  steps: SelectionStep[];
  /** Non-dominated (objective, KL) points among the sets measured, the chosen one marked. */
  pareto: ParetoPoint[];
  budget: { maxKl: number; minFactualRatio: number; maxNeurons: number; minGain: number };
  /** The chosen set as measured on the selection probes (|objective|, KL, factual). */
  effect: { bias: number; objective: number; kl: number; factualMargin: number; factualAccuracy: number };
  /** Why the search stopped. */
  stopped: string;
  /** Probe passes spent (one pass = the selection probes and the neutral text under one edit). */
  passes: number;
}

/** Folds of the selection probes: two halves of the words within each label and direction, two halves of the templates. */
function folds(probes: readonly ProbeKey[]): number[][] {
  const rank = new Map<string, number>();
  const counters = new Map<string, number>();
  for (const p of probes) {
    if (rank.has(p.word)) continue;
    const group = `${p.label}:${p.direction ?? ""}`;
    const k = counters.get(group) ?? 0;
    rank.set(p.word, k);
    counters.set(group, k + 1);
  }
  const templates = [...new Set(probes.map((p) => p.template ?? ""))];
  const all = probes.map((_, i) => i);
  // Baseline probes stay in every word fold: b0 belongs to the template, not to a half of the words.
  const wordFold = (f: number) => all.filter((i) => probes[i]!.baseline || rank.get(probes[i]!.word)! % 2 === f);
  const templateFold = (f: number) => all.filter((i) => templates.indexOf(probes[i]!.template ?? "") % 2 === f);
  return templates.length >= 2 ? [wordFold(0), wordFold(1), templateFold(0), templateFold(1)] : [wordFold(0), wordFold(1)];
}

/** What a search returns: the Selection, and b per selection probe under the chosen set (measured on the way, so the prediction need not measure it again). */
export interface SearchResult extends Selection {
  selectionB: Float64Array;
}

/** Where a search stands: what the set chosen so far measures. */
export interface SearchPoint {
  /** b per selection probe under the set. */
  b: Float64Array;
  bias: number;
  objective: number;
  kl: number;
  factualMargin: number;
  factualAccuracy: number;
  folds: number[];
}

/**
 * What every search strategy shares: the damage budget, the folds, the rules a step must pass, the sets
 * measured (for the Pareto front) and the passes spent; `finish` turns the chosen set into a Selection.
 */
export function searchKit(evaluator: Evaluator, base: Baseline, totalNeurons: number, options: SelectionOptions, defaultMinGain: number) {
  const maxKl = options.maxKl ?? DEFAULT_MAX_KL;
  const minFactualRatio = options.minFactualRatio ?? DEFAULT_MIN_FACTUAL_RATIO;
  const maxNeurons = options.maxNeurons ?? Math.max(1, Math.floor(0.02 * totalNeurons));
  const scale = options.scale ?? 0;
  const minGain = options.minGain ?? defaultMinGain;
  const progress = options.onProgress ?? (() => undefined);
  const baseMargin = base.score.factualMargin ?? 0;
  const baseAccuracy = base.score.factualAccuracy ?? 0;
  const keys = base.probes.items.map((item) => item.probe);
  const foldIndex = folds(keys);
  const foldSizes = (b: Float64Array) =>
    foldIndex.map((idx) => searchSize(groupMetrics(wordScores(idx.map((i) => keys[i]!), idx.map((i) => b[i]!), base.scoreOptions)), base.objective));

  let passes = 0;
  const points: Omit<ParetoPoint, "chosen">[] = [];
  const measure = async (edits: readonly Edit[], stage: string): Promise<CausalEffect[]> => {
    passes += edits.length;
    return causalEffects(evaluator, base, edits, (done, total) => progress(stage, done, total));
  };
  const withScale = (neurons: readonly NeuronId[]): EditedNeuron[] => neurons.map(({ layer, index }) => ({ layer, index, scale }));
  /** What an edit breaks in the budget ("" = nothing); factual accuracy is checked where it was measured. */
  const budgetProblem = (e: { kl: number; factualMargin: number; factualAccuracy?: number }): string => {
    if (e.kl > maxKl) return `KL ${e.kl.toPrecision(3)} would exceed the budget ${maxKl}`;
    if (baseMargin > 0 && e.factualMargin < minFactualRatio * baseMargin) return `factual margin ${e.factualMargin.toPrecision(3)} would fall below ${minFactualRatio} × ${baseMargin.toPrecision(3)}`;
    if (e.factualAccuracy !== undefined && e.factualAccuracy < baseAccuracy) return `factual accuracy would drop to ${e.factualAccuracy.toPrecision(3)}`;
    return "";
  };
  const pointOf = (e: { bias: number; objective: number; kl: number; factualMargin: number; factualAccuracy: number; b: Float64Array }): SearchPoint =>
    ({ b: e.b, bias: e.bias, objective: e.objective, kl: e.kl, factualMargin: e.factualMargin, factualAccuracy: e.factualAccuracy, folds: foldSizes(e.b) });
  const start = pointOf({ ...base.score, bias: searchSize(base.score, base.objective), objective: objectiveValue(base.score, base.objective) ?? 0, kl: 0, factualMargin: baseMargin, factualAccuracy: baseAccuracy, b: base.b });

  /** One tried addition to the set, judged by every rule a step must pass; a valid one joins the front. */
  const judge = (round: number, current: SearchPoint, chosenCount: number, added: NeuronId[], e: CausalEffect): SelectionStep => {
    const foldGains = foldSizes(e.b).map((s, f) => current.folds[f]! - s);
    const gain = current.bias - e.bias;
    let reason = budgetProblem(e);
    if (!reason && !(gain > 0 && gain >= minGain * Math.sqrt(added.length))) reason = `gain ${gain.toPrecision(3)} is below ${(minGain * Math.sqrt(added.length)).toPrecision(3)}, what ${added.length} random neuron(s) could do`;
    // A fold may stand still, not go back by more than a tenth of what the step gains overall.
    if (!reason && foldGains.some((g) => !(g >= -0.1 * gain))) reason = `the gain does not hold on every fold (${foldGains.map((g) => g.toPrecision(2)).join(", ")})`;
    if (!reason) points.push({ neurons: chosenCount + added.length, scale, bias: e.bias, kl: e.kl });
    return { round, added, accepted: false, reason, bias: e.bias, kl: e.kl, factualMargin: e.factualMargin, foldGains };
  };

  /**
   * The smallest addition that brings nearly all (90%) of the best valid gain, marked accepted; −1 when
   * none is valid. Neurons that ride along for a sliver of gain cost KL and slots and fit the selection
   * words rather than the bias.
   */
  const accept = (tried: readonly SelectionStep[], current: SearchPoint): number => {
    const valid = tried.map((step) => (step.reason === "" ? current.bias - step.bias : -Infinity));
    const bestGain = Math.max(...valid);
    if (!(bestGain > -Infinity)) return -1;
    const order = valid.map((_, t) => t).sort((a, b) => tried[a]!.added.length - tried[b]!.added.length || valid[b]! - valid[a]!);
    const best = order.find((t) => valid[t]! >= 0.9 * bestGain)!;
    const step = tried[best]!;
    step.accepted = true;
    step.reason = `objective ${current.bias.toPrecision(4)} → ${step.bias.toPrecision(4)}, KL ${step.kl.toPrecision(3)}`;
    return best;
  };

  /** The Selection for the chosen set, after measuring it at the `gentler` scales (for the trade-off a user may prefer). */
  const finish = async (chosen: readonly NeuronId[], current: SearchPoint, steps: SelectionStep[], stopped: string, gentler: readonly number[]): Promise<Omit<SearchResult, "search">> => {
    if (chosen.length > 0 && scale === 0 && gentler.length > 0) {
      const effects = await measure(gentler.map((s) => chosen.map(({ layer, index }) => ({ layer, index, scale: s }))), "the chosen set at gentler scales");
      effects.forEach((e, k) => points.push({ neurons: chosen.length, scale: gentler[k]!, bias: e.bias, kl: e.kl }));
    }
    const dominated = (p: (typeof points)[number]) => points.some((q) => q !== p && q.bias <= p.bias && q.kl <= p.kl && (q.bias < p.bias || q.kl < p.kl));
    const isChosen = (p: (typeof points)[number]) => p.neurons === chosen.length && p.scale === scale && p.bias === current.bias;
    const pareto = points
      .filter((p) => isChosen(p) || !dominated(p))
      .map((p) => ({ ...p, chosen: isChosen(p) }))
      .sort((a, b) => a.kl - b.kl || a.bias - b.bias);
    return {
      neurons: withScale(chosen).sort(byPosition),
      steps,
      pareto,
      budget: { maxKl, minFactualRatio, maxNeurons, minGain },
      effect: { bias: current.bias, objective: current.objective, kl: current.kl, factualMargin: current.factualMargin, factualAccuracy: current.factualAccuracy },
      stopped,
      passes,
      selectionB: current.b,
    };
  };

  /** Why a search must stop before another round ("" = it may go on). */
  const done = (chosenCount: number, current: SearchPoint): string => {
    if (chosenCount >= maxNeurons) return `the set reached the most neurons allowed (${maxNeurons})`;
    if (current.bias <= (options.stopAt ?? 0.02) * start.bias) return "the objective is removed on the selection probes";
    return "";
  };
  return { maxNeurons, start, measure, withScale, budgetProblem, pointOf, judge, accept, finish, done, passes: () => passes };
}

/**
 * The thorough search: every candidate re-screened on top of the set each round (a pass per candidate
 * per round), from the locator's single-neuron effects.
 */
export async function selectNeurons(evaluator: Evaluator, base: Baseline, located: readonly LocatedNeuron[], totalNeurons: number, singleSpread: number, options: SelectionOptions = {}): Promise<SearchResult> {
  const kit = searchKit(evaluator, base, totalNeurons, options, 2 * singleSpread);
  const { maxNeurons, measure, withScale, budgetProblem } = kit;
  const baseMargin = base.score.factualMargin ?? 0;
  let chosen: NeuronId[] = [];
  let current = kit.start;
  const steps: SelectionStep[] = [];
  // Single-neuron effects from the locator are the conditional effects on the empty set.
  let conditional = new Map<string, { neuron: NeuronId; bias: number; kl: number; ok: boolean }>(
    located.map((n) => [neuronKey(n), { neuron: n, bias: current.bias + n.causal.dBias, kl: n.causal.kl, ok: budgetProblem({ kl: n.causal.kl, factualMargin: baseMargin + n.causal.dFactual }) === "" }]),
  );
  let stopped = "";
  for (let round = 1; ; round++) {
    stopped = kit.done(chosen.length, current);
    if (stopped) break;
    const ranked = [...conditional.values()].filter((c) => c.ok && c.bias < current.bias).sort((a, b) => a.bias - b.bias || byPosition(a.neuron, b.neuron));
    // Candidates that would shrink the objective but alone break the budget may be half of a compensating
    // pair (planted neurons that cancel each other's side effects): pairs of the strongest are tried too.
    const blocked = [...conditional.values()].filter((c) => !c.ok && c.bias < current.bias).sort((a, b) => a.bias - b.bias || byPosition(a.neuron, b.neuron)).slice(0, PAIRED);
    const pairs = maxNeurons - chosen.length >= 2 ? blocked.flatMap((a, i) => blocked.slice(i + 1).map((b) => [a.neuron, b.neuron])) : [];
    if (ranked.length === 0 && pairs.length === 0) {
      stopped = "no remaining candidate shrinks the objective on top of the set within the budget";
      break;
    }
    const limit = Math.min(maxNeurons - chosen.length, ranked.length);
    const sizes = limit === 0 ? [] : [...new Set([1, 2, 4, 8, 16, 32, 64, 128, 256, 512].filter((k) => k < limit).concat(limit))];
    const trials = [...sizes.map((k) => ranked.slice(0, k).map((c) => c.neuron)), ...pairs];
    const effects = await measure(
      trials.map((added) => withScale([...chosen, ...added])),
      `round ${round}: trying ${[sizes.length ? `the best ${sizes.join("/")} candidates` : "", pairs.length ? `${pairs.length} pairs of over-budget ones` : ""].filter(Boolean).join(" and ")} on top of ${chosen.length} chosen`,
    );
    const tried = effects.map((e, t) => kit.judge(round, current, chosen.length, trials[t]!, e));
    steps.push(...tried);
    const best = kit.accept(tried, current);
    if (best < 0) {
      stopped = "no addition passed every rule (see steps)";
      break;
    }
    chosen = [...chosen, ...trials[best]!];
    current = kit.pointOf(effects[best]!);
    const taken = new Set(chosen.map(neuronKey));
    const remaining = [...conditional.values()].filter((c) => !taken.has(neuronKey(c.neuron))).map((c) => c.neuron);
    if (remaining.length === 0 || chosen.length >= maxNeurons) continue;
    const rescreen = await measure(
      remaining.map((n) => withScale([...chosen, n])),
      `round ${round}: re-screening ${remaining.length} candidates on top of ${chosen.length} chosen`,
    );
    conditional = new Map(remaining.map((n, k) => [neuronKey(n), { neuron: n, bias: rescreen[k]!.bias, kl: rescreen[k]!.kl, ok: budgetProblem(rescreen[k]!) === "" }]));
  }
  return { search: "thorough", ...(await kit.finish(chosen, current, steps, stopped, [0.25, 0.5])) };
}
