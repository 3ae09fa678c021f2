// Finds the FFN neurons behind a model's gender bias. Attribution guides, causation decides: candidates
// come from the direct logit effect, from word-position activations that track b, and (to show what
// must not be touched) from the neurons that move neutral text most; then every candidate is zeroed
// through the hook and classified by what it really does:
//   general — large KL on neutral text or it erodes factual gender: editing it breaks the model;
//   gender  — lowers stereotyped bias by more than a random neuron would, at small cost: safe to edit;
//   other   — neither.
import type { Evaluator } from "../llama/evaluator.js";
import type { LlamaModel } from "../llama/model.js";
import type { GgufFile } from "../gguf/reader.js";
import { causalEffects, type Baseline, type CausalEffect } from "./causal.js";
import { directEffects } from "./direct-effect.js";
import { seededRandom } from "../random.js";
import { byPosition, mean, neuronKey, std, type NeuronId } from "./neurons.js";
import { neutralMagnitudes, wordCorrelations } from "./word-tracking.js";

export type NeuronKind = "gender" | "general" | "other";

export interface LocatedNeuron extends NeuronId {
  /** Mean direct effect toward the stereotype (sign(b)·DLA), nats. */
  dla: number;
  /** Mean direct effect on factual gender (gold·DLA), nats. */
  dlaFactual: number;
  /** corr(activation at the word, b) across probes. */
  wordCorrelation: number;
  /** Mean |activation|·‖v‖ on neutral text. */
  neutralMagnitude: number;
  /** Why it is a candidate: "dla", "word", "neutral". */
  sources: string[];
  causal: Pick<CausalEffect, "dBias" | "dFactual" | "kl">;
  kind: NeuronKind;
  reasons: string[];
}

