// Probes turned into token sequences once, then measured as often as attribution and selection need:
// plainly, under one set of interventions, or under many sets at once (each variant gets its own copy
// of every sequence in the same batches, so llama.cpp sees full batches instead of one neuron at a time).
import { DebiasError } from "../errors.js";
import type { EvaluationRequest, InterventionSpec, TargetSpec, Evaluator } from "../llama/evaluator.js";
import type { DebiasModel } from "../llama/model.js";
import type { Probe } from "./dataset.js";
import { scoreBias, type BiasScore, type ScoreOptions } from "./metrics.js";

/**
 * A probe in tokens. The female and male continuations are scored after one shared context, so b is the
 * log-ratio of the two whole strings "prompt + female" and "prompt + male", even where the tokenizer
 * merges the end of the prompt with the target ("that he ", ". One day, ") or the target with the space
 * after it ("she ").
 */
export interface TokenizedProbe {
  probe: Probe;
  /** The prompt's own tokens, `tokenize(prompt)` (BOS included where the model adds one). */
  prompt: Int32Array;
  /**
   * The shared context C: the longest common prefix of the prompt's tokens and of the tokens of
   * prompt + member + a following word, for every member of both sides. It covers only text of the
   * prompt, so every member is scored under the same conditioning. Equal to `prompt` on tokenizers where
   * the prompt's tokens are a prefix of prompt + target (GPT-2-style BPE, the fixtures).
   */
  context: Int32Array;
  /**
   * The continuation tokens of every female / male member after `context`, in dataset order: the tokens
   * that cover the rest of the prompt (if any) plus the member, as the model would write them with a
   * word following (so possibly with the member's trailing space, "she "), never the following word.
   */
  femaleSet: readonly Int32Array[];
  maleSet: readonly Int32Array[];
  /** The first member's continuation (the whole side when it has one member): `femaleSet[0]`, `maleSet[0]`. */
  female: Int32Array;
  male: Int32Array;
  /** Position of the word's last token in `prompt` (where word-level neurons fire). */
  wordPosition: number;
  /**
   * Where the first female and the first male member part: `tokens` = `context` plus the continuation
   * tokens they share, and the first token where they differ on each side. The logits after `tokens`
   * carry the gender decision (direct logit attribution reads them there). null if one first member's
   * continuation is a prefix of the other's, so that no single next token separates them.
   */
  divergence: { tokens: Int32Array; female: number; male: number } | null;
}

interface Sequence {
  tokens: Int32Array;
  /** Targets within this sequence: position → token, and the chain (probe, side, member) it adds to. */
  targets: { position: number; token: number; chain: number }[];
}

/**
 * Two different following words, appended after a target to see where its tokens end when a word
 * follows (as it does in running text). Single rare letters after a space: on real vocabularies they
 * start a new token instead of merging with the end of the word before them, and since their first
 * characters differ, the tokens the two joint tokenizations share can never cover any of the following
 * word, only text up to and including the space before it.
 */
const FOLLOWING_WORDS = [" x", " q"] as const;

function describe(model: DebiasModel, tokens: ArrayLike<number>): string {
  return `[${Array.from(tokens).join(", ")}] (${JSON.stringify(model.detokenize(tokens))})`;
}

