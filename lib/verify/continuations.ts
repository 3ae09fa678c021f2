// Greedy continuations of the same prompts by an original and an edited model, side by side, so a
// user reads what an edit changed in the text a model writes, not only in its numbers.
import { DebiasError } from "../errors.js";
import { DebiasModel, loadAndEvaluatorOptions, type EvaluationOptions } from "../llama/model.js";
import { checkOptions } from "../option-limits.js";
import { checkSameVocabulary } from "../llama/vocabulary.js";

export interface ContinuationOptions {
  /** Tokens generated per prompt (default 32); generation also stops at end of text. */
  readonly tokens?: number;
  readonly evaluator?: EvaluationOptions;
}

export interface ContinuationPair {
  readonly prompt: string;
  readonly original: string;
  readonly edited: string;
  /** Generated tokens the two share before they first differ (all of them when identical). */
  readonly sharedTokens: number;
  readonly identical: boolean;
}

export interface Continuation {
  readonly tokens: Int32Array;
  readonly text: string;
}

/** The greedy (argmax) continuation of each prompt, token by token, stopping at end of text. */
export async function greedyContinuations(path: string, prompts: readonly string[], options: ContinuationOptions = {}): Promise<Continuation[]> {
  checkOptions(options, "continuation");
  const n = options.tokens ?? 32;
  const { load, evaluator: evaluatorOptions } = loadAndEvaluatorOptions(options.evaluator ?? {});
  const model = await DebiasModel.load(path, load);
  try {
    const evaluator = await model.createEvaluator({ nSeqMax: Math.max(1, prompts.length), ...evaluatorOptions });
    const sequences = prompts.map((p) => Array.from(model.tokenize(p)));
    const generated: number[][] = prompts.map(() => []);
    const open = new Set(prompts.keys());
    for (let step = 0; step < n && open.size > 0; step++) {
      const active = [...open];
      const { distributions } = await evaluator.evaluate({
        prompts: active.map((i) => Int32Array.from(sequences[i]!)),
        distributions: active.map((_, k) => ({ prompt: k, position: sequences[active[k]!]!.length - 1 })),
      });
      active.forEach((i, k) => {
        const row = distributions[k]!;
        let best = 0;
        for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
        if (best === model.facts.eos) open.delete(i);
        else {
          sequences[i]!.push(best);
          generated[i]!.push(best);
        }
      });
    }
    // detokenized after the prompt, so a leading space that tokenizers drop from a first token stays
    const text = (i: number): string => {
      const whole = model.detokenize(sequences[i]!, { removeSpecial: true });
      const prompt = model.detokenize(sequences[i]!.slice(0, sequences[i]!.length - generated[i]!.length), { removeSpecial: true });
      return whole.startsWith(prompt) ? whole.slice(prompt.length) : model.detokenize(generated[i]!);
    };
    return generated.map((g, i) => ({ tokens: Int32Array.from(g), text: text(i) }));
  } finally {
    model.dispose();
  }
}

/** Greedy continuations of `prompts` by both models (which must share a vocabulary), paired. */
export async function compareContinuations(original: string, edited: string, prompts: readonly string[], options: ContinuationOptions = {}): Promise<ContinuationPair[]> {
  if (prompts.length === 0) throw new DebiasError("E_ARGUMENT", "compareContinuations needs at least one prompt");
  await checkSameVocabulary(original, edited);
  const a = await greedyContinuations(original, prompts, options);
  const b = await greedyContinuations(edited, prompts, options);
  return prompts.map((prompt, i) => {
    const x = a[i]!.tokens;
    const y = b[i]!.tokens;
    let shared = 0;
    while (shared < x.length && shared < y.length && x[shared] === y[shared]) shared++;
    return { prompt, original: a[i]!.text, edited: b[i]!.text, sharedTokens: shared, identical: shared === x.length && shared === y.length };
  });
}
