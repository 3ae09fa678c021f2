// Neuron identity and the small numeric helpers attribution shares.
export interface NeuronId {
  layer: number;
  index: number;
}

export const neuronKey = (n: NeuronId): string => `${n.layer}:${n.index}`;

/** Layer, then index: the stable order every output uses. */
export const byPosition = (a: NeuronId, b: NeuronId): number => a.layer - b.layer || a.index - b.index;

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
