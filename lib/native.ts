// The addon's primitives, typed once. Everything else in the library reaches llama.cpp through here.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { DebiasError } from "./errors.js";
import { packageRoot } from "./package-root.js";

export interface NativeFacts {
  path: string;
  arch: string;
  description: string;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nCtxTrain: number;
  nVocab: number;
  nParams: number;
  sizeBytes: number;
  bos: number;
  eos: number;
  addBos: boolean;
}

export interface NativeIntervention {
  layer: number;
  neurons: Int32Array;
  scales: Float32Array;
  /** One byte per batch token (1 = apply); absent = every token. */
  tokenMask?: Uint8Array;
}

/** One llama_decode: prompts are concatenated in `tokens`, prompt s spans seqStarts[s]..seqStarts[s+1]. */
export interface NativeEvalRequest {
  tokens: Int32Array;
  seqStarts: Int32Array;
  /** Sorted batch indices whose logits llama.cpp keeps (the last layer only computes these rows). */
  outputs: Int32Array;
  targetRows?: Int32Array;
  targetTokens?: Int32Array;
  distributionRows?: Int32Array;
  captureLayers?: Int32Array;
  captureRows?: Int32Array;
  /** Any graph tensor by llama.cpp name (e.g. "l_out-31", the final residual), read at the output rows. */
  captureNames?: string[];
  interventions?: NativeIntervention[];
  /** Rows compared with rows of `compareReference` (log-probs, n × nVocab) instead of returned whole. */
  compareRows?: Int32Array;
  compareReferenceRows?: Int32Array;
  compareTokens?: Int32Array;
  compareReference?: Float32Array;
}

export interface NativeEvalResult {
  /** log p(targetTokens[i] | batch row targetRows[i]) */
  logprobs: Float32Array;
  /** log-softmax rows, distributionRows.length × nVocab */
  distributions: Float32Array;
  /** captureRows.length × captureLayers.length × nFf, the activations fed into ffn_down (after interventions) */
  activations: Float32Array;
  nFf: number;
  /** One entry per captureNames name: outputs.length × width values, rows in `outputs` order. */
  named: { width: number; values: Float32Array }[];
  /** Per compareRows entry: KL(reference ‖ row), 1 where the most likely tokens agree, log p(compareTokens[i]). */
  compared: { kl: Float64Array; agree: Uint8Array; logprobs: Float32Array };
}

export interface NativeContextOptions {
  nCtx: number;
  nSeqMax: number;
  threads: number;
  kvType: "f32" | "f16";
  flashAttn: boolean;
  /** llama.cpp's graph name of the FFN activation, e.g. "ffn_swiglu" (the tensor of layer l is "<name>-<l>"). */
  hookTensor: string;
}

export interface NativeContext {
  evaluate(request: NativeEvalRequest): Promise<NativeEvalResult>;
  dispose(): void;
}

export interface NativeModel {
  facts(): NativeFacts;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  detokenize(tokens: Int32Array, removeSpecial: boolean, unparseSpecial: boolean): string;
  createContext(options: NativeContextOptions): Promise<NativeContext>;
  dispose(): void;
}

export interface NativeTypeInfo {
  name: string;
  blockSize: number;
  typeSize: number;
  isQuantized: boolean;
  canDequantize: boolean;
  needsImatrix: boolean;
}

export interface NativeBuildInfo {
  llama: "prebuilt" | "source";
  llamaCommit: string;
  systemInfo: string;
  devices: { name: string; description: string }[];
}

export interface NativeBinding {
  buildInfo(): NativeBuildInfo;
  loadBackends(path: string, single?: boolean): number;
  loadModel(path: string, gpuLayers: number, useMmap: boolean): Promise<NativeModel>;
  typeInfo(type: number): NativeTypeInfo;
  dequantize(type: number, bytes: Uint8Array, nElements: number): Promise<Float32Array>;
  quantize(type: number, values: Float32Array, nPerRow: number): Promise<Uint8Array>;
  quantizeFile(input: string, output: string, ftype: number, threads: number): Promise<void>;
  /** flock without waiting: false when another open file holds a conflicting lock; released on close. */
  lockFile(fd: number, exclusive: boolean): boolean;
}

