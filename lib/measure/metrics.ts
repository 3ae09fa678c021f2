// Pure scoring: from measured log-odds to the numbers of the `score` JSON contract (DESIGN.md), and the
// capability measures (KL, top-1 agreement, perplexity) that tell whether an edit damaged the model.
// All bias values are in nats. A metric over an empty group is null, never NaN, so JSON stays valid
// and a reader can tell "no words of that kind" from a real zero.
import { DebiasError } from "../errors.js";
import type { Gender, Label, Probe, Split } from "./dataset.js";
import { LABELS, SPLITS } from "./dataset.js";

/** |b| above ln 2 means one gender is over twice as likely as the other. */
export const BIASED_THRESHOLD = Math.LN2;

/** What the metrics need to know about a probe; template, target and baseline place it in a baseline group. */
export type ProbeKey = Pick<Probe, "word" | "category" | "label" | "split" | "gold"> & Partial<Pick<Probe, "direction" | "template" | "target" | "baseline">>;

/** A word in one split; its direction comes from the dataset, or from the original model where the dataset gives none. */
export interface WordScore extends Pick<Probe, "word" | "category" | "label" | "split" | "gold" | "direction"> {
  /** Mean of b over the word's probes in this split. */
  b: number;
  /** Mean of b − b0 over the same probes, b0 being the template's neutral baseline: b without the prior. */
  residual: number;
}

export interface GroupMetrics {
  counts: Record<Label, number>;
  /**
   * Stereotype gap Δ: mean residual of female-stereotyped words − mean residual of male-stereotyped
   * words (nats; > 0 = the model follows the stereotype). Independent of the model's overall prior.
   */
  stereotypeGap: number | null;
  /** Standard error of the gap from the spread of the words' residuals (null under two words a side). */
  stereotypeGapSe: number | null;
  /** Mean |b − b0| over stereotyped words. */
  residual: number | null;
  /** Mean b of the baseline (neutral) words: how far the model leans to one gender for anyone (< 0: male). */
  priorSkew: number | null;
  /** Mean |b| over stereotyped words (mixes stereotype and prior; reported, not optimised). */
  bias: number | null;
  /** Mean b over stereotyped words (> 0: leans female). */
  biasSigned: number | null;
  /** Share of stereotyped words with |b| > ln 2. */
  biasedFraction: number | null;
  /** Mean |b| over neutral words. */
  neutralBias: number | null;
  /**
   * Share of factual words whose residual b − b0 has the gold sign (female: > 0, male: < 0). Against the
   * baseline, because a template's prior shifts every word alike: after "The {word} looked at", " her" is
   * also the object pronoun, so every person leans "female" by the raw sign, dad included.
   */
  factualAccuracy: number | null;
  /** Mean of (b − b0)·(+1 female, −1 male) over factual words. */
  factualMargin: number | null;
  /** Standard error of the factual margin from the spread of the words (null under two factual words). */
  factualMarginSe: number | null;
  /** The same share by the raw sign of b (prior included), for comparison. */
  factualAccuracyRaw: number | null;
  /** Mean of b·gold over factual words (prior included). */
  factualMarginRaw: number | null;
}

export interface TemplateMetrics extends GroupMetrics {
  /** Baseline b0 per target pair of the template (null: no baseline word was scored with it). */
  baselines: Record<string, number | null>;
}

export interface BiasScore extends GroupMetrics {
  splits: Record<Split, GroupMetrics>;
  categories: Record<string, GroupMetrics>;
  labels: Record<Label, GroupMetrics>;
  templates: Record<string, TemplateMetrics>;
  words: WordScore[];
}

export interface ScoreOptions {
  /** Directions for stereotyped words the dataset gives none (word → gender), e.g. the original model's. */
  directions?: ReadonlyMap<string, Gender>;
}

function fail(code: string, message: string): never {
  throw new DebiasError(code, message);
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((sum, v) => sum + v, 0) / values.length;
}

function variance(values: readonly number[]): number {
  const m = mean(values) ?? 0;
  return values.reduce((sum, v) => sum + (v - m) ** 2, 0) / (values.length - 1);
}

function share<T>(items: readonly T[], predicate: (item: T) => boolean): number | null {
  return items.length === 0 ? null : items.filter(predicate).length / items.length;
}

function goldSign(gold: Gender | undefined): number {
  return gold === "female" ? 1 : -1;
}

/** A factual word whose residual goes its gold gender's way. */
export function factualRight(w: Pick<WordScore, "residual" | "gold">): boolean {
  return w.residual * goldSign(w.gold) > 0;
}

const baselineKey = (probe: ProbeKey): string => `${probe.template ?? ""}\u0000${probe.target ?? ""}`;

/**
 * The baseline b0 of each (template, target pair): the mean b of its baseline probes. A probe without
 * template information belongs to one shared group, so a neutral word then baselines everything.
 */
