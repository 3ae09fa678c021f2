// Logit-based attribution: the direct effect of FFN neuron (l, i) on a probe's bias b at the last position,
//   DLA_{l,i}(p) = a_{l,i}(T) · ((u ⊙ γ) · v_{l,i}) / norm(h_final(T)),
// with u = W_U[female] − W_U[male], γ the final norm's weight, v_{l,i} column i of ffn_down, and the final
// norm's scale frozen at its measured value (as in the paper's code). For a LayerNorm model the mean is
// removed from v first, since the norm subtracts it. (u ⊙ γ)·v is static: one pass over ffn_down.
import { DebiasError } from "../errors.js";
import type { GgufFile } from "../gguf/reader.js";
import type { Evaluator } from "../llama/evaluator.js";
import type { LlamaModel } from "../llama/model.js";
import { readRows, requireTensor } from "../tensors.js";
import type { ProbeSet } from "../bias/probe-set.js";

export interface NormKind {
  kind: "rms" | "layer";
  eps: number;
}

function finalNorm(file: GgufFile, arch: string): NormKind {
  const layer = file.tensor("output_norm.bias") !== undefined;
  const key = layer ? `${arch}.attention.layer_norm_epsilon` : `${arch}.attention.layer_norm_rms_epsilon`;
  const kv = file.kv(key);
  return { kind: layer ? "layer" : "rms", eps: typeof kv?.value === "number" ? kv.value : 1e-5 };
}

/** The scale the final norm divides the residual by. */
export function normScale(h: Float32Array, norm: NormKind): number {
  let mean = 0;
  if (norm.kind === "layer") {
    for (const v of h) mean += v;
    mean /= h.length;
  }
  let sq = 0;
  for (const v of h) sq += (v - mean) ** 2;
  return Math.sqrt(sq / h.length + norm.eps);
}

export interface ValueVectors {
  /** Per target pair (female/male first tokens), per layer: (u ⊙ γ) · v_i for every neuron i. */
  scores: Float32Array[][];
  /** Per layer: ‖v_i‖, how much a unit of activation moves the residual stream. */
  norms: Float32Array[];
}

/** One pass over every ffn_down: the direction scores of each target pair, and the value-vector norms. */
export async function valueVectors(file: GgufFile, model: LlamaModel, pairs: readonly { female: number; male: number }[]): Promise<ValueVectors> {
  const { arch, nLayer, nEmbd } = model.facts;
  const norm = finalNorm(file, arch);
  const output = file.tensor("output.weight") ?? requireTensor(file, "token_embd.weight");
  const gamma = await readRows(file, requireTensor(file, "output_norm.weight"));
  const directions = await Promise.all(
    pairs.map(async ({ female, male }) => {
      const f = await readRows(file, output, female, 1);
      const m = await readRows(file, output, male, 1);
      return Float32Array.from(gamma, (g, j) => g * (f[j]! - m[j]!));
    }),
  );
  const scores = pairs.map(() => [] as Float32Array[]);
  const norms: Float32Array[] = [];
  for (let layer = 0; layer < nLayer; layer++) {
    const down = requireTensor(file, `blk.${layer}.ffn_down.weight`);
    if (down.ne[1] !== nEmbd) throw new DebiasError("E_TENSOR_SHAPE", `blk.${layer}.ffn_down.weight is not n_ff × n_embd`);
    const nFf = down.ne[0]!;
    const w = await readRows(file, down);
    const norm2 = new Float64Array(nFf);
    for (let k = 0; k < w.length; k++) norm2[k % nFf] += w[k]! * w[k]!;
    norms.push(Float32Array.from(norm2, Math.sqrt));
    // Row j of ffn_down holds output dimension j for every neuron: v_i[j] = w[j * nFf + i].
    directions.forEach((d, p) => {
      const s = new Float32Array(nFf);
      const means = new Float64Array(nFf);
      let dSum = 0;
      for (let j = 0; j < nEmbd; j++) {
        const dj = d[j]!;
        dSum += dj;
        const row = j * nFf;
        for (let i = 0; i < nFf; i++) {
          s[i] += dj * w[row + i]!;
          if (norm.kind === "layer") means[i] += w[row + i]!;
        }
      }
      if (norm.kind === "layer") for (let i = 0; i < nFf; i++) s[i] -= (means[i]! / nEmbd) * dSum;
      scores[p]!.push(s);
    });
  }
  return { scores, norms };
}

export interface DirectEffects extends ValueVectors {
  /** Per layer: mean over stereotyped probes of sign(b)·DLA — how much each neuron pushes toward the stereotype. */
  stereotype: Float32Array[];
  /** Per layer: mean over factual probes of gold·DLA — how much each neuron carries factual gender. */
  factual: Float32Array[];
}

/**
 * Averages DLA over probes, streaming them through the evaluator a batch at a time so memory stays
 * at one batch of activations whatever the number of probes.
 */
export async function directEffects(
  file: GgufFile,
  model: LlamaModel,
  evaluator: Evaluator,
  probes: ProbeSet,
  b: Float64Array,
  batch = 64,
): Promise<DirectEffects> {
  const { arch, nLayer } = model.facts;
  const norm = finalNorm(file, arch);
  const pairKeys = new Map<string, number>();
  const pairs: { female: number; male: number }[] = [];
  const pairOf = probes.items.map((item) => {
    const key = `${item.female[0]}:${item.male[0]}`;
    if (!pairKeys.has(key)) {
      pairKeys.set(key, pairs.length);
      pairs.push({ female: item.female[0]!, male: item.male[0]! });
    }
    return pairKeys.get(key)!;
  });
  const vectors = await valueVectors(file, model, pairs);
  const { scores } = vectors;
  const nFf = scores[0]![0]!.length;
  const layers = Array.from({ length: nLayer }, (_, l) => l);
  const stereotype = layers.map(() => new Float64Array(nFf));
  const factual = layers.map(() => new Float64Array(nFf));
  let nStereo = 0;
  let nFactual = 0;
  for (let first = 0; first < probes.items.length; first += batch) {
    const items = probes.items.slice(first, first + batch);
    const weights = items.map((item, k) => {
      const p = first + k;
      if (item.probe.label === "stereotyped") return { target: stereotype, w: Math.sign(b[p]!) };
      if (item.probe.label === "factual") return { target: factual, w: item.probe.gold === "female" ? 1 : -1 };
      return null;
    });
    if (weights.every((w) => w === null)) continue;
    const at = items.map((_, k) => ({ prompt: k, position: -1 }));
    const result = await evaluator.evaluate({
      prompts: items.map((item) => item.prompt),
      capture: { layers, at },
      captureNamed: { names: [`l_out-${nLayer - 1}`], at },
    });
    items.forEach((_, k) => {
      const weight = weights[k];
      if (!weight) return;
      if (weight.target === stereotype) nStereo++;
      else nFactual++;
      const scale = weight.w / normScale(result.named[0]![k]!, norm);
      const pairScores = scores[pairOf[first + k]!]!;
      for (let l = 0; l < nLayer; l++) {
        const a = result.activation(k, l);
        const s = pairScores[l]!;
        const out = weight.target[l]!;
        for (let i = 0; i < nFf; i++) out[i] += a[i]! * s[i]! * scale;
      }
    });
  }
  const average = (sums: Float64Array[], n: number) => sums.map((s) => Float32Array.from(s, (v) => (n === 0 ? 0 : v / n)));
  return { ...vectors, stereotype: average(stereotype, nStereo), factual: average(factual, nFactual) };
}