export interface LocateOptions {
  /** Candidates by direct effect toward the stereotype. Default 48. */
  dlaCandidates?: number;
  /** Candidates by word-position correlation with b. Default 16. */
  wordCandidates?: number;
  /** Candidates by magnitude on neutral text (the likely general neurons). Default 8. */
  neutralCandidates?: number;
  /** Random neurons zeroed one by one to measure the noise of a single-neuron edit. Default 24. */
  randomNeurons?: number;
  /** KL (nats) above which a single neuron counts as general. Default 0.01. */
  generalKl?: number;
  /** Share of the factual margin a single neuron may remove before it counts as general. Default 0.1. */
  factualTolerance?: number;
  seed?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface LocateResult {
  baseline: { bias: number; factualMargin: number; factualAccuracy: number; words: number };
  /** Δbias of zeroing one random neuron: mean and spread; an effect must clear `noiseFloor` to count. */
  noise: { n: number; dBiasMean: number; dBiasStd: number; klMean: number; noiseFloor: number };
  thresholds: { generalKl: number; factualTolerance: number };
  neurons: LocatedNeuron[];
}

function topK(layers: readonly Float32Array[], k: number, score: (v: number) => number): NeuronId[] {
  const all: (NeuronId & { s: number })[] = [];
  layers.forEach((values, layer) => values.forEach((v, index) => all.push({ layer, index, s: score(v) })));
  return all
    .filter((n) => n.s > 0)
    .sort((a, b) => b.s - a.s || byPosition(a, b))
    .slice(0, k)
    .map(({ layer, index }) => ({ layer, index }));
}

export async function locate(model: LlamaModel, file: GgufFile, evaluator: Evaluator, base: Baseline, options: LocateOptions = {}): Promise<LocateResult> {
  const { nLayer } = model.facts;
  const progress = options.onProgress ?? (() => undefined);
  const generalKl = options.generalKl ?? 0.01;
  const factualTolerance = options.factualTolerance ?? 0.1;
  const { b } = base;
  const stereotyped = base.probes.filter((p) => p.label === "stereotyped");
  const bStereo = Float64Array.from(base.probes.items.flatMap((item, i) => (item.probe.label === "stereotyped" ? [b[i]!] : [])));

  progress("direct effects", 0, 1);
  const direct = await directEffects(file, model, evaluator, base.probes, b);
  progress("word correlations", 0, 1);
  const correlation = await wordCorrelations(evaluator, stereotyped, bStereo, nLayer);
  const magnitude = await neutralMagnitudes(evaluator, base.neutral.prompts, direct.norms, nLayer);

  const sources = new Map<string, NeuronId & { sources: string[] }>();
  const add = (list: NeuronId[], source: string) => {
    for (const n of list) {
      const entry = sources.get(neuronKey(n)) ?? { ...n, sources: [] };
      entry.sources.push(source);
      sources.set(neuronKey(n), entry);
    }
  };
  add(topK(direct.stereotype, options.dlaCandidates ?? 48, (v) => v), "dla");
  add(topK(correlation, options.wordCandidates ?? 16, Math.abs), "word");
  add(topK(magnitude, options.neutralCandidates ?? 8, (v) => v), "neutral");
  const candidates = [...sources.values()].sort(byPosition);

  const random = seededRandom(options.seed ?? 1);
  const nFf = direct.norms[0]!.length;
  const randomNeurons: NeuronId[] = [];
  while (randomNeurons.length < (options.randomNeurons ?? 24)) {
    const n = { layer: Math.floor(random() * nLayer), index: Math.floor(random() * nFf) };
    if (!sources.has(neuronKey(n)) && !randomNeurons.some((r) => neuronKey(r) === neuronKey(n))) randomNeurons.push(n);
  }

  const effects = await causalEffects(evaluator, base, [...candidates, ...randomNeurons].map((n) => [n]), (done, total) => progress("causal effects", done, total));
  const noiseEffects = effects.slice(candidates.length);
  const dBiasRandom = noiseEffects.map((e) => e.dBias);
  const baseBias = base.score.bias ?? 0;
  const baseMargin = base.score.factualMargin ?? 0;
  const noise = {
    n: noiseEffects.length,
    dBiasMean: mean(dBiasRandom),
    dBiasStd: std(dBiasRandom),
    klMean: mean(noiseEffects.map((e) => e.kl)),
    noiseFloor: Math.max(3 * std(dBiasRandom), 0.002 * baseBias),
  };

  const neurons = candidates.map((n, k): LocatedNeuron => {
    const effect = effects[k]!;
    const reasons: string[] = [];
    // A margin near zero (a model that barely knows factual gender) must not turn noise into "general".
    const factualLoss = -effect.dFactual / Math.max(baseMargin, 0.1);
    let kind: NeuronKind = "other";
    if (effect.kl > generalKl) {
      kind = "general";
      reasons.push(`KL on neutral text ${effect.kl.toPrecision(3)} > ${generalKl}`);
    }
    if (factualLoss > factualTolerance) {
      kind = "general";
      reasons.push(`removes ${(100 * factualLoss).toFixed(1)}% of the factual margin (> ${100 * factualTolerance}%)`);
    }
    if (kind !== "general") {
      if (effect.dBias < -noise.noiseFloor) {
        kind = "gender";
        reasons.push(`lowers bias by ${(-effect.dBias).toPrecision(3)} nats, beyond the noise floor ${noise.noiseFloor.toPrecision(3)}`);
      } else {
        reasons.push(`bias change ${effect.dBias.toPrecision(3)} does not clear the noise floor ${noise.noiseFloor.toPrecision(3)}`);
      }
    }
    return {
      layer: n.layer,
      index: n.index,
      dla: direct.stereotype[n.layer]![n.index]!,
      dlaFactual: direct.factual[n.layer]![n.index]!,
      wordCorrelation: correlation[n.layer]![n.index]!,
      neutralMagnitude: magnitude[n.layer]![n.index]!,
      sources: n.sources,
      causal: { dBias: effect.dBias, dFactual: effect.dFactual, kl: effect.kl },
      kind,
      reasons,
    };
  });
  return {
    baseline: { bias: baseBias, factualMargin: baseMargin, factualAccuracy: base.score.factualAccuracy ?? 0, words: base.score.words.length },
    noise,
    thresholds: { generalKl, factualTolerance },
    neurons,
  };
}
