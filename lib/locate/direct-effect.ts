// Logit-based attribution: the direct effect of FFN neuron (l, i) on a probe's bias b at the position
// where its female and male continuations part (the probe's divergence; the prompt's last token when the
// tokenizer keeps the prompt's tokens apart from the targets'),
//   DLA_{l,i}(p) = a_{l,i}(T) · ((u ⊙ γ) · v_{l,i}) / norm(h_final(T)),
// with u = W_U[female] − W_U[male] for the first differing tokens, γ the final norm's weight, v_{l,i}
// column i of ffn_down, and the final norm's scale frozen at its measured value (as in the paper's code).
// For a LayerNorm model the mean is removed from v first, since the norm subtracts it. (u ⊙ γ)·v is
// static: one pass over ffn_down.
import { DebiasError } from "../errors.js";
import type { GgufFile } from "../gguf/reader.js";
import type { Evaluator } from "../llama/evaluator.js";
import type { DebiasModel } from "../llama/model.js";
import { readRows, requireTensor } from "../gguf/tensors.js";
import type { ProbeSet } from "../measure/probe-set.js";

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
  /** Per target pair (a probe's divergence tokens: the first female and male tokens that differ), per layer: (u ⊙ γ) · v_i for every neuron i. */
  scores: Float32Array[][];
  /** Per layer: ‖v_i‖, how much a unit of activation moves the residual stream. */
  norms: Float32Array[];
}

/** One pass over every ffn_down: the direction scores of each target pair, and the value-vector norms. */
export async function valueVectors(file: GgufFile, model: DebiasModel, pairs: readonly { female: number; male: number }[]): Promise<ValueVectors> {
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
  /** Per layer: Σ_p w_p·DLA_p with the objective's weights — how much zeroing each neuron would shrink the objective directly. */
  objective: Float32Array[];
  /** Per layer: mean over factual probes of gold·DLA — how much each neuron carries factual gender. */
  factual: Float32Array[];
}

/** Per-probe weights: `objective` turns DLAs into the direct shrink of the objective; `factual` into the factual margin. */
export interface DlaWeights {
  objective: Float64Array;
  factual: Float64Array;
}

/**
 * Sums weighted DLA over probes, streaming them through the evaluator a batch at a time so memory stays
 * at one batch of activations whatever the number of probes; probes of weight 0 are not evaluated, and
 * probes whose divergence is null count as weight 0. Each probe is evaluated on its divergence tokens and
 * read at their last position, with u from its divergence's female and male tokens.
 */
export async function directEffects(file: GgufFile, model: DebiasModel, evaluator: Evaluator, probes: ProbeSet, weights: DlaWeights, batch = 64): Promise<DirectEffects> {
  const { arch, nLayer } = model.facts;
  const norm = finalNorm(file, arch);
  const pairKeys = new Map<string, number>();
  const pairs: { female: number; male: number }[] = [];
  const pairOf = probes.items.map((item) => {
    if (item.divergence === null) return -1;
    const { female, male } = item.divergence;
    const key = `${female}:${male}`;
    if (!pairKeys.has(key)) {
      pairKeys.set(key, pairs.length);
      pairs.push({ female, male });
    }
    return pairKeys.get(key)!;
  });
  const vectors = await valueVectors(file, model, pairs);
  const { scores } = vectors;
  const nFf = vectors.norms[0]!.length;
  const layers = Array.from({ length: nLayer }, (_, l) => l);
  const sums = { objective: layers.map(() => new Float64Array(nFf)), factual: layers.map(() => new Float64Array(nFf)) };
  // A probe without a divergence has no single next token that separates its sides: it gets no DLA.
  const used = probes.items.flatMap((_, p) => (pairOf[p]! >= 0 && (weights.objective[p] !== 0 || weights.factual[p] !== 0) ? [p] : []));
  for (let first = 0; first < used.length; first += batch) {
    const chunk = used.slice(first, first + batch);
    const at = chunk.map((_, k) => ({ prompt: k, position: -1 }));
    const result = await evaluator.evaluate({
      prompts: chunk.map((p) => probes.items[p]!.divergence!.tokens),
      capture: { layers, at },
      captureNamed: { names: [`l_out-${nLayer - 1}`], at },
    });
    chunk.forEach((p, k) => {
      const inverseNorm = 1 / normScale(result.named[0]![k]!, norm);
      const pairScores = scores[pairOf[p]!]!;
      for (const [target, w] of [[sums.objective, weights.objective[p]!], [sums.factual, weights.factual[p]!]] as const) {
        if (w === 0) continue;
        for (let l = 0; l < nLayer; l++) {
          const a = result.activation(k, l);
          const s = pairScores[l]!;
          const out = target[l]!;
          const scale = w * inverseNorm;
          for (let i = 0; i < nFf; i++) out[i] += a[i]! * s[i]! * scale;
        }
      }
    });
  }
  const toF32 = (list: Float64Array[]) => list.map((s) => Float32Array.from(s));
  return { ...vectors, objective: toF32(sums.objective), factual: toF32(sums.factual) };
}
