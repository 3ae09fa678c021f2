// A GGUF model opened through llama.cpp: facts, tokenizer, and the evaluators that run it.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { ffnLayout, type FfnLayout } from "./architectures.js";
import { DebiasError } from "../errors.js";
import { native, useGpuBackend, type GpuBackend, type NativeModel } from "../native.js";
import { defaultThreads, type ModelFacts } from "./facts.js";
import { Evaluator, type EvaluatorOptions } from "./evaluator.js";

export interface LoadOptions {
  /** Layers to offload to a GPU (-1 = all). Default 0: CPU only. */
  gpuLayers?: number;
  /** Prebuilt builds load this GPU backend from node-llama-cpp's optional package first. */
  gpu?: GpuBackend;
  /** Memory-map the file (default true). */
  mmap?: boolean;
}


function checkGgufFile(path: string): void {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new DebiasError("E_NOT_A_FILE", `${path} is not a file`);
    size = stat.size;
  } catch (err) {
    if (err instanceof DebiasError) throw err;
    throw new DebiasError("E_FILE_NOT_FOUND", `model file ${path} does not exist or cannot be read`);
  }
  const magic = Buffer.alloc(4);
  const fd = openSync(path, "r");
  try {
    readSync(fd, magic, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (size < 4 || magic.toString("latin1") !== "GGUF") {
    throw new DebiasError("E_NOT_GGUF", `${path} is not a GGUF file (it does not start with the GGUF magic)`);
  }
}

export class DebiasModel {
  readonly facts: ModelFacts;
  #native: NativeModel | null;
  readonly #evaluators = new Set<Evaluator>();

  private constructor(model: NativeModel) {
    this.#native = model;
    const raw = model.facts();
    const nFf = Number(raw.meta[`${raw.arch}.feed_forward_length`]);
    this.facts = { ...raw, nFf: Number.isInteger(nFf) && nFf > 0 ? nFf : null };
  }

  static async load(path: string, options: LoadOptions = {}): Promise<DebiasModel> {
    checkGgufFile(path);
    if (options.gpu) useGpuBackend(options.gpu);
    const model = await native().loadModel(path, options.gpuLayers ?? 0, options.mmap ?? true);
    return new DebiasModel(model);
  }

  /** Where this architecture's FFN neurons live; throws E_ARCH_UNSUPPORTED for an unknown one. */
  get ffn(): FfnLayout {
    return ffnLayout(this.facts.arch);
  }

  get nativeModel(): NativeModel {
    if (!this.#native) throw new DebiasError("E_DISPOSED", "the model was disposed and cannot be used any more");
    return this.#native;
  }

  tokenize(text: string, options: { addSpecial?: boolean; parseSpecial?: boolean } = {}): Int32Array {
    return this.nativeModel.tokenize(text, options.addSpecial ?? true, options.parseSpecial ?? false);
  }

  detokenize(tokens: ArrayLike<number>, options: { removeSpecial?: boolean; unparseSpecial?: boolean } = {}): string {
    return this.nativeModel.detokenize(Int32Array.from(tokens), options.removeSpecial ?? false, options.unparseSpecial ?? false);
  }

  /**
   * An evaluator scores batches of prompts in as few llama_decode calls as the context allows.
   * Defaults favour exact measurement: F32 KV cache, no flash attention.
   */
  async createEvaluator(options: EvaluatorOptions = {}): Promise<Evaluator> {
    const layout = this.ffn;
    const nCtx = options.nCtx ?? 1024;
    const nSeqMax = options.nSeqMax ?? 64;
    const context = await this.nativeModel.createContext({
      nCtx,
      nSeqMax,
      threads: options.threads ?? defaultThreads(),
      kvType: options.kvType ?? "f32",
      flashAttn: options.flashAttn ?? false,
      hookTensor: layout.activation,
    });
    const evaluator = new Evaluator(context, this.facts, { nCtx, nSeqMax }, () => this.#evaluators.delete(evaluator));
    this.#evaluators.add(evaluator);
    return evaluator;
  }

  dispose(): void {
    for (const evaluator of [...this.#evaluators]) evaluator.dispose();
    this.#native?.dispose();
    this.#native = null;
  }
}
