// Neuron identity and the small numeric helpers attribution shares.
export interface NeuronId {
  layer: number;
  index: number;
}

export const neuronKey = (n: NeuronId): string => `${n.layer}:${n.index}`;

/** Layer, then index: the stable order every output uses. */
export const byPosition = (a: NeuronId, b: NeuronId): number => a.layer - b.layer || a.index - b.index;

/** Deterministic PRNG (mulberry32) so random baselines repeat exactly from run to run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Groups neurons (with a scale) into one intervention per layer, layers ascending. */
export function interventionsFor(neurons: readonly (NeuronId & { scale?: number })[]): { layer: number; neurons: number[]; scales: number[] }[] {
  const byLayer = new Map<number, { neurons: number[]; scales: number[] }>();
  for (const n of [...neurons].sort(byPosition)) {
    const entry = byLayer.get(n.layer) ?? { neurons: [], scales: [] };
    entry.neurons.push(n.index);
    entry.scales.push(n.scale ?? 0);
    byLayer.set(n.layer, entry);
  }
  return [...byLayer].map(([layer, entry]) => ({ layer, ...entry }));
}

export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return values.length === 0 ? 0 : sum / values.length;
}

export function std(values: ArrayLike<number>): number {
  const m = mean(values);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i]! - m) ** 2;
  return values.length < 2 ? 0 : Math.sqrt(sum / (values.length - 1));
}
