// Chooses the set of neurons to edit. Single neurons are weak on real models (each moves the objective
// less than a random neuron's spread, yet a dozen together narrow it by a third) and compensate each other
// on planted ones (zeroing one alone misleads), so the set is grown in rounds, every candidate measured
// *conditional on the set so far*: each round re-screens the remaining candidates on top of the current
// set (one batched evaluation), then tries adding the best 1, 2, 4, 8 … of them at once.
//
// The path the search walks never looks at the KL budget: each round it moves to the smallest tried
// addition that brings nearly the most any addition with a good gain per nat of KL brings, as long as the
// gain holds on every fold of the selection probes (halves of the words, halves of the templates), clears
// both the spread of random neurons and a sliver of the objective, and keeps factual gender. The KL
// budget only says which set the walk went through is chosen: the one that leaves the least objective
// within it. So a larger --max-kl chooses from the same sets or more, and never returns a worse one.
// (--max-neurons also bounds how many neurons a step may add, so the walk stays within reach of it.)
import type { Baseline, CausalEffect, Edit, EffectBase, MeasureEdits } from "../locate/causal.js";
import type { LocatedNeuron } from "../locate/locate.js";
import { DEFAULTS, type DamageBudget } from "../defaults.js";
import { byPosition, neuronKey, type NeuronId } from "../locate/neurons.js";
import { groupMetrics, wordScores, type ProbeKey } from "../measure/metrics.js";
import { objectiveValue, searchSize } from "../measure/objective.js";
import { count } from "../text.js";

/** Strongest candidates that alone dim factual gender (or cost too much KL) whose pairs are tried each round. */
const PAIRED = 6;

/** A candidate whose gain per nat of KL is this share of the best candidate's or less is not ranked (pairs only). */
const EXPENSIVE = 0.05;

/**
 * KL below which a step counts as free when its gain per nat of KL is compared (nats): a twentieth of the
 * default budget. Fixed, not a share of the user's budget: the path must not depend on it.
 */
const KL_FLOOR = 1e-3;

/** The addition sizes worth trying: powers of two from 1, then `limit` itself. */
export function sizeLadder(limit: number): number[] {
  if (limit < 1) return [];
  const ladder: number[] = [];
  for (let k = 1; k < limit; k *= 2) ladder.push(k);
  // a last power of two close to the limit (32 before 40) is a pass spent on nearly the same set
  if (ladder.length > 1 && limit < 1.5 * ladder.at(-1)!) ladder.pop();
  ladder.push(limit);
  return ladder;
}

/** Smallest gain a step must bring by default, per √k neurons, as a share of the original objective. */
const MIN_STEP_SHARE = 0.01;

export interface SelectionOptions extends Partial<DamageBudget> {
  /** Scale applied to chosen neurons (0 = zero them). Default 0. */
  scale?: number;
  /**
   * Smallest gain (nats) a step adding k neurons must bring, per √k. Default: twice the spread of a
   * single random neuron's effect (a step must beat what k random neurons would do), and at least 1% of
   * the objective (smaller steps fit the selection words rather than the bias, and end the walk).
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
  /** The search moved on from this set (the next round builds on it). */
  accepted: boolean;
  /** Why the set cannot be chosen ("" = it can): a gain that does not hold, or the budget it breaks. */
  reason: string;
  /** The search's loss (what it minimises, nats) on the selection probes with the set plus these neurons. */
  loss: number;
  kl: number;
  factualMargin: number;
  /** Gain on each fold (halves of the words, halves of the templates). */
  foldGains: number[];
}

export interface ParetoPoint {
  neurons: number;
  scale: number;
  /** The search's loss on the selection probes. */
  loss: number;
  kl: number;
  chosen: boolean;
}

/**
 * How the set was searched: a few rounds over candidates ranked by direct effect ("fast"); every
 * candidate screened alone and re-screened on top of the set each round ("thorough"); the same over four
 * times the candidates, the chosen set also measured at more scales ("exhaustive": the reference that
 * spends what it needs, to judge the others by).
 */
export type SearchKind = "thorough" | "fast" | "exhaustive";