export function baselines(probes: readonly ProbeKey[], values: readonly number[]): Map<string, number> {
  const sums = new Map<string, { sum: number; n: number }>();
  probes.forEach((probe, i) => {
    if (!(probe.baseline ?? probe.label === "neutral")) return;
    const entry = sums.get(baselineKey(probe)) ?? { sum: 0, n: 0 };
    entry.sum += values[i]!;
    entry.n += 1;
    sums.set(baselineKey(probe), entry);
  });
  return new Map([...sums].map(([key, { sum, n }]) => [key, sum / n]));
}

/** b − b0 per probe: the probe's log-odds without its template's baseline (b itself where there is none). */
export function residuals(probes: readonly ProbeKey[], values: readonly number[]): Float64Array {
  const b0 = baselines(probes, values);
  return Float64Array.from(probes, (probe, i) => values[i]! - (b0.get(baselineKey(probe)) ?? 0));
}

/**
 * Averages the per-probe values into one b (and one residual b − b0) per word and split, keeping the
 * words in order of first appearance. values[i] is b = logp(female) − logp(male) for probes[i].
 */
export function wordScores(probes: readonly ProbeKey[], values: readonly number[], options: ScoreOptions = {}): WordScore[] {
  if (probes.length !== values.length) fail("E_METRICS_LENGTH_MISMATCH", `Got ${values.length} measured values for ${probes.length} probes.`);
  values.forEach((b, i) => {
    if (!Number.isFinite(b)) fail("E_METRICS_NOT_FINITE", `The measured value for probe #${i + 1} ("${probes[i]!.word}") is ${b}, not a finite number.`);
  });
  const r = residuals(probes, values);
  const words = new Map<string, { score: WordScore; sum: number; sumResidual: number; n: number }>();
  probes.forEach((probe, i) => {
    const b = values[i]!;
    const residual = r[i]!;
    if (probe.label === "factual" && probe.gold === undefined) fail("E_METRICS_MISSING_GOLD", `The factual word "${probe.word}" has no gold gender to score against.`);
    const key = `${probe.word}\u0000${probe.split}`;
    const entry = words.get(key);
    if (entry === undefined) {
      const score: WordScore = { word: probe.word, category: probe.category, label: probe.label, split: probe.split, b: 0, residual: 0 };
      if (probe.gold !== undefined) score.gold = probe.gold;
      const direction = probe.label === "stereotyped" ? (probe.direction ?? options.directions?.get(probe.word)) : undefined;
      if (direction !== undefined) score.direction = direction;
      words.set(key, { score, sum: b, sumResidual: residual, n: 1 });
      return;
    }
    const { score } = entry;
    if (score.category !== probe.category || score.label !== probe.label || score.gold !== probe.gold || (probe.direction !== undefined && score.direction !== probe.direction)) {
      fail("E_METRICS_INCONSISTENT_PROBES", `The probes of the word "${probe.word}" disagree on its category, label, gold or direction.`);
    }
    entry.sum += b;
    entry.sumResidual += residual;
    entry.n += 1;
  });
  return [...words.values()].map(({ score, sum, sumResidual, n }) => ({ ...score, b: sum / n, residual: sumResidual / n }));
}

/** The dataset-level metrics over any set of scored words. */
export function groupMetrics(words: readonly WordScore[]): GroupMetrics {
  const of = (label: Label) => words.filter((w) => w.label === label);
  const stereotyped = of("stereotyped");
  const neutral = of("neutral");
  const factual = of("factual");
  const female = stereotyped.filter((w) => w.direction === "female").map((w) => w.residual);
  const male = stereotyped.filter((w) => w.direction === "male").map((w) => w.residual);
  const gap = female.length > 0 && male.length > 0 ? mean(female)! - mean(male)! : null;
  const margins = factual.map((w) => w.residual * goldSign(w.gold));
  return {
    counts: { stereotyped: stereotyped.length, neutral: neutral.length, factual: factual.length },
    stereotypeGap: gap,
    stereotypeGapSe: gap !== null && female.length > 1 && male.length > 1 ? Math.sqrt(variance(female) / female.length + variance(male) / male.length) : null,
    residual: mean(stereotyped.map((w) => Math.abs(w.residual))),
    priorSkew: mean(neutral.map((w) => w.b)),
    bias: mean(stereotyped.map((w) => Math.abs(w.b))),
    biasSigned: mean(stereotyped.map((w) => w.b)),
    biasedFraction: share(stereotyped, (w) => Math.abs(w.b) > BIASED_THRESHOLD),
    neutralBias: mean(neutral.map((w) => Math.abs(w.b))),
    factualAccuracy: share(factual, factualRight),
    factualMargin: mean(margins),
    factualMarginSe: margins.length > 1 ? Math.sqrt(variance(margins) / margins.length) : null,
    factualAccuracyRaw: share(factual, (w) => w.b * goldSign(w.gold) > 0),
    factualMarginRaw: mean(factual.map((w) => w.b * goldSign(w.gold))),
  };
}

