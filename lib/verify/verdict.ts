// The verdict: one kind and one sentence, both computed from the measured numbers, so the sentence can
// never claim more than the numbers show.
//   unmeasurable — the model does not know gender (factual words): a bias figure on it means little;
//   absent       — no stereotype gap (or prior skew) beyond its own noise or the user's minimum: nothing to remove;
//   removed      — the held-out objective shrank by ≥ 80%, beyond what random sets of neurons do;
//   reduced      — it shrank by at least the user's minimum, beyond random sets;
//   not-localized — no set within the budget did either: neuron editing cannot remove it here.
import { factualRight, type BiasScore, type GroupMetrics } from "../measure/metrics.js";
import { DEFAULTS } from "../defaults.js";
import { objectiveName, objectiveSize, objectiveValue, type ObjectiveKind } from "../measure/objective.js";
import type { RandomComparison } from "../select/random-sets.js";
import type { Selection } from "../select/selection.js";
import { count } from "../text.js";

export type VerdictKind = "removed" | "reduced" | "not-localized" | "unmeasurable" | "absent";

export interface Verdict {
  kind: VerdictKind;
  objective: ObjectiveKind;
  /** The split the verdict was judged on: held-out unless the dataset holds none. */
  judgedOn: "heldout" | "selection";
  before: number | null;
  after: number | null;
  /** 1 − |after|/|before| of the objective on that split. */
  reduction: number;
  /** z of the chosen set's gain against random sets of the same size (null when not measured). */
  z: number | null;
  sentence: string;
}

export interface VerdictThresholds {
  /** Smallest factual accuracy at which a bias figure means something. Default 0.75. */
  minFactualAccuracy?: number;
  /** Smallest held-out reduction that counts as "reduced". Default 0.2. */
  minReduction?: number;
  /** Smallest z against random sets. Default 2. */
  minZ?: number;
  /** How many times larger the held-out reduction must be than the share of factual margin lost. Default 2. */
  minSpecificity?: number;
  /** A gap (or prior) below this many nats is too small to remove, whatever its standard error. Default 0.1. */
  minGap?: number;
}


const nats = (v: number | null) => (v === null ? "—" : v.toFixed(3));
const percent = (v: number) => `${(100 * v).toFixed(1)}%`;

/** Held-out probes judge the edit unless the dataset has none that measure the objective. */
export function judgedSplit(score: BiasScore, objective: ObjectiveKind): "heldout" | "selection" {
  return objectiveValue(score.splits.heldout, objective) !== null ? "heldout" : "selection";
}

/** The spread of the objective from the spread of the words: its standard error. */
function objectiveNoise(m: GroupMetrics, score: BiasScore, objective: ObjectiveKind): number {
  if (objective === "stereotype") return m.stereotypeGapSe ?? 0;
  const neutral = score.words.filter((w) => w.label === "neutral").map((w) => w.b);
  if (neutral.length < 2) return 0;
  const mu = neutral.reduce((s, v) => s + v, 0) / neutral.length;
  return Math.sqrt(neutral.reduce((s, v) => s + (v - mu) ** 2, 0) / (neutral.length - 1) / neutral.length);
}

/** Verdicts that need no edit: a model that does not know gender, or nothing to remove. Null: go on. */
export function preVerdict(before: BiasScore, objective: ObjectiveKind, thresholds: VerdictThresholds = {}): Verdict | null {
  const minAccuracy = thresholds.minFactualAccuracy ?? DEFAULTS.minFactualAccuracy;
  const judgedOn = judgedSplit(before, objective);
  const value = objectiveValue(before, objective);
  const base = { objective, judgedOn, before: value, after: value, reduction: 0, z: null };
  const factual = before.words.filter((w) => w.label === "factual");
  const margin = before.factualMargin ?? 0;
  // Too few right, or a margin within its own noise (a random-weight model can get 3 of 4 right by chance).
  if (before.factualAccuracy !== null && (before.factualAccuracy < minAccuracy || margin <= 2 * (before.factualMarginSe ?? 0))) {
    const right = factual.filter(factualRight).length;
    const why = before.factualAccuracy < minAccuracy ? `accuracy ${percent(before.factualAccuracy)}, below ${percent(minAccuracy)}` : `accuracy ${percent(before.factualAccuracy)}, but a margin within twice its standard error`;
    return {
      ...base,
      kind: "unmeasurable",
      sentence: `The model does not reliably know gender: against each template's neutral baseline, ${right} of ${factual.length} factual words lean toward their own gender (${why}; factual margin ${nats(before.factualMargin)} ± ${nats(before.factualMarginSe)} nats), so its bias figures mean little. Nothing was edited.`,
    };
  }
  const noise = objectiveNoise(before, before, objective);
  if (value !== null && (Math.abs(value) <= 2 * noise || Math.abs(value) < (thresholds.minGap ?? DEFAULTS.minGap))) {
    const other = objective === "stereotype" ? ` Its prior skew (${nats(before.priorSkew)} nats: how far it leans one way for anyone) is a different matter; --objective prior targets it.` : "";
    return {
      ...base,
      kind: "absent",
      sentence: `The model shows no ${objectiveName(objective)} worth removing: ${nats(value)} ± ${nats(noise)} nats (below twice its standard error, or below ${thresholds.minGap ?? DEFAULTS.minGap} nats) over ${before.counts.stereotyped} stereotyped and ${before.counts.neutral} neutral words.${other} Nothing to remove; nothing was edited.`,
    };
  }
  return null;
}

