// What the standard benchmarks (WinoBias, CrowS-Pairs) share: the injected sentence scorer and the
// guard on what it returns, so a scorer bug shows up as one clear error rather than a silently wrong
// percentage.
import { DebiasError } from "../errors.js";

/**
 * Returns the summed log-probability (nats) of each text under the model, in the same order. The
 * native evaluator provides it; tests pass a deterministic fake.
 */
export type SentenceScorer = (texts: string[]) => Promise<number[]>;

/** Runs the scorer once over all texts and checks it answered each one with a usable number. */
export async function scoreSentences(scorer: SentenceScorer, texts: string[], benchmark: string): Promise<number[]> {
  const scores = await scorer(texts);
  if (!Array.isArray(scores) || scores.length !== texts.length) {
    throw new DebiasError("E_BENCHMARK_SCORER_INVALID", `The ${benchmark} scorer returned ${Array.isArray(scores) ? scores.length : "no array of"} scores for ${texts.length} sentences.`);
  }
  // −Infinity is a legitimate log-probability (an impossible sentence) and still compares correctly.
  const bad = scores.findIndex((s) => typeof s !== "number" || Number.isNaN(s) || s === Infinity);
  if (bad !== -1) {
    throw new DebiasError("E_BENCHMARK_SCORER_INVALID", `The ${benchmark} scorer returned ${String(scores[bad])} for sentence #${bad + 1}, not a log-probability.`);
  }
  return scores;
}

/** hits / n as a percentage; null when n is 0. */
export function percent(hits: number, n: number): number | null {
  return n === 0 ? null : (100 * hits) / n;
}
