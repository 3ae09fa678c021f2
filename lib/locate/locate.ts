// Finds the FFN neurons behind a model's gender bias. Attribution guides, causation decides: candidates
// come from the direct logit effect on the objective and from word-position activations that track the
// residual bias (and, to show what must not be touched, from the neurons that move neutral text most);
// then every candidate is zeroed through the hook and classed by what it does on its own (classes.ts).
// Single effects are weak on real models and compensate on planted ones, so the classes inform the
// report; selection measures sets (selection.ts).
import type { Evaluator } from "../llama/evaluator.js";
import type { DebiasModel } from "../llama/model.js";
import type { GgufFile } from "../gguf/reader.js";
import { residuals } from "../measure/metrics.js";
import { objectiveValue, searchSize } from "../measure/objective.js";
import { causalEffects, type Baseline } from "./causal.js";
import { directEffects, type DlaWeights } from "./direct-effect.js";
import { seededRandom } from "../random.js";
import { DEFAULTS, type DamageBudget } from "../defaults.js";
import { checkOptions } from "../option-limits.js";
import { byPosition, neuronKey, type NeuronId } from "./neurons.js";
import { classOf, noiseFloor, type ClassThresholds, type NeuronKind, type NoiseFloor, type SingleEffect } from "./classes.js";
import { neutralMagnitudes, wordCorrelations } from "./word-tracking.js";
import { count } from "../text.js";


export interface LocatedNeuron extends NeuronId {
  /** Direct effect: how much zeroing the neuron would shrink the objective through the logits alone, nats. */
  dla: number;
  /** Mean direct effect on factual gender (gold·DLA), nats. */
  dlaFactual: number;
  /** corr(activation at the word, residual b − b0) across stereotyped probes. */
  wordCorrelation: number;
  /** Mean |activation|·‖v‖ on neutral text. */
  neutralMagnitude: number;
  /** Why it is a candidate: "dla", "word", "neutral". */
  sources: string[];
  causal: SingleEffect;
  kind: NeuronKind;
  reasons: string[];
}

/**
 * What `run` reports of each candidate: its attribution always; its single-neuron measurement and class
 * only when the thorough search made one.
 */
export type Candidate = Pick<LocatedNeuron, "layer" | "index" | "dla" | "dlaFactual" | "sources"> & Partial<Omit<LocatedNeuron, "layer" | "index" | "dla" | "dlaFactual" | "sources">>;

