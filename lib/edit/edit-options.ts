// What every edit takes: the tool name it records, and the requantizer a column edit of a quantized
// tensor needs.
import type { PlanOptions, Requantizer } from "./neuron-edit.js";

export interface EditOptions extends PlanOptions {
  /** Recorded in the journal or the provenance, e.g. "gguf-debias 0.1.0". */
  readonly tool?: string;
}

/**
 * ggml's own quantizers unless the caller brings others. Loaded on first use only: most edits never
 * requantize (gated FFNs, float types), and the editor stays usable where the addon is not built.
 */
const defaultRequantizer: Requantizer = {
  dequantize: async (...args) => (await import("./requantizer.js")).nativeRequantizer.dequantize(...args),
  quantize: async (...args) => (await import("./requantizer.js")).nativeRequantizer.quantize(...args),
};

export const withRequantizer = (options: EditOptions): EditOptions => ({ ...options, requantizer: options.requantizer ?? defaultRequantizer });
