// Gender-free text on which an edit must change nothing: the next-token distributions at every position
// give KL(original ‖ edited) and top-1 agreement; the log-prob of each actual next token gives perplexity.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DebiasError } from "../errors.js";
import type { Evaluator, InterventionSpec, PromptPosition } from "../llama/evaluator.js";
import type { DebiasModel } from "../llama/model.js";
import { packageRoot } from "../package-root.js";
import { klDivergence, perplexity } from "./metrics.js";

/** The neutral English text shipped with the package, one sentence a line. */
export function defaultNeutralSentences(): string[] {
  return readFileSync(join(packageRoot(), "data", "neutral.txt"), "utf8").split("\n").map((s) => s.trim()).filter(Boolean);
}

export interface Capability {
  /** Mean KL(original ‖ edited) over every predicted position, nats. */
  kl: number;
  /** Share of positions where both models' most likely next token agree. */
  top1Agreement: number;
  perplexity: number;
  basePerplexity: number;
}

/** Next-token distributions of a model on the neutral text, with what is needed to compare them. */
export interface NeutralRun {
  /** Log-prob rows (nVocab) at every position: views into `matrix`. */
  rows: Float32Array[];
  /** The rows back to back: what an edited model's positions are compared with in C++. */
  matrix: Float32Array;
  /** log p of the actual next token at each row. */
  nextLogprobs: Float64Array;
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
  return best;
}

/**
 * Most positions a neutral text may predict. A run holds a next-token distribution (the whole vocabulary
 * in float32) per position, for the original and again for a verified edit (20k sentences took 1.6 GB):
 * at most 8,192 positions (the bundled text is about 520 on Llama 3's tokenizer, 1,357 on the fixtures'),
 * and fewer where 1 GiB holds fewer rows (2,093 at a 128k vocabulary).
 */
export const MAX_NEUTRAL_POSITIONS = 8192;
const MAX_NEUTRAL_MATRIX_BYTES = 2 ** 30;

export class NeutralText {
  readonly prompts: Int32Array[];
  readonly positions: PromptPosition[];
  readonly #next: number[];

  /** Throws E_NEUTRAL_TOO_LONG where the text predicts more positions than fit the bound above for this vocabulary. */
  constructor(model: DebiasModel, sentences: readonly string[]) {
    const nVocab = model.facts.nVocab;
    const limit = Math.min(MAX_NEUTRAL_POSITIONS, Math.floor(MAX_NEUTRAL_MATRIX_BYTES / (4 * nVocab)));
    this.prompts = [];
    let predicted = 0;
    // sentence by sentence, so a text far too long is refused without tokenizing all of it
    for (const [i, sentence] of sentences.entries()) {
      const tokens = model.tokenize(sentence);
      if (tokens.length < 2) continue;
      this.prompts.push(tokens);
      predicted += tokens.length - 1;
      if (predicted > limit) {
        throw new DebiasError("E_NEUTRAL_TOO_LONG",
          `The neutral text predicts more than ${limit} tokens (${predicted} by sentence ${i + 1} of ${sentences.length}), the most that fit in bounded memory on this ${nVocab}-token vocabulary (each holds a distribution over the whole vocabulary): give fewer or shorter sentences.`);
      }
    }
    if (this.prompts.length === 0) throw new DebiasError("E_NEUTRAL_TEXT", "the neutral text holds no sentence of two or more tokens");
    this.positions = this.prompts.flatMap((tokens, prompt) => Array.from({ length: tokens.length - 1 }, (_, position) => ({ prompt, position })));
    this.#next = this.positions.map(({ prompt, position }) => this.prompts[prompt]![position + 1]!);
  }

  /** Tokens one run over the text evaluates. */
  get tokenCount(): number {
    return this.prompts.reduce((sum, tokens) => sum + tokens.length, 0);
  }

  async run(evaluator: Evaluator, interventions: readonly InterventionSpec[] = []): Promise<NeutralRun> {
    const { distributions, distributionMatrix } = await evaluator.evaluate({ prompts: this.prompts, distributions: this.positions, interventions });
    return { rows: distributions, matrix: distributionMatrix, nextLogprobs: Float64Array.from(distributions, (row, i) => row[this.#next[i]!]!) };
  }

  /**
   * The model under `interventions` (or another model with the same vocabulary) against `base`: KL,
   * top-1 agreement and perplexity, compared position by position in C++ so no edited row reaches JS.
   */
  async compare(evaluator: Evaluator, base: NeutralRun, interventions: readonly InterventionSpec[] = []): Promise<Capability> {
    const { compared } = await evaluator.evaluate({ prompts: this.prompts, interventions, compare: { reference: base.matrix, at: this.positions.map((p, i) => ({ ...p, row: i, token: this.#next[i]! })) } });
    const sum = (values: Iterable<number>) => {
      let total = 0;
      for (const v of values) total += v;
      return total;
    };
    return {
      kl: sum(compared.kl) / compared.kl.length,
      top1Agreement: sum(compared.agree) / compared.agree.length,
      perplexity: perplexity(-sum(compared.logprobs), compared.logprobs.length),
      basePerplexity: perplexity(-sum(base.nextLogprobs), base.nextLogprobs.length),
    };
  }

  /** Mean KL(base ‖ edited) for many intervention variants, a few variants per evaluation; rows are compared in C++. */
  async klVariants(evaluator: Evaluator, base: NeutralRun, variants: readonly (readonly InterventionSpec[])[], group = 8): Promise<number[]> {
    const out: number[] = [];
    const n = this.prompts.length;
    for (let first = 0; first < variants.length; first += group) {
      const batch = variants.slice(first, first + group);
      const prompts = batch.flatMap(() => this.prompts);
      const at = batch.flatMap((_, v) => this.positions.map((p, i) => ({ prompt: v * n + p.prompt, position: p.position, row: i, token: this.#next[i]! })));
      const interventions = batch.flatMap((variant, v) => variant.map((iv) => ({ ...iv, prompts: Array.from({ length: n }, (_, p) => v * n + p) })));
      const { compared } = await evaluator.evaluate({ prompts, interventions, compare: { reference: base.matrix, at } });
      batch.forEach((_, v) => {
        let sum = 0;
        for (let i = 0; i < this.positions.length; i++) sum += compared.kl[v * this.positions.length + i]!;
        out.push(sum / this.positions.length);
      });
    }
    return out;
  }
}

const runPerplexity = (run: NeutralRun) => perplexity(-run.nextLogprobs.reduce((s, v) => s + v, 0), run.nextLogprobs.length);

/** What a model keeps of itself: nothing lost, without comparing a run with itself over the vocabulary. */
export function uneditedCapability(base: NeutralRun): Capability {
  const p = runPerplexity(base);
  return { kl: 0, top1Agreement: 1, perplexity: p, basePerplexity: p };
}

export function compareRuns(base: NeutralRun, edited: NeutralRun): Capability {
  let kl = 0;
  let agree = 0;
  base.rows.forEach((row, i) => {
    kl += klDivergence(row, edited.rows[i]!);
    if (argmax(row) === argmax(edited.rows[i]!)) agree++;
  });
  return { kl: kl / base.rows.length, top1Agreement: agree / base.rows.length, perplexity: runPerplexity(edited), basePerplexity: runPerplexity(base) };
}
