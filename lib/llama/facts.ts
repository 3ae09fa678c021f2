// What a loaded model is (architecture, sizes, FFN width), and the defaults that follow from it. Kept apart
// from model.ts so the evaluator can know a model's facts without importing the model that creates it.
import { availableParallelism } from "node:os";
import type { NativeFacts } from "../native.js";

/**
 * Threads for a model of this size: one below 100M parameters, where a forward pass is too short for
 * ggml's spinning workers to pay off (on a 2-core machine 1 thread beat 2 on the 3M-parameter fixture,
 * and more threads than free cores slowed tiny models 10–30×); every core above.
 */
export function defaultThreads(nParams: number): number {
  return nParams < 100e6 ? 1 : availableParallelism();
}

export interface ModelFacts extends NativeFacts {
  /** FFN neurons per layer, from `<arch>.feed_forward_length`; null where the file stores a per-layer list. */
  nFf: number | null;
}
