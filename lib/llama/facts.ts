// What a loaded model is (architecture, sizes, FFN width), and the defaults that follow from it. Kept apart
// from model.ts so the evaluator can know a model's facts without importing the model that creates it.
import { availableParallelism, loadavg } from "node:os";
import type { NativeFacts } from "../native.js";

/**
 * Threads when the caller names none: the cores other processes leave free (by the 1-minute load
 * average), at least one. ggml's workers spin: with more threads than free cores a forward pass waits on
 * descheduled workers (bench/threads on a 2-core machine, 3M-parameter fixture: 2 threads took 0.68× the
 * 1-thread time when idle but 1.56× with one core busy; tiny models were seen 10–30× slower). Results do
 * not depend on the thread count.
 */
export function defaultThreads(): number {
  const cores = availableParallelism();
  return Math.max(1, Math.min(cores, Math.round(cores - loadavg()[0]!)));
}

export interface ModelFacts extends NativeFacts {
  /** FFN neurons per layer, from `<arch>.feed_forward_length`; null where the file stores a per-layer list. */
  nFf: number | null;
  /** The file's metadata as text, arrays of up to 16 items included (tokenizer lists are left out). */
  meta: Record<string, string>;
}
