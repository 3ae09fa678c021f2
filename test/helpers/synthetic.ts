// A model without a model, for unit tests of the method: probes with hand-set b, and neurons whose
// edits add hand-set changes to b and KL. Edits add up (a set does what its neurons do, scaled), so the
// right answer of every search is known, and a test runs in milliseconds.
import { effectOf, type Edit, type MeasureEdits } from "../../lib/locate/causal.js";
import { neuronKey, type NeuronId } from "../../lib/locate/neurons.js";
import { scoreBias, type ProbeKey, type ScoreOptions } from "../../lib/measure/metrics.js";
import type { ObjectiveKind } from "../../lib/measure/objective.js";
import type { SearchBase } from "../../lib/select/selection.js";

export interface SyntheticNeuron extends NeuronId {
  /** How much zeroing it shrinks each stereotyped probe's lean (nats), on every template or per template. */
  stereotype?: number | Record<string, number>;
  /** How much zeroing it shrinks each factual probe's lean toward its gold gender. */
  factual?: number;
  /** What zeroing it adds to b of every neutral probe (a prior). */
  neutral?: number;
  /** Mean KL on neutral text that zeroing it costs. */
  kl?: number;
}

/**
 * Two templates, and per template: `stereotyped` female- and as many male-stereotyped words (b = ±gap/2),
 * 2 neutral baseline words (b = 0), 2 factual words (b = ±factual).
 */
export function syntheticProbes(stereotyped = 4, gap = 2, factual = 2): { keys: ProbeKey[]; b: Float64Array } {
  const keys: ProbeKey[] = [];
  const b: number[] = [];
  for (const template of ["t1", "t2"]) {
    const add = (key: Omit<ProbeKey, "category" | "split" | "template" | "target">, value: number) => {
      keys.push({ ...key, category: "role", split: "selection", template, target: template });
      b.push(value);
    };
    for (let i = 0; i < stereotyped; i++) {
      add({ word: `f${i}`, label: "stereotyped", direction: "female" }, gap / 2);
      add({ word: `m${i}`, label: "stereotyped", direction: "male" }, -gap / 2);
    }
    for (const word of ["n0", "n1"]) add({ word, label: "neutral", baseline: true }, 0);
    add({ word: "queen", label: "factual", gold: "female" }, factual);
    add({ word: "king", label: "factual", gold: "male" }, -factual);
  }
  return { keys, b: Float64Array.from(b) };
}

/** The search's starting point for those probes. */
export function syntheticBase(objective: ObjectiveKind = "stereotype", probes = syntheticProbes()): SearchBase {
  // scored as ProbeSet.scoreOf scores its probes
  const scoreOf = (b: Float64Array, options: ScoreOptions = {}) => scoreBias(probes.keys, Array.from(b), options);
  return { probes: { items: probes.keys.map((probe) => ({ probe })), scoreOf }, b: probes.b, score: scoreBias(probes.keys, Array.from(probes.b)), scoreOptions: {}, objective };
}

/** Measures edits by adding up the neurons' changes (times 1 − scale); counts the edits measured. */
export function syntheticEffects(base: SearchBase, neurons: readonly SyntheticNeuron[]): MeasureEdits & { measured: number } {
  const byKey = new Map(neurons.map((n) => [neuronKey(n), n]));
  const sign = (p: ProbeKey) => (p.direction === "female" || p.gold === "female" ? 1 : -1);
  const change = (n: SyntheticNeuron, p: ProbeKey): number => {
    if (p.label === "neutral") return n.neutral ?? 0;
    const shrink = p.label === "factual" ? (n.factual ?? 0) : typeof n.stereotype === "number" ? n.stereotype : (n.stereotype?.[p.template!] ?? 0);
    return -sign(p) * shrink;
  };
  const measure = async (edits: readonly Edit[]) => {
    measure.measured += edits.length;
    return edits.map((edit) => {
      const b = Float64Array.from(base.b);
      let kl = 0;
      for (const { layer, index, scale } of edit) {
        const n = byKey.get(neuronKey({ layer, index }));
        if (!n) continue;
        const weight = 1 - (scale ?? 0);
        base.probes.items.forEach(({ probe }, i) => (b[i] = b[i]! + weight * change(n, probe)));
        kl += weight * (n.kl ?? 0);
      }
      return effectOf(base, b, kl);
    });
  };
  measure.measured = 0;
  return measure;
}