export interface BuildStamp {
  llama: "prebuilt" | "source";
  prebuiltDir: string | null;
  /** ggml's CPU backend compiled at install for this machine's CPU (vendor/build.mjs), beside the addon. */
  cpuBackend?: string;
  /** The CPU it was compiled for: /proc/cpuinfo's flags line. */
  cpuFlags?: string;
}

/**
 * The CPU backend compiled at install, where it exists and this is still the CPU it was compiled for
 * (-march=native code on another CPU could die of an illegal instruction: a node_modules copied to
 * another machine falls back to the prebuilt variants, which pick theirs at load).
 */
export function tunedCpuBackend(release: string, built: BuildStamp): string | null {
  if (!built.cpuBackend || !built.cpuFlags) return null;
  const file = join(release, built.cpuBackend);
  return cpuFlags() === built.cpuFlags && existsSync(file) ? file : null;
}

/**
 * This CPU's /proc/cpuinfo flags line, null where there is none. vendor/build.mjs reads it the same way
 * at install (cpuFlagsLine), when this module may not be compiled yet.
 */
export function cpuFlags(): string | null {
  try {
    return /^flags\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? null;
  } catch {
    return null;
  }
}

export type GpuBackend = "cuda" | "vulkan";

let binding: NativeBinding | undefined;
let stamp: BuildStamp | undefined;
const loadedGpu = new Set<GpuBackend>();

/** Whether the tuned CPU backend loaded: ggml's own feature check refuses it on a CPU that lacks one. */
function loadTunedCpu(addon: NativeBinding, file: string | null): boolean {
  if (!file) return false;
  try {
    addon.loadBackends(file, true);
    return true;
  } catch {
    return false;
  }
}

/** The addon, loaded once; with prebuilt llama.cpp the CPU backend is a plugin that must be loaded first. */
export function native(): NativeBinding {
  if (binding) return binding;
  const release = join(packageRoot(), "build", "Release");
  const file = join(release, "gguf_debias.node");
  if (!existsSync(file)) {
    throw new DebiasError("E_NATIVE_MISSING", `the gguf-debias addon is not built (${file} is missing): run \`npm rebuild gguf-debias\``);
  }
  const loaded = createRequire(import.meta.url)(file) as NativeBinding;
  stamp = JSON.parse(readFileSync(join(release, "build-info.json"), "utf8")) as BuildStamp;
  if (stamp.llama === "prebuilt") {
    if (!stamp.prebuiltDir || !existsSync(stamp.prebuiltDir)) {
      throw new DebiasError("E_NATIVE_MISSING", `the prebuilt llama.cpp libraries the addon was built against are gone (${stamp.prebuiltDir}): run \`npm rebuild gguf-debias\``);
    }
    if (!loadTunedCpu(loaded, tunedCpuBackend(release, stamp)) && loaded.loadBackends(stamp.prebuiltDir) === 0) {
      throw new DebiasError("E_BACKEND", `no ggml backend could be loaded from ${stamp.prebuiltDir}`);
    }
  }
  binding = loaded;
  return binding;
}

/**
 * Makes a GPU backend available before a model is loaded. Prebuilt builds take it from node-llama-cpp's
 * matching optional package (e.g. @node-llama-cpp/linux-x64-cuda); source builds compile it in with
 * GGUF_DEBIAS_CMAKE_ARGS=-DGGML_CUDA=ON and need nothing here.
 */
export function useGpuBackend(kind: GpuBackend): void {
  const addon = native();
  if (loadedGpu.has(kind) || stamp?.llama !== "prebuilt" || !stamp.prebuiltDir) return;
  const name = `${basename(stamp.prebuiltDir)}-${kind}`;
  const library = join(dirname(dirname(dirname(stamp.prebuiltDir))), name, "bins", name, `libggml-${kind}.so`);
  if (!existsSync(library)) {
    throw new DebiasError("E_BACKEND", `the ${kind} backend is not installed (${library} is missing): install node-llama-cpp's optional @node-llama-cpp/${name} package`);
  }
  addon.loadBackends(library, true);
  loadedGpu.add(kind);
}
