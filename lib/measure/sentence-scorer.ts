// The SentenceScorer that WinoBias and CrowS-Pairs compare readings with, on a real model: the summed
// log-probability of each text, every token after the model's BOS scored given those before it, with
// the same FFN interventions a search measures a set by (so a set's effect on a benchmark is known
// before any file is written, and the written file gives the same numbers).
import type { Evaluator, InterventionSpec, TargetSpec } from "../llama/evaluator.js";
import type { DebiasModel } from "../llama/model.js";
import { isDebiasError } from "../errors.js";
import type { SentenceScorer } from "./benchmark.js";

/** Texts per evaluation: small enough that progress moves and a cancellation is seen soon. */
const GROUP = 128;

export function sentenceScorer(model: DebiasModel, evaluator: Evaluator, interventions: readonly InterventionSpec[] = [], onProgress?: (done: number, total: number) => void): SentenceScorer {
  return async (texts) => {
    const sums = new Array<number>(texts.length).fill(0);
    for (let first = 0; first < texts.length; first += GROUP) {
      onProgress?.(first, texts.length);
      const prompts = texts.slice(first, first + GROUP).map((text) => model.tokenize(text, { addSpecial: true }));
      const targets: TargetSpec[] = [];
      const owner: number[] = [];
      prompts.forEach((tokens, prompt) => {
        for (let k = 1; k < tokens.length; k++) {
          targets.push({ prompt, position: k - 1, token: tokens[k]! });
          owner.push(first + prompt);
        }
      });
      if (targets.length === 0) continue;
      const { logprobs } = await evaluator.evaluate({ prompts, targets, interventions });
      logprobs.forEach((lp, t) => (sums[owner[t]!] += lp));
    }
    onProgress?.(texts.length, texts.length);
    return sums;
  };
}

/** Whether the model's vocabulary can spell the text (llama.cpp refuses a byte it has no token for). */
export function spells(model: DebiasModel, text: string): boolean {
  try {
    model.tokenize(text, { addSpecial: true });
    return true;
  } catch (err) {
    if (isDebiasError(err) && err.code === "E_TOKENIZE") return false;
    throw err;
  }
}
