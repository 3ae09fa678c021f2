// Batched evaluation with FFN hooks. A request names prompts and what to read from them; the evaluator
// packs prompts into as few llama_decode calls as the context holds (one sequence per prompt), asks
// llama.cpp only for the rows it needs, and puts the answers back in request order.
import { DebiasError } from "../errors.js";
import type { NativeContext, NativeEvalRequest, NativeIntervention } from "../native.js";
import type { ModelFacts } from "./facts.js";

export interface EvaluatorOptions {
  /** Tokens per llama_decode (all prompts of one batch together). Default 1024. */
  nCtx?: number;
  /** Prompts per llama_decode (≤ 256). Default 64. */
  nSeqMax?: number;
  threads?: number;
  /** KV cache type. F32 by default: an F16 cache moves log-probs by up to ~0.02 nats on small models. */
  kvType?: "f32" | "f16";
  flashAttn?: boolean;
}

/** A token position in a prompt; negative positions count from the end (-1 = last token). */
export interface PromptPosition {
  prompt: number;
  position: number;
}

/** log p(token | prompt[0..position]): the distribution at `position` predicts the token after it. */
export interface TargetSpec extends PromptPosition {
  token: number;
}

export interface InterventionSpec {
  layer: number;
  neurons: ArrayLike<number>;
  /** One scale per neuron, or `scale` for all; 0 zeroes the activation. Default 0. */
  scales?: ArrayLike<number>;
  scale?: number;
  /** Restrict to these prompts (default all) … */
  prompts?: readonly number[];
  /** … and to these positions within them (default all; negative counts from the end). */
  positions?: readonly number[];
}

export interface EvaluationRequest {
  prompts: readonly Int32Array[];
  targets?: readonly TargetSpec[];
  distributions?: readonly PromptPosition[];
  capture?: { layers: readonly number[]; at: readonly PromptPosition[] };
  /** Graph tensors read by name at the given positions, e.g. "l_out-3" (residual after the last layer). */
  captureNamed?: { names: readonly string[]; at: readonly PromptPosition[] };
  interventions?: readonly InterventionSpec[];
  /**
   * Positions compared with reference distributions instead of returned whole (a 128k vocabulary makes
   * each row half a megabyte): `reference` holds log-prob rows of nVocab back to back, `at[i].row` names
   * the row position i is compared with, `at[i].token` the token whose log-prob to report there.
   */
  compare?: { reference: Float32Array; at: readonly (PromptPosition & { row: number; token: number })[] };
}

/** Per compared position: KL(reference ‖ this), whether the most likely tokens agree, log p(token). */
export interface Comparison {
  kl: Float64Array;
  agree: Uint8Array;
  logprobs: Float32Array;
}

export interface Evaluation {
  /** One log-prob per target, in request order. */
  logprobs: Float32Array;
  /** One log-softmax row (nVocab) per requested distribution: views into `distributionMatrix`. */
  distributions: Float32Array[];
  /** Every requested distribution, back to back. */
  distributionMatrix: Float32Array;
  compared: Comparison;
  /** capture.at.length × capture.layers.length × nFf: activation fed into ffn_down, after interventions. */
  activations: Float32Array;
  nFf: number;
  /** The captured vector at capture.at[at] for capture.layers[layerSlot]. */
  activation(at: number, layerSlot: number): Float32Array;
  /** Per captureNamed name: one row per captureNamed.at entry. */
  named: Float32Array[][];
}

interface Chunk {
  first: number;
  count: number;
  tokens: number;
}

export class Evaluator {
  readonly #context: NativeContext;
  readonly #facts: ModelFacts;
  readonly #limits: { nCtx: number; nSeqMax: number };
  readonly #onDispose: () => void;
  #disposed = false;
  #queue: Promise<unknown> = Promise.resolve();
  #tokens = 0;

  constructor(context: NativeContext, facts: ModelFacts, limits: { nCtx: number; nSeqMax: number }, onDispose: () => void) {
    this.#context = context;
    this.#facts = facts;
    this.#limits = limits;
    this.#onDispose = onDispose;
  }