export interface Selection {
  search: SearchKind;
  neurons: EditedNeuron[];
  steps: SelectionStep[];
  /** Non-dominated (objective, KL) points among the sets measured, the chosen one marked. */
  pareto: ParetoPoint[];
  /** The damage budget the set was chosen within, and the least gain a step had to bring. */
  budget: DamageBudget & { minGain: number };
  /** What the search minimises on the selection probes before any edit (nats). */
  startLoss: number;
  /** The chosen set as measured on the selection probes (the loss, the signed objective, KL, factual). */
  effect: { loss: number; objective: number; kl: number; factualMargin: number; factualAccuracy: number };
  /** Why the search stopped. */
  stopped: string;
  /**
   * The sets the walk went through, as indices into `steps` (each the set walked before its round plus
   * its `added`): the sets the chosen one was picked from, whatever the budget.
   */
  walk: number[];
  /** Probe passes spent (one pass = the selection probes and the neutral text under one edit). */
  passes: number;
}

/** Where a round's trials start from, for progress labels. */
export const onTopOf = (walked: number): string => (walked === 0 ? "on the unedited model" : `on top of the ${count(walked, "neuron")} chosen so far`);

/** The set a step measured: what the walk had before the step's round, plus the step's own addition. */
export function stepSet(steps: readonly SelectionStep[], step: SelectionStep): NeuronId[] {
  return [...steps.filter((s) => s.accepted && s.round < step.round).flatMap((s) => s.added), ...step.added];
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

/** What a search starts from: the unedited model's b per probe and score (a Baseline is one). */
export type SearchBase = EffectBase & Pick<Baseline, "b">;

/** Where a search stands: what the set chosen so far measures. */
export interface SearchPoint {
  /** b per selection probe under the set. */
  b: Float64Array;
  loss: number;
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
export function searchKit(effects: MeasureEdits, base: SearchBase, totalNeurons: number, options: SelectionOptions, defaultMinGain: number, minStepShare = MIN_STEP_SHARE) {
  const maxKl = options.maxKl ?? DEFAULTS.maxKl;
  const minFactualRatio = options.minFactualRatio ?? DEFAULTS.minFactualRatio;
  const maxNeurons = options.maxNeurons ?? Math.max(1, Math.floor(0.02 * totalNeurons));
  const scale = options.scale ?? 0;
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
    return effects(edits, (done, total) => progress(stage, done, total));
  };
  const withScale = (neurons: readonly NeuronId[]): EditedNeuron[] => neurons.map(({ layer, index }) => ({ layer, index, scale }));
  /** What an edit does to factual gender beyond the budget ("" = nothing); accuracy is checked where it was measured. */
  const factualProblem = (e: { factualMargin: number; factualAccuracy?: number }): string => {
    if (baseMargin > 0 && e.factualMargin < minFactualRatio * baseMargin) return `factual margin ${e.factualMargin.toPrecision(3)} would fall below ${minFactualRatio} × ${baseMargin.toPrecision(3)}`;
    if (e.factualAccuracy !== undefined && e.factualAccuracy < baseAccuracy) return `factual accuracy would drop to ${e.factualAccuracy.toPrecision(3)}`;
    return "";
  };
  /** What an edit breaks in the damage budget ("" = nothing). */
  const budgetProblem = (e: { kl: number; factualMargin: number; factualAccuracy?: number }): string =>
    e.kl > maxKl ? `KL ${e.kl.toPrecision(3)} would exceed the budget ${maxKl}` : factualProblem(e);
  const pointOf = (e: { loss: number; objective: number; kl: number; factualMargin: number; factualAccuracy: number; b: Float64Array }): SearchPoint =>
    ({ b: e.b, loss: e.loss, objective: e.objective, kl: e.kl, factualMargin: e.factualMargin, factualAccuracy: e.factualAccuracy, folds: foldSizes(e.b) });
  const start = pointOf({ ...base.score, loss: searchSize(base.score, base.objective), objective: objectiveValue(base.score, base.objective) ?? 0, kl: 0, factualMargin: baseMargin, factualAccuracy: baseAccuracy, b: base.b });
  const minGain = options.minGain ?? Math.max(defaultMinGain, minStepShare * start.loss);

  type Measured = { step: SelectionStep; neurons: NeuronId[]; point: SearchPoint; within: boolean };
  /** What the tried sets the walk may go to measured, until their round is over. */
  const walkable = new Map<SelectionStep, Measured>();
  /**
   * The sets the walk went through (its steps, and the smaller additions each step begins with): those
   * the search may choose. Not every tried set: the walk's own rule keeps out the larger additions whose
   * neurons ride along for a sliver, and which sets compete is then fixed by the walk, never by the budget.
   */
  const walked: Measured[] = [];
  /** What a set may not be ("" = nothing): a gain below what random neurons do, or one that does not hold on every fold. */
  const gainProblem = (current: SearchPoint, added: readonly NeuronId[], e: CausalEffect, foldGains: readonly number[]): string => {
    const gain = current.loss - e.loss;
    if (!(gain > 0 && gain >= minGain * Math.sqrt(added.length))) return `gain ${gain.toPrecision(3)} is below ${(minGain * Math.sqrt(added.length)).toPrecision(3)}, the least a step of ${count(added.length, "neuron")} must bring`;
    // A fold may stand still, not go back by more than a tenth of what the step gains overall.
    if (foldGains.some((g) => !(g >= -0.1 * gain))) return `the gain does not hold on every fold (${foldGains.map((g) => g.toPrecision(2)).join(", ")})`;
    return "";
  };

  /** One tried addition to the set: whether its gain holds (then it may be walked to) and whether it fits the budget (then it may be chosen). */
  const judge = (round: number, current: SearchPoint, chosen: readonly NeuronId[], added: NeuronId[], e: CausalEffect): SelectionStep => {
    const point = pointOf(e);
    const foldGains = point.folds.map((s, f) => current.folds[f]! - s);
    const size = chosen.length + added.length;
    const gain = gainProblem(current, added, e, foldGains);
    const budget = gain ? "" : size > maxNeurons ? `${size} neurons would exceed the most allowed (${maxNeurons})` : budgetProblem(e);
    const step: SelectionStep = { round, added, accepted: false, reason: gain || budget, loss: e.loss, kl: e.kl, factualMargin: e.factualMargin, foldGains };
    if (!gain) {
      // The walk may go where the gain holds and factual gender is kept (the specificity guard, not a
      // damage budget: a set that dims gender as a whole is no step toward a stereotype edit), whatever
      // the set's KL or size.
      if (!factualProblem(e)) walkable.set(step, { step, neurons: [...chosen, ...added], point, within: budget === "" });
      if (!budget) points.push({ neurons: size, scale, loss: e.loss, kl: e.kl });
    }
    return step;
  };

  /**
   * Where the walk goes next, whatever the KL or neuron budget: of the tried sets it may go to whose gain
   * per nat of KL is within half of the best, the smallest addition that brings 90% of the most any of them
   * removes (neurons that ride along for a sliver cost KL and slots, and fit the selection words rather
   * than the bias). −1 when none holds.
   */
  const advance = (tried: readonly SelectionStep[], current: SearchPoint): number => {
    const gain = (step: SelectionStep) => current.loss - step.loss;
    const rate = tried.map((step) => (walkable.has(step) ? rateOf(step, current) : -Infinity));
    const bestRate = Math.max(...rate);
    if (!(bestRate > -Infinity)) {
      walkable.clear();
      return -1;
    }
    const efficient = tried.map((_, t) => t).filter((t) => rate[t]! >= 0.5 * bestRate);
    const most = Math.max(...efficient.map((t) => gain(tried[t]!)));
    const next = efficient.filter((t) => gain(tried[t]!) >= 0.9 * most).sort((a, b) => tried[a]!.added.length - tried[b]!.added.length || tried[a]!.loss - tried[b]!.loss)[0]!;
    const step = tried[next]!;
    step.accepted = true;
    // The smaller tried additions that the step's own begins with lie on the walk too: it passed through
    // them on its way (the ranked candidates are added in order), so they may be chosen as well.
    const on = (t: SelectionStep) => t === step || (t.added.length < step.added.length && t.added.every((n, i) => neuronKey(n) === neuronKey(step.added[i]!)));
    for (const t of tried) if (walkable.has(t) && on(t)) walked.push(walkable.get(t)!);
    walkable.clear();
    return next;
  };

  /** The chosen set: of the sets the walk went through, the one within the budget that leaves the least (fewest neurons on a tie). */
  const choice = (): { neurons: NeuronId[]; point: SearchPoint } => {
    let best: { neurons: NeuronId[]; point: SearchPoint } = { neurons: [], point: start };
    for (const v of walked) if (v.within && (v.point.loss < best.point.loss || (v.point.loss === best.point.loss && v.neurons.length < best.neurons.length))) best = v;
    return best;
  };

  /** The Selection for the chosen set, after measuring it at the `gentler` scales (for the trade-off a user may prefer). */
  const finish = async (steps: SelectionStep[], stopped: string, gentler: readonly number[]): Promise<Omit<SearchResult, "search">> => {
    const { neurons: chosen, point: current } = choice();
    if (chosen.length > 0 && scale === 0 && gentler.length > 0) {
      const effects = await measure(gentler.map((s) => chosen.map(({ layer, index }) => ({ layer, index, scale: s }))), "the chosen set at gentler scales");
      effects.forEach((e, k) => points.push({ neurons: chosen.length, scale: gentler[k]!, loss: e.loss, kl: e.kl }));
    }
    const dominated = (p: (typeof points)[number]) => points.some((q) => q !== p && q.loss <= p.loss && q.kl <= p.kl && (q.loss < p.loss || q.kl < p.kl));
    const isChosen = (p: (typeof points)[number]) => p.neurons === chosen.length && p.scale === scale && p.loss === current.loss;
    const pareto = points
      .filter((p) => isChosen(p) || !dominated(p))
      .map((p) => ({ ...p, chosen: isChosen(p) }))
      .sort((a, b) => a.kl - b.kl || a.loss - b.loss);
    return {
      neurons: withScale(chosen).sort(byPosition),
      steps,
      pareto,
      budget: { maxKl, minFactualRatio, maxNeurons, minGain },
      startLoss: start.loss,
      effect: { loss: current.loss, objective: current.objective, kl: current.kl, factualMargin: current.factualMargin, factualAccuracy: current.factualAccuracy },
      stopped,
      passes,
      walk: walked.map((w) => steps.indexOf(w.step)),
      selectionB: current.b,
    };
  };

  /**
   * Why the walk must stop before another round ("" = it may go on). Never the KL budget: the walk may
   * pass through a set that breaks it on its way to better ones, and must be the same walk whatever it is.
   */
  const done = (walked: readonly NeuronId[], current: SearchPoint): string => {
    if (walked.length >= maxNeurons) return `the set reached the most neurons allowed (${maxNeurons})`;
    if (current.loss <= (options.stopAt ?? DEFAULTS.stopAt) * start.loss) return "the objective is removed on the selection probes";
    return "";
  };
  /** How many neurons a step may still add: the neuron budget bounds the walk's steps, so a larger one may walk elsewhere (the KL budget never does). */
  const room = (walked: readonly NeuronId[]) => maxNeurons - walked.length;
  return { start, measure, withScale, pointOf, factualProblem, room, judge, advance, finish, done, passes: () => passes };
}

/** Gain per nat of KL of a measured set on top of the current one (gain alone where the KL added is below the floor). */
function rateOf(c: { loss: number; kl: number }, current: { loss: number; kl: number }): number {
  return (current.loss - c.loss) / Math.max(c.kl - current.kl, KL_FLOOR);
}

/** Candidates by gain per nat of KL on top of the set, best first; only those that shrink the objective. */
export function byRate<T extends { neuron: NeuronId; loss: number; kl: number }>(candidates: Iterable<T>, current: { loss: number; kl: number }): T[] {
  return [...candidates].filter((c) => c.loss < current.loss).sort((a, b) => rateOf(b, current) - rateOf(a, current) || byPosition(a.neuron, b.neuron));
}

/**
 * The thorough search: every candidate re-screened on top of the set each round (a pass per candidate
 * per round), from the locator's single-neuron effects; each round tries the best 1, 2, 4 … by gain per
 * nat of KL.
 */
export async function selectNeurons(effects: MeasureEdits, base: SearchBase, located: readonly Pick<LocatedNeuron, "layer" | "index" | "causal">[], totalNeurons: number, singleSpread: number, options: SelectionOptions = {}, search: Exclude<SearchKind, "fast"> = "thorough"): Promise<SearchResult> {
  // The reference walks on while a step beats random neurons, however small: it maps the frontier.
  const kit = searchKit(effects, base, totalNeurons, options, 2 * singleSpread, search === "exhaustive" ? 0 : MIN_STEP_SHARE);
  const { measure, withScale } = kit;
  let walked: NeuronId[] = [];
  let current = kit.start;
  const steps: SelectionStep[] = [];
  // Single-neuron effects from the locator are the conditional effects on the empty set. A candidate
  // that alone dims factual gender beyond the guard is not ranked, but may be half of a compensating pair
  // (planted neurons that cancel each other's side effects): pairs of the strongest are tried too.
  type Screened = { neuron: NeuronId; loss: number; kl: number; keeps: boolean };
  const baseMargin = base.score.factualMargin ?? 0;
  let conditional = new Map<string, Screened>(
    located.map((n) => [neuronKey(n), { neuron: n, loss: current.loss + n.causal.dLoss, kl: n.causal.kl, keeps: kit.factualProblem({ factualMargin: baseMargin + n.causal.dFactual }) === "" }]),
  );
  let stopped = "";
  for (let round = 1; ; round++) {
    stopped = kit.done(walked, current);
    if (stopped) break;
    // Candidates far costlier per nat removed than the best (a twentieth of its rate or less) are general
    // rather than gender neurons; like those that alone dim factual gender, they are tried in pairs only.
    const rates = byRate(conditional.values(), current);
    const bestRate = Math.max(0, ...rates.filter((c) => c.keeps).map((c) => rateOf(c, current)));
    const rankable = (c: Screened) => c.keeps && rateOf(c, current) >= EXPENSIVE * bestRate;
    const ranked = rates.filter(rankable);
    // the strongest of the others: pairs are for neurons with large effects and side effects that may cancel
    const blocked = rates.filter((c) => !rankable(c)).sort((a, b) => a.loss - b.loss || byPosition(a.neuron, b.neuron)).slice(0, PAIRED);
    const pairs = blocked.flatMap((a, i) => blocked.slice(i + 1).map((b) => [a.neuron, b.neuron]));
    if (ranked.length === 0 && pairs.length === 0) {
      stopped = "no remaining candidate shrinks the objective on top of the set";
      break;
    }
    const sizes = sizeLadder(Math.min(kit.room(walked), ranked.length));
    const trials = [...sizes.map((k) => ranked.slice(0, k).map((c) => c.neuron)), ...pairs];
    const effects = await measure(trials.map((added) => withScale([...walked, ...added])), `round ${round}: trying ${[sizes.length ? `the best ${sizes.join("/")} ${sizes.length === 1 && sizes[0] === 1 ? "candidate" : "candidates"}` : "", pairs.length ? `${count(pairs.length, "pair")} of ones that alone dim factual gender` : ""].filter(Boolean).join(" and ")} ${onTopOf(walked.length)}`);
    const tried = effects.map((e, t) => kit.judge(round, current, walked, trials[t]!, e));
    steps.push(...tried);
    const next = kit.advance(tried, current);
    if (next < 0) {
      stopped = "no addition's gain held on every fold and beat random neurons";
      break;
    }
    walked = [...walked, ...trials[next]!];
    current = kit.pointOf(effects[next]!);
    const taken = new Set(walked.map(neuronKey));
    const remaining = [...conditional.values()].filter((c) => !taken.has(neuronKey(c.neuron))).map((c) => c.neuron);
    if (remaining.length === 0 || kit.done(walked, current)) continue;
    const rescreen = await measure(
      remaining.map((n) => withScale([...walked, n])),
      `round ${round}: re-screening ${count(remaining.length, "candidate")} ${onTopOf(walked.length)}`,
    );
    conditional = new Map(remaining.map((n, k) => [neuronKey(n), { neuron: n, loss: rescreen[k]!.loss, kl: rescreen[k]!.kl, keeps: kit.factualProblem(rescreen[k]!) === "" }]));
  }
  return { search, ...(await kit.finish(steps, stopped, search === "exhaustive" ? [0.125, 0.25, 0.5, 0.75] : [0.25, 0.5])) };
}
