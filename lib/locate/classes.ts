// How a located candidate is classed from what it does on its own, against the spread of random
// neurons' single effects: general if alone it spends the KL budget or erodes factual gender beyond the
// budget; gender if alone it shrinks the objective by more than a random neuron would; other otherwise.
import type { CausalEffect } from "./causal.js";
import { mean, std } from "./neurons.js";

export type NeuronKind = "gender" | "general" | "other";

/** What one neuron zeroed alone does: Δ of what the search minimises, Δ factual margin, KL. */
export type SingleEffect = Pick<CausalEffect, "dLoss" | "dFactual" | "kl">;

/** Δ of zeroing one random neuron: mean and spread; a single effect must clear `noiseFloor` to count. */
export interface NoiseFloor {
  n: number;
  dLossMean: number;
  dLossStd: number;
  klMean: number;
  noiseFloor: number;
}

export interface ClassThresholds {
  /** KL a neuron may cost alone (the damage budget). */
  generalKl: number;
  /** Share of the factual margin a neuron may remove alone. */
  factualTolerance: number;
}

/** The noise floor: three standard deviations of random neurons' effects, or 0.2% of the objective (`baseLoss`). */
export function noiseFloor(random: readonly SingleEffect[], baseLoss: number): NoiseFloor {
  const dLoss = random.map((e) => e.dLoss);
  return { n: random.length, dLossMean: mean(dLoss), dLossStd: std(dLoss), klMean: mean(random.map((e) => e.kl)), noiseFloor: Math.max(3 * std(dLoss), 0.002 * baseLoss) };
}

/** A candidate's class, with the reasons a person reads. */
export function classOf(effect: SingleEffect, noise: NoiseFloor, baseMargin: number, thresholds: ClassThresholds): { kind: NeuronKind; reasons: string[] } {
  const { generalKl, factualTolerance } = thresholds;
  const reasons: string[] = [];
  // A margin near zero (a model that barely knows factual gender) must not turn noise into "general".
  const factualLoss = -effect.dFactual / Math.max(baseMargin, 0.1);
  let kind: NeuronKind = "other";
  if (effect.kl > generalKl) {
    kind = "general";
    reasons.push(`alone it costs KL ${effect.kl.toPrecision(3)} on neutral text, more than the budget ${generalKl}`);
  }
  if (factualLoss > factualTolerance) {
    kind = "general";
    reasons.push(`alone it removes ${(100 * factualLoss).toFixed(1)}% of the factual margin (budget ${(100 * factualTolerance).toFixed(0)}%)`);
  }
  if (kind === "general") return { kind, reasons };
  // Only shrinking counts: a neuron whose zeroing grows the objective works against the bias.
  if (effect.dLoss < -noise.noiseFloor) {
    reasons.push(`zeroed alone it shrinks the objective by ${(-effect.dLoss).toPrecision(3)} nats, more than the noise floor ${noise.noiseFloor.toPrecision(3)}`);
    return { kind: "gender", reasons };
  }
  if (effect.dLoss > noise.noiseFloor) reasons.push(`zeroed alone it grows the objective by ${effect.dLoss.toPrecision(3)} nats: it works against the bias, not for it`);
  else reasons.push(`zeroed alone it moves the objective by ${effect.dLoss.toPrecision(3)} nats, no more than the noise floor ±${noise.noiseFloor.toPrecision(3)}`);
  return { kind, reasons };
}
