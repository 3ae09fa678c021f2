// A GGUF model opened through llama.cpp: facts, tokenizer, and the evaluators that run it.
import { closeSync, openSync } from "node:fs";
import { ffnLayout, type FfnLayout } from "./architectures.js";
import { DebiasError } from "../errors.js";
import { hasInterruptedEdit } from "../edit/editor.js";
import { lockOpenFile } from "../edit/file-lock.js";
import { openGguf } from "../edit/reader.js";
import { regularFile } from "../files.js";
import { checkLoadable } from "./loadable.js";
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


/**
 * Opens the model file under a shared lock (no in-place edit can change the weights while they are
 * mapped) after checking it is a GGUF file llama.cpp can load without aborting and that no in-place
 * edit of it was interrupted. The returned handle holds the lock until it is closed.
 */
async function openModelFile(path: string): Promise<number> {
  const real = await regularFile(path, "model");
  // a plain descriptor, closed synchronously on dispose, so the lock is gone before dispose returns
  let fd: number;
  try {
    fd = openSync(real, "r");
  } catch (err) {
    throw new DebiasError("E_GGUF_OPEN", `Cannot open GGUF file ${path}: ${(err as Error).message}.`, { cause: err });
  }
  try {
    lockOpenFile(fd, path, false);
    checkLoadable(await openGguf(real));
    if (await hasInterruptedEdit(real)) {
      throw new DebiasError("E_JOURNAL_PENDING", `${path} has an interrupted in-place edit, so its weights are half edited; run \`gguf-debias undo ${path}\` to roll it back.`);
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

export class DebiasModel {
  readonly facts: ModelFacts;
  #native: NativeModel | null;
  #fd: number | null;
  readonly #evaluators = new Set<Evaluator>();

  private constructor(model: NativeModel, fd: number) {
    this.#native = model;
    this.#fd = fd;
    const raw = model.facts();
    const nFf = Number(raw.meta[`${raw.arch}.feed_forward_length`]);
    this.facts = { ...raw, nFf: Number.isInteger(nFf) && nFf > 0 ? nFf : null };
  }

  static async load(path: string, options: LoadOptions = {}): Promise<DebiasModel> {
    const fd = await openModelFile(path);
    try {
      if (options.gpu) useGpuBackend(options.gpu);
      return new DebiasModel(await native().loadModel(path, options.gpuLayers ?? 0, options.mmap ?? true), fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
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
    if (this.#fd !== null) closeSync(this.#fd); // releases the shared lock
    this.#fd = null;
  }
}