/** With the damage budget's KL and factual share: a neuron that alone exceeds either is general. */
export interface LocateOptions extends Partial<Pick<DamageBudget, "maxKl" | "minFactualRatio">> {
  /** Candidates screened causally (default 2·√(FFN neurons), 32 to 512): ¾ by direct effect, ¼ by word tracking. */
  candidates?: number;
  /** Candidates by magnitude on neutral text (the likely general neurons). Default 8. */
  neutralCandidates?: number;
  /** Random neurons zeroed one by one to measure the spread of a single-neuron edit. Default 24. */
  randomNeurons?: number;
  seed?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface LocateResult {
  baseline: { loss: number; objective: number; factualMargin: number; factualAccuracy: number; words: number };
  noise: NoiseFloor;
  thresholds: ClassThresholds;
  neurons: LocatedNeuron[];
}


export function defaultCandidates(totalNeurons: number): number {
  return Math.min(512, Math.max(32, Math.round(2 * Math.sqrt(totalNeurons))));
}

function topK(layers: readonly Float32Array[], k: number, score: (v: number) => number, skip: ReadonlySet<string> = new Set()): NeuronId[] {
  const all: (NeuronId & { s: number })[] = [];
  layers.forEach((values, layer) => values.forEach((v, index) => all.push({ layer, index, s: score(v) })));
  return all
    .filter((n) => n.s > 0 && !skip.has(neuronKey(n)))
    .sort((a, b) => b.s - a.s || byPosition(a, b))
    .slice(0, k)
    .map(({ layer, index }) => ({ layer, index }));
}

/**
 * Per-probe DLA weights such that Σ w·DLA predicts how much zeroing a neuron shrinks the objective:
 * the stereotype gap is mean_female r − mean_male r, the prior the mean b of the baseline words; the
 * sign of the measured objective turns "moves it" into "shrinks it".
 */
export function dlaWeights(base: Baseline): DlaWeights {
  const items = base.probes.items.map((item) => item.probe);
  const sign = Math.sign(objectiveValue(base.score, base.objective) ?? 0);
  const direction = (p: (typeof items)[number]) => p.direction ?? base.scoreOptions.directions?.get(p.word);
  const objective = new Float64Array(items.length);
  if (base.objective === "prior") {
    const baseline = items.filter((p) => p.baseline).length;
    items.forEach((p, i) => (objective[i] = p.baseline ? sign / baseline : 0));
  } else {
    const count = (g: string) => items.filter((p) => p.label === "stereotyped" && direction(p) === g).length;
    const [nF, nM] = [count("female"), count("male")];
    items.forEach((p, i) => {
      if (p.label !== "stereotyped") return;
      const d = direction(p);
      if (d === "female") objective[i] = sign / nF;
      else if (d === "male") objective[i] = -sign / nM;
    });
  }
  const nFactual = items.filter((p) => p.label === "factual").length;
  const factual = Float64Array.from(items, (p) => (p.label === "factual" ? (p.gold === "female" ? 1 : -1) / nFactual : 0));
  return { objective, factual };
}

/**
 * The fast search's candidates: the neurons whose zeroing would shrink the objective most through the
 * logits (direct effect > 0), best first — one capture of the selection probes, no causal pass.
 */
export async function rankByDirectEffect(model: DebiasModel, file: GgufFile, evaluator: Evaluator, base: Baseline, options: Pick<LocateOptions, "candidates"> = {}): Promise<Candidate[]> {
  const pool = options.candidates ?? defaultCandidates(model.facts.nLayer * (model.facts.nFf ?? 0));
  const direct = await directEffects(file, model, evaluator, base.probes, dlaWeights(base));
  return topK(direct.objective, pool, (v) => v).map((n) => ({ ...n, dla: direct.objective[n.layer]![n.index]!, dlaFactual: direct.factual[n.layer]![n.index]!, sources: ["dla"] }));
}

export async function locate(model: DebiasModel, file: GgufFile, evaluator: Evaluator, base: Baseline, options: LocateOptions = {}): Promise<LocateResult> {
  checkOptions(options, "locate");
  const { nLayer } = model.facts;
  const progress = options.onProgress ?? (() => undefined);
  const generalKl = options.maxKl ?? DEFAULTS.maxKl;
  const factualTolerance = 1 - (options.minFactualRatio ?? DEFAULTS.minFactualRatio);
  const nFf = model.facts.nFf ?? 0;
  const pool = options.candidates ?? defaultCandidates(nLayer * nFf);

  progress("direct effects", 0, 1);
  const direct = await directEffects(file, model, evaluator, base.probes, dlaWeights(base));
  progress("word tracking", 0, 1);
  const stereotyped = base.probes.filter((p) => p.label === "stereotyped");
  const r = residuals(base.probes.items.map((item) => item.probe), Array.from(base.b));
  const rStereo = Float64Array.from(base.probes.items.flatMap((item, i) => (item.probe.label === "stereotyped" ? [r[i]!] : [])));
  const correlation = base.objective === "stereotype" && stereotyped.items.length > 2 ? await wordCorrelations(evaluator, stereotyped, rStereo, nLayer) : direct.objective.map((l) => new Float32Array(l.length));
  const magnitude = await neutralMagnitudes(evaluator, base.neutral.prompts, direct.norms, nLayer);

  const sources = new Map<string, NeuronId & { sources: string[] }>();
  const add = (list: NeuronId[], source: string) => {
    for (const n of list) {
      const entry = sources.get(neuronKey(n)) ?? { ...n, sources: [] };
      entry.sources.push(source);
      sources.set(neuronKey(n), entry);
    }
  };
  const byWord = base.objective === "stereotype" ? Math.floor(pool / 4) : 0;
  add(topK(direct.objective, pool - byWord, (v) => v), "dla");
  add(topK(correlation, byWord, Math.abs, new Set(sources.keys())), "word");
  add(topK(magnitude, options.neutralCandidates ?? 8, (v) => v), "neutral");
  const candidates = [...sources.values()].sort(byPosition);

  const random = seededRandom(options.seed ?? DEFAULTS.seed);
  const randomNeurons: NeuronId[] = [];
  const wanted = Math.min(options.randomNeurons ?? 24, nLayer * nFf - candidates.length);
  while (randomNeurons.length < wanted) {
    const n = { layer: Math.floor(random() * nLayer), index: Math.floor(random() * nFf) };
    if (!sources.has(neuronKey(n)) && !randomNeurons.some((m) => neuronKey(m) === neuronKey(n))) randomNeurons.push(n);
  }

  const effects = await causalEffects(evaluator, base, [...candidates, ...randomNeurons].map((n) => [n]), (done, total) => progress(`zeroing ${count(candidates.length, "candidate")} and ${count(randomNeurons.length, "random neuron")} (the noise floor) one by one`, done, total));
  const baseLoss = searchSize(base.score, base.objective);
  const baseMargin = base.score.factualMargin ?? 0;
  const noise = noiseFloor(effects.slice(candidates.length), baseLoss);
  const thresholds = { generalKl, factualTolerance };

  const neurons = candidates.map((n, k): LocatedNeuron => {
    const effect = effects[k]!;
    const { kind, reasons } = classOf(effect, noise, baseMargin, thresholds);
    return {
      layer: n.layer,
      index: n.index,
      dla: direct.objective[n.layer]![n.index]!,
      dlaFactual: direct.factual[n.layer]![n.index]!,
      wordCorrelation: correlation[n.layer]![n.index]!,
      neutralMagnitude: magnitude[n.layer]![n.index]!,
      sources: n.sources,
      causal: { dLoss: effect.dLoss, dFactual: effect.dFactual, kl: effect.kl },
      kind,
      reasons,
    };
  });
  return {
    baseline: { loss: baseLoss, objective: objectiveValue(base.score, base.objective) ?? 0, factualMargin: baseMargin, factualAccuracy: base.score.factualAccuracy ?? 0, words: base.score.words.length },
    noise,
    thresholds,
    neurons,
  };
}
