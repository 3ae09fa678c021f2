// Chooses the neurons to edit: greedy under a damage budget, re-measuring the real combination at every
// step (effects of neurons are not additive). A step is kept only if it lowers the stereotyped bias on
// both halves of the selection words (so a neuron fitted to a few strong words is not kept), and the
// combination stays inside the budget: KL on neutral text, factual margin and factual accuracy.
import { causalEffects, type Baseline, type CausalEffect } from "./attribution/causal.js";
import type { LocatedNeuron } from "./attribution/locate.js";
import { byPosition, type NeuronId } from "./attribution/neurons.js";
import type { Evaluator } from "./llama/evaluator.js";
import type { BiasScore } from "./bias/metrics.js";

export interface SelectionOptions {
  /** Largest mean KL(original ‖ edited) on neutral text, nats. Default 0.02. */
  maxKl?: number;
  /** Smallest share of the original factual margin to keep. Default 0.8. */
  minFactualRatio?: number;
  /** Most neurons to edit. Default 2% of the model's FFN neurons. */
  maxNeurons?: number;
  /** Scale applied to chosen neurons (0 = zero them). Default 0. */
  scale?: number;
  /** Smallest bias reduction (nats) a step must bring. Default: the locator's noise floor. */
  minGain?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface EditedNeuron extends NeuronId {
  scale: number;
}

export interface SelectionStep {
  neuron: NeuronId;
  accepted: boolean;
  reason: string;
  bias: number;
  kl: number;
  factualMargin: number;
}

export interface Selection {
  neurons: EditedNeuron[];
  steps: SelectionStep[];
  /** Non-dominated (bias, KL) points of the accepted prefix sets, fewest neurons first. */
  pareto: { neurons: number; bias: number; kl: number }[];
  budget: { maxKl: number; minFactualRatio: number; maxNeurons: number };
  /** The last accepted combination as measured on the selection probes. */
  effect: Pick<CausalEffect, "bias" | "kl" | "factualMargin" | "factualAccuracy">;
}

/** Stereotyped bias on two interleaved halves of the words: a real effect lowers both. */
function foldBias(score: BiasScore): [number, number] {
  const words = score.words.filter((w) => w.label === "stereotyped");
  const fold = (k: number) => {
    const part = words.filter((_, i) => i % 2 === k);
    return part.reduce((s, w) => s + Math.abs(w.b), 0) / Math.max(1, part.length);
  };
  return [fold(0), fold(1)];
}

export async function selectNeurons(evaluator: Evaluator, base: Baseline, located: readonly LocatedNeuron[], totalNeurons: number, noiseFloor: number, options: SelectionOptions = {}): Promise<Selection> {
  const maxKl = options.maxKl ?? 0.02;
  const minFactualRatio = options.minFactualRatio ?? 0.8;
  const maxNeurons = options.maxNeurons ?? Math.floor(0.02 * totalNeurons);
  const scale = options.scale ?? 0;
  const minGain = options.minGain ?? noiseFloor;
  const baseMargin = base.score.factualMargin ?? 0;
  const baseAccuracy = base.score.factualAccuracy ?? 0;
  // Best benefit per unit of damage first, damage counted from a twentieth of the budget up so that
  // neurons that cost nothing but do little do not crowd out the ones that carry the bias; the position
  // breaks ties so the order is deterministic.
  const klFloor = maxKl / 20;
  const benefit = (n: LocatedNeuron) => -n.causal.dBias / (n.causal.kl + klFloor);
  const byBenefit = (a: LocatedNeuron, b: LocatedNeuron) => benefit(b) - benefit(a) || byPosition(a, b);

  const chosen: EditedNeuron[] = [];
  const steps: SelectionStep[] = [];
  let current = { bias: base.score.bias ?? 0, kl: 0, factualMargin: baseMargin, factualAccuracy: baseAccuracy, folds: foldBias(base.score) };
  const accepted: { neurons: number; bias: number; kl: number }[] = [];

  /** Measures current ∪ {neuron} and keeps it if the combination passes every rule. */
  const tryAdd = async (neuron: LocatedNeuron): Promise<boolean> => {
    const trial = [...chosen, { layer: neuron.layer, index: neuron.index, scale }];
    const [e] = (await causalEffects(evaluator, base, [trial])) as [CausalEffect];
    const folds = foldBias(e.score);
    let reason = "";
    if (e.kl > maxKl) reason = `KL ${e.kl.toPrecision(3)} would exceed the budget ${maxKl}`;
    else if (baseMargin > 0 && e.factualMargin < minFactualRatio * baseMargin) reason = `factual margin ${e.factualMargin.toPrecision(3)} would fall below ${minFactualRatio} × ${baseMargin.toPrecision(3)}`;
    else if (e.factualAccuracy < baseAccuracy) reason = `factual accuracy would drop to ${e.factualAccuracy.toPrecision(3)}`;
    else if (current.bias - e.bias < minGain) reason = `bias gain ${(current.bias - e.bias).toPrecision(3)} is below ${minGain.toPrecision(3)}`;
    else if (!(folds[0] < current.folds[0] && folds[1] < current.folds[1])) reason = "the gain does not hold on both halves of the words";
    const ok = reason === "";
    if (ok) {
      chosen.push(trial[trial.length - 1]!);
      current = { bias: e.bias, kl: e.kl, factualMargin: e.factualMargin, factualAccuracy: e.factualAccuracy, folds };
      accepted.push({ neurons: chosen.length, bias: e.bias, kl: e.kl });
      reason = `bias ${e.bias.toPrecision(4)}, KL ${e.kl.toPrecision(3)}`;
    }
    steps.push({ neuron: { layer: neuron.layer, index: neuron.index }, accepted: ok, reason, bias: e.bias, kl: e.kl, factualMargin: e.factualMargin });
    return ok;
  };

  // Effects are not additive: a neuron rejected early may help once others are edited, so rejected
  // candidates get another pass until a pass accepts nothing.
  const passes = async (pool: LocatedNeuron[], total: number): Promise<void> => {
    let pending = pool;
    let done = 0;
    for (let changed = true; changed && pending.length > 0; ) {
      changed = false;
      const rejected: LocatedNeuron[] = [];
      for (const neuron of pending) {
        if (chosen.length >= maxNeurons) return;
        if (await tryAdd(neuron)) changed = true;
        else rejected.push(neuron);
        options.onProgress?.("selecting neurons", Math.min(++done, total), total);
      }
      pending = rejected;
    }
  };
  const gender = located.filter((n) => n.kind === "gender").sort(byBenefit);
  await passes(gender, gender.length);
  // Neurons whose effect alone fell under the noise floor may matter once their partners are edited;
  // they are tried last, and only the real combination decides. General neurons are never tried.
  const inContext = located.filter((n) => n.kind === "other" && n.causal.dBias < 0).sort(byBenefit);
  await passes(inContext, inContext.length);
  const pareto = accepted.filter((p) => !accepted.some((q) => q !== p && q.bias <= p.bias && q.kl <= p.kl && (q.bias < p.bias || q.kl < p.kl)));
  return {
    neurons: chosen.sort(byPosition),
    steps,
    pareto,
    budget: { maxKl, minFactualRatio, maxNeurons },
    effect: { bias: current.bias, kl: current.kl, factualMargin: current.factualMargin, factualAccuracy: current.factualAccuracy },
  };
}