/**
 * What a larger KL budget would buy, from the search's walk (which the budget does not shape): the most
 * any set it walked through removed on the selection probes, when that is more than the chosen set did.
 */
export function walkBeyondBudget(selection: Partial<Pick<Selection, "steps" | "walk" | "startLoss" | "effect">>): { removes: number; kl: number } | null {
  const { steps = [], walk = [], startLoss = 0, effect } = selection;
  const best = walk.map((i) => steps[i]!).filter(Boolean).sort((a, b) => a.loss - b.loss)[0];
  if (!best || !(startLoss > 0) || best.loss >= (effect?.loss ?? startLoss)) return null;
  return { removes: 1 - best.loss / startLoss, kl: best.kl };
}

function beyondBudget(selection: Partial<Pick<Selection, "steps" | "walk" | "startLoss" | "effect">>): string {
  const beyond = walkBeyondBudget(selection);
  if (!beyond) return "";
  return ` Beyond the budget, the search's walk reached a set that removes ${percent(beyond.removes)} of what it minimises on the selection probes, at KL ${beyond.kl.toPrecision(2)} nats (a larger --max-kl would take it, at that cost).`;
}

/** The verdict on an edit from the before and after scores and the random-set comparison. */
export function verdictOf(before: BiasScore, after: BiasScore, edited: number, objective: ObjectiveKind, random: RandomComparison | null, selection: Pick<Selection, "stopped" | "budget"> & Partial<Pick<Selection, "steps" | "walk" | "startLoss" | "effect">>, thresholds: VerdictThresholds = {}): Verdict {
  const minReduction = thresholds.minReduction ?? DEFAULTS.minReduction;
  const minZ = thresholds.minZ ?? DEFAULTS.minZ;
  const minSpecificity = thresholds.minSpecificity ?? DEFAULTS.minSpecificity;
  const judgedOn = judgedSplit(before, objective);
  const size0 = objectiveSize(before.splits[judgedOn], objective);
  const size1 = objectiveSize(after.splits[judgedOn], objective);
  const reduction = size0 > 0 ? 1 - size1 / size0 : 0;
  const comparison = random?.[judgedOn] ?? null;
  const z = comparison?.z ?? null;
  const name = objectiveName(objective);
  const where = judgedOn === "heldout" ? "held-out probes" : "the selection probes (the dataset holds no held-out ones)";
  const base = { objective, judgedOn, before: objectiveValue(before.splits[judgedOn], objective), after: objectiveValue(after.splits[judgedOn], objective), reduction, z };
  const budget = `KL ≤ ${selection.budget.maxKl} nats, factual margin ≥ ${selection.budget.minFactualRatio} of the original, ≤ ${count(selection.budget.maxNeurons, "neuron")}`;
  if (edited === 0) {
    return {
      ...base,
      kind: "not-localized",
      sentence: `Within the damage budget (${budget}), the search found no set of FFN neurons that narrows the ${name} on the selection probes by more than random neurons do and holds on every fold (${selection.stopped}). So this bias is not held by FFN neurons that can be edited within this budget.${beyondBudget(selection)} Nothing was edited.`,
    };
  }
  const versus = comparison ? `; ${count(random!.sets, "random set", "random sets")} of ${count(random!.size, "neuron")} from the same layers narrowed it by ${nats(comparison.randomMean)} ± ${nats(comparison.randomStd)} nats (z = ${z === null ? "—" : z.toFixed(1)})` : "";
  const what = `${count(edited, "FFN neuron")} narrowed the ${name} on ${where} from ${nats(base.before)} to ${nats(base.after)} nats (−${percent(reduction)})${versus}`;
  const significant = z === null ? comparison !== null && comparison.gain > comparison.randomMean : z >= minZ;
  const margin0 = before.factualMargin ?? 0;
  const factualLoss = margin0 > 0 ? Math.max(0, 1 - (after.factualMargin ?? 0) / margin0) : 0;
  const specific = reduction >= minSpecificity * factualLoss;
  const kept = `, keeping ${percent(1 - factualLoss)} of the factual margin`;
  if (reduction >= 0.8 && significant && specific) return { ...base, kind: "removed", sentence: `Editing ${what}${kept}.` };
  if (reduction >= minReduction && significant && specific) return { ...base, kind: "reduced", sentence: `Editing ${what}${kept}; the rest could not be removed within the damage budget (${budget}).` };
  const why =
    reduction < minReduction
      ? `less than the ${percent(minReduction)} asked for`
      : !significant
        ? `no more than random sets do (z below ${minZ})`
        : `not specific: it also weakened factual gender by ${percent(factualLoss)} — it dims gender as a whole rather than the stereotype (asked: at least ${minSpecificity}× more of the stereotype than of factual gender removed)`;
  return { ...base, kind: "not-localized", sentence: `The best set the search found within the damage budget: ${what}. That is ${why}. This bias is not localized in FFN neurons that can be edited within the budget.${beyondBudget(selection)} Nothing was written.` };
}