  get limits(): { nCtx: number; nSeqMax: number } {
    return { ...this.#limits };
  }

  /** Tokens run through the model by this evaluator so far: the machine-independent cost. */
  get tokensEvaluated(): number {
    return this.#tokens;
  }

  /** Evaluates the request; calls on one evaluator run one after another. */
  evaluate(request: EvaluationRequest): Promise<Evaluation> {
    const run = this.#queue.then(() => this.#evaluate(request));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#context.dispose();
    this.#onDispose();
  }

  async #evaluate(request: EvaluationRequest): Promise<Evaluation> {
    if (this.#disposed) throw new DebiasError("E_DISPOSED", "the evaluator was disposed and cannot be used any more");
    const { prompts } = request;
    const resolve = (p: PromptPosition, what: string): number => {
      if (!Number.isInteger(p.prompt) || p.prompt < 0 || p.prompt >= prompts.length) {
        throw new DebiasError("E_ARGUMENT", `${what} names prompt ${p.prompt}, but the request holds ${prompts.length} prompts`);
      }
      const length = prompts[p.prompt]!.length;
      const position = p.position < 0 ? length + p.position : p.position;
      if (!Number.isInteger(position) || position < 0 || position >= length) {
        throw new DebiasError("E_ARGUMENT", `${what} names position ${p.position} of prompt ${p.prompt}, which has ${length} tokens`);
      }
      return position;
    };
    this.#validate(request);
    const targets = (request.targets ?? []).map((t) => ({ prompt: t.prompt, position: resolve(t, "a target"), token: t.token }));
    const distributions = (request.distributions ?? []).map((d) => ({ prompt: d.prompt, position: resolve(d, "a distribution") }));
    const compareAt = (request.compare?.at ?? []).map((c) => ({ prompt: c.prompt, position: resolve(c, "a comparison"), row: c.row, token: c.token }));
    const captureLayers = request.capture?.layers ?? [];
    const captureAt = (request.capture?.at ?? []).map((c) => ({ prompt: c.prompt, position: resolve(c, "a capture") }));
    const captureNeedsOutputs = captureLayers.includes(this.#facts.nLayer - 1);
    const names = request.captureNamed?.names ?? [];
    const namedAt = (request.captureNamed?.at ?? []).map((c) => ({ prompt: c.prompt, position: resolve(c, "a named capture") }));
    const named: Float32Array[][] = names.map(() => new Array<Float32Array>(namedAt.length));

    const logprobs = new Float32Array(targets.length);
    const nVocab = this.#facts.nVocab;
    const distributionMatrix = new Float32Array(distributions.length * nVocab);
    const distributionRows = distributions.map((_, i) => distributionMatrix.subarray(i * nVocab, (i + 1) * nVocab));
    const compared: Comparison = { kl: new Float64Array(compareAt.length), agree: new Uint8Array(compareAt.length), logprobs: new Float32Array(compareAt.length) };
    let activations = new Float32Array(0);
    let nFf = 0;

    for (const chunk of this.#chunks(prompts)) {
      const inChunk = (p: number) => p >= chunk.first && p < chunk.first + chunk.count;
      const seqStarts = new Int32Array(chunk.count + 1);
      for (let s = 0; s < chunk.count; s++) seqStarts[s + 1] = seqStarts[s]! + prompts[chunk.first + s]!.length;
      const tokens = new Int32Array(chunk.tokens);
      for (let s = 0; s < chunk.count; s++) tokens.set(prompts[chunk.first + s]!, seqStarts[s]!);
      const row = (p: { prompt: number; position: number }) => seqStarts[p.prompt - chunk.first]! + p.position;

      const targetIds = targets.flatMap((t, i) => (inChunk(t.prompt) ? [i] : []));
      const distributionIds = distributions.flatMap((d, i) => (inChunk(d.prompt) ? [i] : []));
      const compareIds = compareAt.flatMap((c, i) => (inChunk(c.prompt) ? [i] : []));
      const captureIds = captureAt.flatMap((c, i) => (inChunk(c.prompt) ? [i] : []));
      const outputs = new Set<number>();
      for (const i of targetIds) outputs.add(row(targets[i]!));
      for (const i of distributionIds) outputs.add(row(distributions[i]!));
      for (const i of compareIds) outputs.add(row(compareAt[i]!));
      if (captureNeedsOutputs) for (const i of captureIds) outputs.add(row(captureAt[i]!));
      const namedIds = namedAt.flatMap((c, i) => (inChunk(c.prompt) ? [i] : []));
      for (const i of namedIds) outputs.add(row(namedAt[i]!));
      if (outputs.size === 0) outputs.add(chunk.tokens - 1);
      const outputRows = Int32Array.from([...outputs].sort((a, b) => a - b));

      const nativeRequest: NativeEvalRequest = {
        tokens,
        seqStarts,
        outputs: outputRows,
        targetRows: Int32Array.from(targetIds, (i) => row(targets[i]!)),
        targetTokens: Int32Array.from(targetIds, (i) => targets[i]!.token),
        distributionRows: Int32Array.from(distributionIds, (i) => row(distributions[i]!)),
        captureLayers: Int32Array.from(captureIds.length > 0 ? captureLayers : []),
        captureRows: Int32Array.from(captureIds, (i) => row(captureAt[i]!)),
        captureNames: namedIds.length > 0 ? [...names] : [],
        interventions: this.#interventions(request.interventions ?? [], prompts, chunk, seqStarts),
        ...(compareIds.length > 0
          ? {
              compareRows: Int32Array.from(compareIds, (i) => row(compareAt[i]!)),
              compareReferenceRows: Int32Array.from(compareIds, (i) => compareAt[i]!.row),
              compareTokens: Int32Array.from(compareIds, (i) => compareAt[i]!.token),
              compareReference: request.compare!.reference,
            }
          : {}),
      };
      const result = await this.#context.evaluate(nativeRequest);
      this.#tokens += tokens.length;

      targetIds.forEach((i, k) => (logprobs[i] = result.logprobs[k]!));
      distributionIds.forEach((i, k) => distributionRows[i]!.set(result.distributions.subarray(k * nVocab, (k + 1) * nVocab)));
      compareIds.forEach((i, k) => {
        compared.kl[i] = result.compared.kl[k]!;
        compared.agree[i] = result.compared.agree[k]!;
        compared.logprobs[i] = result.compared.logprobs[k]!;
      });
      if (captureIds.length > 0) {
        if (nFf === 0) {
          nFf = result.nFf;
          activations = new Float32Array(captureAt.length * captureLayers.length * nFf);
        }
        const stride = captureLayers.length * nFf;
        captureIds.forEach((i, k) => activations.set(result.activations.subarray(k * stride, (k + 1) * stride), i * stride));
      }
      if (namedIds.length > 0) {
        result.named.forEach(({ width, values }, n) => {
          for (const i of namedIds) {
            const k = outputRows.indexOf(row(namedAt[i]!));
            named[n]![i] = values.slice(k * width, (k + 1) * width);
          }
        });
      }
    }

    const layerCount = captureLayers.length;
    return {
      logprobs,
      distributions: distributionRows,
      distributionMatrix,
      compared,
      activations,
      nFf,
      activation: (at: number, layerSlot: number) => {
        const offset = (at * layerCount + layerSlot) * nFf;
        return activations.subarray(offset, offset + nFf);
      },
      named,
    };
  }

  #validate(request: EvaluationRequest): void {
    const { nLayer, nVocab, nFf } = this.#facts;
    if (request.prompts.length === 0) throw new DebiasError("E_ARGUMENT", "the evaluation request holds no prompts");
    request.prompts.forEach((prompt, p) => {
      if (prompt.length === 0) throw new DebiasError("E_ARGUMENT", `prompt ${p} has no tokens`);
      if (prompt.length > this.#limits.nCtx) {
        throw new DebiasError("E_PROMPT_TOO_LONG", `prompt ${p} has ${prompt.length} tokens but the evaluator's context holds ${this.#limits.nCtx}`);
      }
      for (const token of prompt) {
        if (token < 0 || token >= nVocab) throw new DebiasError("E_TOKEN_RANGE", `token id ${token} in prompt ${p} is outside the vocabulary of ${nVocab} tokens`);
      }
    });
    for (const t of request.targets ?? []) {
      if (!Number.isInteger(t.token) || t.token < 0 || t.token >= nVocab) {
        throw new DebiasError("E_TOKEN_RANGE", `target token id ${t.token} is outside the vocabulary of ${nVocab} tokens`);
      }
    }
    if (request.compare) {
      const { reference, at } = request.compare;
      if (!(reference instanceof Float32Array) || reference.length % nVocab !== 0) {
        throw new DebiasError("E_ARGUMENT", `the comparison reference must be a Float32Array of whole rows of ${nVocab} log-probs`);
      }
      const rows = reference.length / nVocab;
      for (const c of at) {
        if (!Number.isInteger(c.row) || c.row < 0 || c.row >= rows) throw new DebiasError("E_ARGUMENT", `a comparison names reference row ${c.row}, but the reference holds ${rows} rows`);
        if (!Number.isInteger(c.token) || c.token < 0 || c.token >= nVocab) throw new DebiasError("E_TOKEN_RANGE", `comparison token id ${c.token} is outside the vocabulary of ${nVocab} tokens`);
      }
    }
    const checkLayer = (layer: number) => {
      if (!Number.isInteger(layer) || layer < 0 || layer >= nLayer) {
        throw new DebiasError("E_LAYER_RANGE", `layer ${layer} is out of range: the model has ${nLayer} layers (0–${nLayer - 1})`);
      }
    };
    const layers = request.capture?.layers ?? [];
    layers.forEach(checkLayer);
    if (new Set(layers).size !== layers.length) throw new DebiasError("E_ARGUMENT", "a capture layer is listed twice");
    for (const iv of request.interventions ?? []) {
      checkLayer(iv.layer);
      for (const neuron of Array.from(iv.neurons)) {
        if (!Number.isInteger(neuron) || neuron < 0 || (nFf !== null && neuron >= nFf)) {
          throw new DebiasError("E_NEURON_RANGE", `neuron ${neuron} of layer ${iv.layer} is out of range: the layer has ${nFf ?? "fewer"} FFN neurons`);
        }
      }
      if (iv.scales && iv.scales.length !== iv.neurons.length) {
        throw new DebiasError("E_ARGUMENT", `the intervention on layer ${iv.layer} has ${iv.neurons.length} neurons but ${iv.scales.length} scales`);
      }
      for (const scale of iv.scales ? Array.from(iv.scales) : [iv.scale ?? 0]) {
        if (!Number.isFinite(scale)) throw new DebiasError("E_ARGUMENT", `the intervention on layer ${iv.layer} has a scale that is not a finite number`);
      }
      for (const p of iv.prompts ?? []) {
        if (!Number.isInteger(p) || p < 0 || p >= request.prompts.length) {
          throw new DebiasError("E_ARGUMENT", `an intervention names prompt ${p}, but the request holds ${request.prompts.length} prompts`);
        }
      }
    }
  }

  *#chunks(prompts: readonly Int32Array[]): Generator<Chunk> {
    let chunk: Chunk = { first: 0, count: 0, tokens: 0 };
    for (let p = 0; p < prompts.length; p++) {
      const length = prompts[p]!.length;
      if (chunk.count > 0 && (chunk.tokens + length > this.#limits.nCtx || chunk.count === this.#limits.nSeqMax)) {
        yield chunk;
        chunk = { first: p, count: 0, tokens: 0 };
      }
      chunk.count++;
      chunk.tokens += length;
    }
    yield chunk;
  }

  #interventions(specs: readonly InterventionSpec[], prompts: readonly Int32Array[], chunk: Chunk, seqStarts: Int32Array): NativeIntervention[] {
    const out: NativeIntervention[] = [];
    for (const spec of specs) {
      const neurons = Int32Array.from(spec.neurons);
      const scales = spec.scales ? Float32Array.from(spec.scales) : new Float32Array(neurons.length).fill(spec.scale ?? 0);
      if (!spec.prompts && !spec.positions) {
        out.push({ layer: spec.layer, neurons, scales });
        continue;
      }
      const mask = new Uint8Array(chunk.tokens);
      let any = false;
      const targeted = spec.prompts ?? prompts.map((_, p) => p);
      for (const p of targeted) {
        if (p < chunk.first || p >= chunk.first + chunk.count) continue;
        const start = seqStarts[p - chunk.first]!;
        const length = prompts[p]!.length;
        const positions = spec.positions ? spec.positions.map((q) => (q < 0 ? length + q : q)) : [...Array(length).keys()];
        for (const q of positions) {
          if (q >= 0 && q < length) {
            mask[start + q] = 1;
            any = true;
          }
        }
      }
      if (any) out.push({ layer: spec.layer, neurons, scales, tokenMask: mask });
    }
    return out;
  }
}
