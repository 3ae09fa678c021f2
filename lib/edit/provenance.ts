// The `debias.*` metadata an edited copy carries: which tool wrote it, from which file (sha256), and
// every neuron edited since the original model, as three parallel arrays.
import { DebiasError } from "../errors.js";
import { GgufValueType, type GgufArray, type GgufKv } from "../gguf/format.js";
import type { GgufFile } from "../gguf/reader.js";
import type { NeuronEdit } from "./neuron-edit.js";

export interface Provenance {
  readonly tool: string;
  /** sha256 of the file this one was written from. */
  readonly sourceSha256: string;
  /** Every neuron edited since the original model, in order. */
  readonly edits: readonly NeuronEdit[];
}

export const DEFAULT_TOOL = "gguf-debias";

export const KV = {
  tool: "debias.tool",
  source: "debias.source_sha256",
  layers: "debias.layers",
  indices: "debias.indices",
  scales: "debias.scales",
} as const;

export function neuronArrays(edits: readonly NeuronEdit[]): GgufKv[] {
  const arr = (key: string, itemType: GgufValueType, items: GgufArray["items"]): GgufKv => ({ key, type: GgufValueType.ARRAY, value: { itemType, items } });
  return [
    arr(KV.layers, GgufValueType.UINT32, Uint32Array.from(edits, (e) => e.layer)),
    arr(KV.indices, GgufValueType.UINT32, Uint32Array.from(edits, (e) => e.index)),
    arr(KV.scales, GgufValueType.FLOAT32, Float32Array.from(edits, (e) => e.scale)),
  ];
}

export function readProvenance(file: GgufFile): Provenance | null {
  const tool = file.kv(KV.tool);
  if (!tool) return null;
  const items = (key: string): ArrayLike<number> => {
    const kv = file.kv(key);
    const v = kv?.value as GgufArray | undefined;
    if (kv?.type !== GgufValueType.ARRAY || !v || (v.itemType !== GgufValueType.UINT32 && v.itemType !== GgufValueType.FLOAT32)) {
      throw new DebiasError("E_GGUF_KV_TYPE", `${file.path}: the provenance KV ${key} is missing or not a numeric array.`);
    }
    return v.items as ArrayLike<number>;
  };
  const [layers, indices, scales] = [items(KV.layers), items(KV.indices), items(KV.scales)];
  if (layers.length !== indices.length || layers.length !== scales.length) {
    throw new DebiasError("E_GGUF_KV_TYPE", `${file.path}: the provenance arrays ${KV.layers}, ${KV.indices}, ${KV.scales} differ in length.`);
  }
  return {
    tool: file.kvString(KV.tool)!,
    sourceSha256: file.kvString(KV.source) ?? "",
    edits: Array.from({ length: layers.length }, (_, i) => ({ layer: layers[i]!, index: indices[i]!, scale: scales[i]! })),
  };
}
