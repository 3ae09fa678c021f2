// Indirect gender neurons (the paper's Figure 1): neurons at the word's position whose activation tracks
// the bias b from word to word. They act through attention on later positions, so the direct effect at
// the last position misses them. Score: Pearson correlation between activation and b across probes.
import type { Evaluator } from "../llama/evaluator.js";
import type { ProbeSet } from "../measure/probe-set.js";

/** Per layer, per neuron: corr(a_{l,i}(word position), b) over the given probes (0 where undefined). */
export async function wordCorrelations(evaluator: Evaluator, probes: ProbeSet, b: Float64Array, nLayer: number, batch = 64): Promise<Float32Array[]> {
  const layers = Array.from({ length: nLayer }, (_, l) => l);
  let sa: Float64Array[] = [];
  let saa: Float64Array[] = [];
  let sab: Float64Array[] = [];
  let sb = 0;
  let sbb = 0;
  const n = probes.items.length;
  for (let first = 0; first < n; first += batch) {
    const items = probes.items.slice(first, first + batch);
    const result = await evaluator.evaluate({
      prompts: items.map((item) => item.prompt),
      capture: { layers, at: items.map((item, k) => ({ prompt: k, position: item.wordPosition })) },
    });
    if (sa.length === 0) {
      const zeros = () => layers.map(() => new Float64Array(result.nFf));
      [sa, saa, sab] = [zeros(), zeros(), zeros()];
    }
    items.forEach((_, k) => {
      const bk = b[first + k]!;
      sb += bk;
      sbb += bk * bk;
      for (const l of layers) {
        const a = result.activation(k, l);
        const [A, AA, AB] = [sa[l]!, saa[l]!, sab[l]!];
        for (let i = 0; i < a.length; i++) {
          A[i] += a[i]!;
          AA[i] += a[i]! * a[i]!;
          AB[i] += a[i]! * bk;
        }
      }
    });
  }
  const varB = sbb - (sb * sb) / n;
  return layers.map((l) =>
    Float32Array.from(sa[l] ?? [], (A, i) => {
      const varA = saa[l]![i]! - (A * A) / n;
      const cov = sab[l]![i]! - (A * sb) / n;
      return varA > 1e-12 && varB > 1e-12 ? cov / Math.sqrt(varA * varB) : 0;
    }),
  );
}

/** Per layer, per neuron: mean |activation| over the neutral text, weighted by the norm of its value vector. */
export async function neutralMagnitudes(evaluator: Evaluator, prompts: readonly Int32Array[], valueNorms: readonly Float32Array[], nLayer: number): Promise<Float32Array[]> {
  const layers = Array.from({ length: nLayer }, (_, l) => l);
  const at = prompts.flatMap((tokens, prompt) => Array.from(tokens, (_, position) => ({ prompt, position })));
  const result = await evaluator.evaluate({ prompts, capture: { layers, at } });
  return layers.map((l) => {
    const out = new Float32Array(result.nFf);
    for (let k = 0; k < at.length; k++) {
      const a = result.activation(k, l);
      for (let i = 0; i < a.length; i++) out[i] += Math.abs(a[i]!) / at.length;
    }
    return out.map((v, i) => v * valueNorms[l]![i]!);
  });
}
