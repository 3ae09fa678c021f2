// Probes turned into token sequences once, then measured as often as attribution and selection need:
// plainly, under one set of interventions, or under many sets at once (each variant gets its own copy
// of every sequence in the same batches, so llama.cpp sees full batches instead of one neuron at a time).
import { DebiasError } from "../errors.js";
import type { EvaluationRequest, InterventionSpec, TargetSpec, Evaluator } from "../llama/evaluator.js";
import type { LlamaModel } from "../llama/model.js";
import type { Probe } from "./dataset.js";
import { scoreBias, type BiasScore } from "./metrics.js";

export interface TokenizedProbe {
  probe: Probe;
  prompt: Int32Array;
  female: Int32Array;
  male: Int32Array;
  /** Position of the word's last token in the prompt (where word-level neurons fire). */
  wordPosition: number;
}

interface Sequence {
  tokens: Int32Array;
  /** Targets within this sequence: position → token, with the probe and the sign they add to b. */
  targets: { position: number; token: number; probe: number; sign: 1 | -1 }[];
}

/**
 * The tokens a continuation adds after a prompt. Tokenizing prompt+continuation together keeps
 * tokenizer-specific spacing right (SentencePiece, BPE with a leading space); only when the prompt's
 * tokens are not a prefix of the joint tokens do we fall back to the continuation on its own.
 */
function continuationTokens(model: LlamaModel, prompt: string, promptTokens: Int32Array, continuation: string): Int32Array {
  const joint = model.tokenize(prompt + continuation);
  const isPrefix = joint.length > promptTokens.length && promptTokens.every((t, i) => joint[i] === t);
  const tokens = isPrefix ? joint.subarray(promptTokens.length) : model.tokenize(continuation, { addSpecial: false });
  if (tokens.length === 0) throw new DebiasError("E_PROBE_TARGET", `the target "${continuation}" tokenizes to nothing`);
  return Int32Array.from(tokens);
}

function wordPosition(model: LlamaModel, probe: Probe, prompt: Int32Array): number {
  const at = probe.prompt.indexOf(probe.word);
  if (at < 0) return prompt.length - 1;
  const prefix = model.tokenize(probe.prompt.slice(0, at + probe.word.length));
  const isPrefix = prefix.length <= prompt.length && prefix.every((t, i) => prompt[i] === t);
  return isPrefix ? prefix.length - 1 : prompt.length - 1;
}

export class ProbeSet {
  readonly items: readonly TokenizedProbe[];
  readonly #sequences: Sequence[];

  private constructor(items: TokenizedProbe[]) {
    this.items = items;
    this.#sequences = [];
    items.forEach((item, probe) => {
      const { prompt, female, male } = item;
      const last = prompt.length - 1;
      if (female.length === 1 && male.length === 1) {
        this.#sequences.push({ tokens: prompt, targets: [{ position: last, token: female[0]!, probe, sign: 1 }, { position: last, token: male[0]!, probe, sign: -1 }] });
        return;
      }
      // A multi-token target is the sum of its tokens' log-probs, each given the ones before it.
      for (const [continuation, sign] of [[female, 1], [male, -1]] as const) {
        const tokens = new Int32Array(prompt.length + continuation.length - 1);
        tokens.set(prompt);
        tokens.set(continuation.subarray(0, continuation.length - 1), prompt.length);
        this.#sequences.push({ tokens, targets: Array.from(continuation, (token, k) => ({ position: last + k, token, probe, sign })) });
      }
    });
  }

  static build(model: LlamaModel, probes: readonly Probe[]): ProbeSet {
    return new ProbeSet(
      probes.map((probe) => {
        const prompt = model.tokenize(probe.prompt);
        return {
          probe,
          prompt,
          female: continuationTokens(model, probe.prompt, prompt, probe.female),
          male: continuationTokens(model, probe.prompt, prompt, probe.male),
          wordPosition: wordPosition(model, probe, prompt),
        };
      }),
    );
  }

  /** The subset whose probes pass `keep`, in the same order. */
  filter(keep: (probe: Probe) => boolean): ProbeSet {
    return new ProbeSet(this.items.filter((item) => keep(item.probe)));
  }

  get sequenceCount(): number {
    return this.#sequences.length;
  }

  /** The dataset metrics (bias, factual accuracy, per split and category) under the given interventions. */
  async score(evaluator: Evaluator, interventions: readonly InterventionSpec[] = []): Promise<BiasScore> {
    return this.scoreOf(await this.measure(evaluator, interventions));
  }

  scoreOf(b: Float64Array): BiasScore {
    return scoreBias(this.items.map((item) => item.probe), Array.from(b));
  }

  /** b = log p(female) − log p(male) per probe, under the given interventions. */
  async measure(evaluator: Evaluator, interventions: readonly InterventionSpec[] = []): Promise<Float64Array> {
    const [b] = await this.measureVariants(evaluator, [interventions]);
    return b!;
  }

  /** b per probe for each variant (a list of interventions applied to every probe), in shared batches. */
  async measureVariants(evaluator: Evaluator, variants: readonly (readonly InterventionSpec[])[]): Promise<Float64Array[]> {
    const n = this.#sequences.length;
    const prompts: Int32Array[] = [];
    const targets: TargetSpec[] = [];
    const interventions: InterventionSpec[] = [];
    variants.forEach((variant, v) => {
      this.#sequences.forEach((s, i) => {
        prompts.push(s.tokens);
        for (const t of s.targets) targets.push({ prompt: v * n + i, position: t.position, token: t.token });
      });
      const all = Array.from({ length: n }, (_, i) => v * n + i);
      for (const iv of variant) interventions.push({ ...iv, prompts: all });
    });
    const request: EvaluationRequest = { prompts, targets, interventions };
    const { logprobs } = await evaluator.evaluate(request);
    const flat = this.#sequences.flatMap((s) => s.targets);
    return variants.map((_, v) => {
      const b = new Float64Array(this.items.length);
      flat.forEach((t, k) => (b[t.probe] += t.sign * logprobs[v * flat.length + k]!));
      return b;
    });
  }
}