function commonPrefixLength(a: Int32Array, b: Int32Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

interface Joint {
  target: string;
  /** tokenize(prompt + target + FOLLOWING_WORDS[0]). */
  tokens: Int32Array;
  /** How many of `tokens` cover prompt + target and nothing of the following word. */
  end: number;
}

/** The member's tokens with a following word, and where they stop covering prompt + member. */
function joint(model: DebiasModel, prompt: string, target: string): Joint {
  const [first, second] = FOLLOWING_WORDS;
  const tokens = model.tokenize(prompt + target + first);
  const end = commonPrefixLength(tokens, model.tokenize(prompt + target + second));
  // The shared tokens cover at most prompt + target + the space; check they reach the end of the target.
  const full = model.detokenize(tokens);
  const covered = model.detokenize(tokens.subarray(0, end));
  if (!full.startsWith(covered) || full.length - covered.length > first.length) {
    throw new DebiasError(
      "E_PROBE_TARGET",
      `The target ${JSON.stringify(target)} after the prompt ${JSON.stringify(prompt)} does not end on a token boundary: ` +
        `with a word following, ${JSON.stringify(prompt + target + first)} tokenizes to ${describe(model, tokens)} and ` +
        `${JSON.stringify(prompt + target + second)} differs from it after ${describe(model, tokens.subarray(0, end))}, ` +
        `so no tokens cover the whole target without part of the next word; this tokenizer cannot score this target after this prompt.`,
    );
  }
  return { target, tokens, end };
}

/** The probe in tokens: shared context, continuations, divergence (see TokenizedProbe). */
function tokenizeProbe(model: DebiasModel, probe: Probe): TokenizedProbe {
  if (probe.female.length === 0 || probe.male.length === 0) throw new DebiasError("E_PROBE_TARGET", `The probe ${JSON.stringify(probe.prompt)} has no female or no male target.`);
  const prompt = model.tokenize(probe.prompt);
  for (const target of [...probe.female, ...probe.male]) {
    if (target.length === 0) throw new DebiasError("E_PROBE_TARGET", `The target ${JSON.stringify(target)} after the prompt ${JSON.stringify(probe.prompt)} tokenizes to nothing.`);
  }
  const female = probe.female.map((target) => joint(model, probe.prompt, target));
  const male = probe.male.map((target) => joint(model, probe.prompt, target));
  const contextLength = [...female, ...male].reduce((n, j) => Math.min(n, commonPrefixLength(prompt, j.tokens)), prompt.length);
  if (contextLength === 0) {
    throw new DebiasError("E_PROBE_TARGET", `The prompt ${JSON.stringify(probe.prompt)} shares no first token with its targets' tokenizations, so there is no context to score them after.`);
  }
  const context = contextLength === prompt.length ? prompt : prompt.slice(0, contextLength);
  const continuation = (j: Joint): Int32Array => {
    if (j.end <= contextLength) {
      throw new DebiasError(
        "E_PROBE_TARGET",
        `The target ${JSON.stringify(j.target)} after the prompt ${JSON.stringify(probe.prompt)} tokenizes to nothing after the shared context ${describe(model, context)}: ` +
          `its tokens with a following word, ${describe(model, j.tokens)}, cover the target only together with that word.`,
      );
    }
    return j.tokens.slice(contextLength, j.end);
  };
  const femaleSet = female.map(continuation);
  const maleSet = male.map(continuation);
  const f = femaleSet[0]!;
  const m = maleSet[0]!;
  const shared = commonPrefixLength(f, m);
  let divergence: TokenizedProbe["divergence"] = null;
  if (shared < f.length && shared < m.length) {
    const tokens = new Int32Array(contextLength + shared);
    tokens.set(context);
    tokens.set(f.subarray(0, shared), contextLength);
    divergence = { tokens, female: f[shared]!, male: m[shared]! };
  }
  return { probe, prompt, context, femaleSet, maleSet, female: f, male: m, wordPosition: wordPosition(model, probe, prompt), divergence };
}

function wordPosition(model: DebiasModel, probe: Probe, prompt: Int32Array): number {
  const at = probe.prompt.indexOf(probe.word);
  if (at < 0) return prompt.length - 1;
  const prefix = model.tokenize(probe.prompt.slice(0, at + probe.word.length));
  const isPrefix = prefix.length <= prompt.length && prefix.every((t, i) => prompt[i] === t);
  return isPrefix ? prefix.length - 1 : prompt.length - 1;
}

/** log Σ exp(x) over a non-empty list, exact for one element. */
function logSumExp(values: readonly number[]): number {
  if (values.length === 1) return values[0]!;
  const max = Math.max(...values);
  if (max === -Infinity || !Number.isFinite(max)) return max;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** Probe words the model's vocabulary splits into at least `atLeast` tokens (as a word after a space). */
export function splitWords(model: DebiasModel, probes: readonly Probe[], atLeast = 3): { split: { word: string; tokens: number }[]; total: number } {
  const words = [...new Set(probes.map((p) => p.word))];
  // after a word, so that SentencePiece's leading-space marker is not counted as a piece of it
  const lead = model.tokenize("a", { addSpecial: false }).length;
  const split = words.map((word) => ({ word, tokens: model.tokenize(`a ${word}`, { addSpecial: false }).length - lead })).filter((w) => w.tokens >= atLeast);
  return { split, total: words.length };
}

export class ProbeSet {
  readonly items: readonly TokenizedProbe[];
  readonly #sequences: Sequence[];
  /** Per probe: the chain indices of its female and male members. */
  readonly #chains: { female: number[]; male: number[] }[];
  readonly #chainCount: number;

  private constructor(items: TokenizedProbe[]) {
    this.items = items;
    this.#sequences = [];
    this.#chains = [];
    let chain = 0;
    items.forEach((item) => {
      const { context, femaleSet, maleSet } = item;
      const last = context.length - 1;
      const members = [...femaleSet, ...maleSet].map((tokens) => ({ tokens, chain: chain++ }));
      this.#chains.push({ female: members.slice(0, femaleSet.length).map((m) => m.chain), male: members.slice(femaleSet.length).map((m) => m.chain) });
      // Every single-token member is read off the context's own sequence; a multi-token member is the sum
      // of its tokens' log-probs, each given the ones before it, so it gets its own sequence.
      const single = members.filter((m) => m.tokens.length === 1);
      if (single.length > 0) this.#sequences.push({ tokens: context, targets: single.map((m) => ({ position: last, token: m.tokens[0]!, chain: m.chain })) });
      for (const { tokens: continuation, chain: c } of members.filter((m) => m.tokens.length > 1)) {
        const tokens = new Int32Array(context.length + continuation.length - 1);
        tokens.set(context);
        tokens.set(continuation.subarray(0, continuation.length - 1), context.length);
        this.#sequences.push({ tokens, targets: Array.from(continuation, (token, k) => ({ position: last + k, token, chain: c })) });
      }
    });
    this.#chainCount = chain;
  }

  /**
   * Tokenizes every probe (see TokenizedProbe); a target that cannot be scored after its prompt is an
   * E_PROBE_TARGET error naming both, never a silent approximation.
   */
  static build(model: DebiasModel, probes: readonly Probe[]): ProbeSet {
    return new ProbeSet(probes.map((probe) => tokenizeProbe(model, probe)));
  }

  /** The subset whose probes pass `keep`, in the same order. */
  filter(keep: (probe: Probe) => boolean): ProbeSet {
    return new ProbeSet(this.items.filter((item) => keep(item.probe)));
  }

  get sequenceCount(): number {
    return this.#sequences.length;
  }

  /** Tokens one measurement evaluates. */
  get tokenCount(): number {
    return this.#sequences.reduce((sum, s) => sum + s.tokens.length, 0);
  }

  /** The dataset metrics (bias, factual accuracy, per split and category) under the given interventions. */
  async score(evaluator: Evaluator, interventions: readonly InterventionSpec[] = []): Promise<BiasScore> {
    return this.scoreOf(await this.measure(evaluator, interventions));
  }

  scoreOf(b: Float64Array, options: ScoreOptions = {}): BiasScore {
    return scoreBias(this.items.map((item) => item.probe), Array.from(b), options);
  }

  /**
   * b = log p(female continuation | context) − log p(male continuation | context) per probe, under the
   * given interventions: the log-ratio of the whole strings prompt + female and prompt + male.
   */
  async measure(evaluator: Evaluator, interventions: readonly InterventionSpec[] = []): Promise<Float64Array> {
    const [b] = await this.measureVariants(evaluator, [interventions]);
    return b!;
  }

  /**
   * b per probe for each variant (a list of interventions applied to every probe), in shared batches.
   * A side's log-probability is the logsumexp of its members' chain log-probs (just the chain for one
   * member), so b = logsumexp(female members) − logsumexp(male members).
   */
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
      const chains = new Float64Array(this.#chainCount);
      flat.forEach((t, k) => (chains[t.chain] += logprobs[v * flat.length + k]!));
      const side = (members: number[]) => logSumExp(members.map((c) => chains[c]!));
      return Float64Array.from(this.#chains, ({ female, male }) => side(female) - side(male));
    });
  }
}
