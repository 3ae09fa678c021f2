// A GGUF model opened through llama.cpp: facts, tokenizer, and the evaluators that run it.
import { closeSync, openSync } from "node:fs";
import { ffnLayout, type FfnLayout } from "./architectures.js";
import { DebiasError } from "../errors.js";
import { checkOptions } from "../option-limits.js";
import { interruptedJournal } from "../edit/journal.js";
import { lockOpenFile } from "../gguf/file-lock.js";
import type { GgufValue } from "../gguf/format.js";
import { openGguf, type GgufFile } from "../gguf/reader.js";
import { cannotOpen, regularFile } from "../files.js";
import { checkLoadable } from "./loadable.js";
import { native, useGpuBackend, type GpuBackend, type NativeModel } from "../native.js";
import { defaultThreads, type ModelFacts } from "./facts.js";
import { Evaluator, type EvaluatorOptions } from "./evaluator.js";

export interface LoadOptions {
  /** Layers to offload to a GPU (-1 = all). Default 0: CPU only. */
  gpuLayers?: number;
  /** Prebuilt builds load this GPU backend from node-llama-cpp's optional package first. */
  gpu?: GpuBackend;
  /**
   * Memory-map the file (default false). On CPUs where llama.cpp repacks quantized weights for faster
   * kernels, a mapped file stays resident beside the repacked copy: a 770 MB Q4_K 1B model held 1,449 MB
   * after loading mapped, 1,013 MB read, at the same speed (88 tok/s); without repacking it ran at 50.
   */
  mmap?: boolean;
}

/** A model opened to be evaluated: how it is loaded (GPU offload) and how it is evaluated (threads, batch). */
export type EvaluationOptions = EvaluatorOptions & Pick<LoadOptions, "gpuLayers" | "gpu">;

/** Splits evaluation options into what loading takes and what the evaluator takes. */
export function loadAndEvaluatorOptions({ gpuLayers, gpu, ...evaluator }: EvaluationOptions): { load: LoadOptions; evaluator: EvaluatorOptions } {
  return { load: { gpuLayers, gpu }, evaluator };
}

const META_ARRAY_ITEMS = 16;

/** The header's KVs as text, read by our parser (linear in the KV count, unlike llama.cpp's by-index API). */
function metaOf(file: GgufFile): Record<string, string> {
  const text = (v: GgufValue): string | null => {
    if (typeof v !== "object") return String(v);
    const items = Array.from(v.items as ArrayLike<GgufValue>);
    if (items.length > META_ARRAY_ITEMS) return null;
    const parts = items.map(text);
    return parts.includes(null) ? null : `[${parts.join(", ")}]`;
  };
  const meta: Record<string, string> = {};
  for (const kv of file.kvs) {
    const t = text(kv.value);
    if (t !== null) meta[kv.key] = t;
  }
  return meta;
}

/**
 * Opens the model file under a shared lock (no in-place edit can change the weights while they are
 * mapped) after checking it is a GGUF file llama.cpp can load without aborting and that no in-place
 * edit of it was interrupted. The returned handle holds the lock until it is closed.
 */
async function openModelFile(path: string): Promise<{ fd: number; file: GgufFile }> {
  const real = await regularFile(path, "model");
  // a plain descriptor, closed synchronously on dispose, so the lock is gone before dispose returns
  let fd: number;
  try {
    fd = openSync(real, "r");
  } catch (err) {
    throw cannotOpen("GGUF file", path, err);
  }
  try {
    lockOpenFile(fd, path, false);
    const file = await openGguf(real);
    checkLoadable(file);
    if ((await interruptedJournal(real)) !== null) {
      throw new DebiasError("E_JOURNAL_PENDING", `${path} has an interrupted in-place edit, so its weights are half edited; run \`gguf-debias undo ${path}\` to roll it back.`);
    }
    return { fd, file };
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

  private constructor(model: NativeModel, fd: number, file: GgufFile) {
    this.#native = model;
    this.#fd = fd;
    const raw = model.facts();
    const meta = metaOf(file);
    const nFf = Number(meta[`${raw.arch}.feed_forward_length`]);
    this.facts = { ...raw, meta, nFf: Number.isInteger(nFf) && nFf > 0 ? nFf : null };
  }

  static async load(path: string, options: LoadOptions = {}): Promise<DebiasModel> {
    checkOptions(options, "load");
    const { fd, file } = await openModelFile(path);
    try {
      if (options.gpu) useGpuBackend(options.gpu);
      return new DebiasModel(await native().loadModel(path, options.gpuLayers ?? 0, options.mmap ?? false), fd, file);
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
    checkOptions(options, "evaluator");
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