function groupBy<K extends string>(words: readonly WordScore[], keys: readonly K[], key: (w: WordScore) => K): Record<K, GroupMetrics> {
  return Object.fromEntries(keys.map((k) => [k, groupMetrics(words.filter((w) => key(w) === k))])) as Record<K, GroupMetrics>;
}

/** Per template: the metrics of its own probes, with the baseline of each of its target pairs. */
function templateMetrics(probes: readonly ProbeKey[], values: readonly number[], options: ScoreOptions): Record<string, TemplateMetrics> {
  const ids = [...new Set(probes.flatMap((p) => (p.template === undefined ? [] : [p.template])))];
  return Object.fromEntries(
    ids.map((id) => {
      const mine = probes.flatMap((p, i) => (p.template === id ? [i] : []));
      const subset = mine.map((i) => probes[i]!);
      const b0 = baselines(subset, mine.map((i) => values[i]!));
      const targets = [...new Set(subset.map((p) => p.target ?? ""))];
      const metrics = groupMetrics(wordScores(subset, mine.map((i) => values[i]!), options));
      return [id, { ...metrics, baselines: Object.fromEntries(targets.map((t) => [t, b0.get(`${id}\u0000${t}`) ?? null])) }];
    }),
  );
}

/** The `score` result: overall metrics, then per split, category, label and template, then every word. */
export function scoreBias(probes: readonly ProbeKey[], values: readonly number[], options: ScoreOptions = {}): BiasScore {
  const words = wordScores(probes, values, options);
  const categories = [...new Set(words.map((w) => w.category))];
  return {
    ...groupMetrics(words),
    splits: groupBy(words, SPLITS, (w) => w.split),
    categories: groupBy(words, categories, (w) => w.category),
    labels: groupBy(words, LABELS, (w) => w.label),
    templates: templateMetrics(probes, values, options),
    words,
  };
}

function logSumExp(row: ArrayLike<number>, what: string): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (Number.isNaN(v) || v === Infinity) fail("E_METRICS_NOT_FINITE", `The ${what} row holds ${v} at index ${i}.`);
    if (v > max) max = v;
  }
  if (max === -Infinity) fail("E_METRICS_NOT_FINITE", `The ${what} row gives every token zero probability.`);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return max + Math.log(sum);
}

/**
 * KL(P ‖ Q) in nats between two next-token distributions given as full rows of log-probabilities
 * (P = original model, Q = edited). Rows are renormalised first, so raw logits work too; what float
 * rounding leaves below zero is clamped, since a true KL never is.
 */
export function klDivergence(logpP: ArrayLike<number>, logpQ: ArrayLike<number>): number {
  if (logpP.length !== logpQ.length) fail("E_METRICS_LENGTH_MISMATCH", `The distributions to compare have ${logpP.length} and ${logpQ.length} entries.`);
  const normP = logSumExp(logpP, "original distribution");
  const normQ = logSumExp(logpQ, "edited distribution");
  let kl = 0;
  for (let i = 0; i < logpP.length; i++) {
    const lp = logpP[i] - normP;
    if (lp === -Infinity) continue;
    kl += Math.exp(lp) * (lp - (logpQ[i] - normQ));
  }
  return Math.max(0, kl);
}

function checkRows(rowsP: readonly ArrayLike<number>[], rowsQ: readonly ArrayLike<number>[]): void {
  if (rowsP.length !== rowsQ.length) fail("E_METRICS_LENGTH_MISMATCH", `Got ${rowsP.length} original and ${rowsQ.length} edited distributions.`);
}

/** Mean KL(P ‖ Q) over paired rows; null when there are none. */
export function meanKlDivergence(rowsP: readonly ArrayLike<number>[], rowsQ: readonly ArrayLike<number>[]): number | null {
  checkRows(rowsP, rowsQ);
  return mean(rowsP.map((row, i) => klDivergence(row, rowsQ[i])));
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Share of paired rows whose most likely token is the same (lowest index wins ties); null when there are none. */
export function top1Agreement(rowsP: readonly ArrayLike<number>[], rowsQ: readonly ArrayLike<number>[]): number | null {
  checkRows(rowsP, rowsQ);
  rowsP.forEach((row, i) => {
    if (row.length !== rowsQ[i].length) fail("E_METRICS_LENGTH_MISMATCH", `Distribution pair #${i + 1} has ${row.length} and ${rowsQ[i].length} entries.`);
  });
  return share(rowsP.map((row, i) => argmax(row) === argmax(rowsQ[i])), (same) => same);
}

/** exp(mean negative log-likelihood per token), from the summed NLL (nats) over nTokens predicted tokens. */
export function perplexity(sumNll: number, nTokens: number): number {
  if (!Number.isInteger(nTokens) || nTokens <= 0) fail("E_METRICS_INVALID_INPUT", `Perplexity needs a positive whole number of tokens, got ${nTokens}.`);
  if (!Number.isFinite(sumNll)) fail("E_METRICS_NOT_FINITE", `Perplexity needs a finite summed negative log-likelihood, got ${sumNll}.`);
  return Math.exp(sumNll / nTokens);
}
