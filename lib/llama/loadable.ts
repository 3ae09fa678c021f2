// Headers that parse as GGUF but make llama.cpp abort the whole process (GGML_ASSERT in its loader or
// graph) instead of returning an error. An application embedding the library cannot catch an abort,
// so these are refused before a file reaches llama.cpp. Each rule mirrors one assertion of the
// vendored llama.cpp (llama-model.cpp's load_hparams, llama-vocab.cpp, ggml's CPU buffers); the
// loader fuzz (bench/fuzz-gguf.ts --loader) is how they were found.
import { DebiasError } from "../errors.js";
import { GgufValueType, type GgufArray } from "../gguf/format.js";
import type { GgufFile } from "../gguf/reader.js";

// llama-hparams.h
const LLAMA_MAX_LAYERS = 512;
const LLAMA_MAX_EXPERTS = 1024;
// ggml-cpu: a memory-mapped tensor must start on this boundary
const TENSOR_ALIGNMENT = 32;
// gguf.cpp checks each key against all before it: 100k keys took 23 s to load; real models have < 1000
const MAX_KV_COUNT = 4096;
// gguf.cpp checks each tensor name against all before it too: 100k tiny tensors took 79-174 s to be
// refused. llama.cpp loads only the tensors its architecture creates (a file with any other is refused),
// a few dozen a layer at most (Gemma 3n: 24) and some beside the layers (WavTokenizer: about 150).
const MAX_TENSORS_PER_LAYER = 64;
const MAX_OTHER_TENSORS = 256;
const ROPE_SCALING_TYPES = ["none", "linear", "yarn", "longrope"];
// Architectures whose graph asserts that RoPE covers the whole head (src/models/*.cpp with
// `GGML_ASSERT(n_embd_head == n_rot)`, named as llama-arch.cpp names them); the others allow partial RoPE.
const FULL_ROTARY = new Set([
  "apertus", "arcee", "arctic", "baichuan", "chameleon", "codeshell", "cogvlm", "cohere2moe", "dbrx",
  "deci", "deepseek", "dots1", "dream", "ernie4_5-moe", "ernie4_5", "exaone-moe", "exaone", "exaone4",
  "falcon", "granite_swa", "graniteswitch", "granite", "grok", "grovemoe", "hunyuan-moe", "hunyuan_vl",
  "hy_v3", "internlm2", "jais2", "llada-moe", "llada", "llama", "llama-embed", "llama4", "maincoder",
  "mellum", "minimax-01", "minimax-m2", "mistral3", "nemotron", "olmo", "olmo2", "olmoe", "orion",
  "paddleocr", "pangu-embedded", "plamo", "pockettts", "qwen2", "qwen2moe", "qwen2vl", "qwen3",
  "qwen3moe", "qwen3vl", "qwen3vlmoe", "rnd1", "seed_oss", "smallthinker", "smollm3", "starcoder2",
  "talkie", "xverse",
]);

function refuse(file: GgufFile, why: string): never {
  throw new DebiasError("E_MODEL_INVALID", `${file.path} cannot be loaded: ${why}.`);
}

/** A numeric KV (any integer or float type) as numbers; arrays of numbers give every item. */
function numbers(file: GgufFile, key: string): number[] | undefined {
  const kv = file.kv(key);
  if (!kv) return undefined;
  const scalar = (type: GgufValueType, v: unknown): number | undefined =>
    type === GgufValueType.STRING || type === GgufValueType.ARRAY || type === GgufValueType.BOOL ? undefined : Number(v);
  if (kv.type === GgufValueType.ARRAY) {
    const arr = kv.value as GgufArray;
    const items = Array.from(arr.items as ArrayLike<unknown>, (v) => scalar(arr.itemType, v));
    if (items.some((v) => v === undefined)) refuse(file, `${key} is not a list of numbers`);
    return items as number[];
  }
  const v = scalar(kv.type, kv.value);
  if (v === undefined) refuse(file, `${key} is not a number`);
  return [v];
}

const maxOf = (xs: number[] | undefined): number => (xs && xs.length > 0 ? Math.max(...xs) : 0);

function checkTensorCount(file: GgufFile, layers: number): void {
  const most = MAX_TENSORS_PER_LAYER * layers + MAX_OTHER_TENSORS;
  if (file.tensors.length > most) {
    refuse(file, `it has ${file.tensors.length} tensors, more than the ${most} an architecture creates for ${layers} layers (llama.cpp's loader would take minutes to refuse them)`);
  }
}

export function checkLoadable(file: GgufFile): void {
  if (file.kvs.length > MAX_KV_COUNT) refuse(file, `it has ${file.kvs.length} metadata keys, more than the ${MAX_KV_COUNT} llama.cpp's loader handles in reasonable time`);
  const arch = file.arch;
  if (arch === undefined) return checkTensorCount(file, LLAMA_MAX_LAYERS); // llama.cpp reports a missing architecture itself
  const key = (name: string): string => `${arch}.${name}`;

  for (const t of file.tensors) {
    if (t.absoluteOffset % TENSOR_ALIGNMENT !== 0) {
      refuse(file, `tensor '${t.name}' starts at byte ${t.absoluteOffset}, not on the ${TENSOR_ALIGNMENT}-byte boundary llama.cpp maps tensors at (general.alignment ${file.alignment})`);
    }
  }

  const layers = numbers(file, key("block_count"));
  if (layers && (layers.length !== 1 || !Number.isInteger(layers[0]) || layers[0]! < 1 || layers[0]! > LLAMA_MAX_LAYERS)) {
    refuse(file, `${key("block_count")} must be one whole number from 1 to ${LLAMA_MAX_LAYERS}`);
  }
  checkTensorCount(file, layers?.[0] ?? LLAMA_MAX_LAYERS);
  if (maxOf(numbers(file, key("nextn_predict_layers"))) > maxOf(layers)) refuse(file, `${key("nextn_predict_layers")} exceeds ${key("block_count")}`);

  const experts = maxOf(numbers(file, key("expert_count")));
  const used = maxOf(numbers(file, key("expert_used_count")));
  const groups = maxOf(numbers(file, key("expert_group_count")));
  const groupsUsed = maxOf(numbers(file, key("expert_group_used_count")));
  if (experts > LLAMA_MAX_EXPERTS) refuse(file, `${key("expert_count")} ${experts} exceeds ${LLAMA_MAX_EXPERTS}`);
  if (used > experts) refuse(file, `${key("expert_used_count")} ${used} exceeds ${key("expert_count")} ${experts}`);
  if (experts > 0) {
    if (used === 0) refuse(file, `a mixture of ${experts} experts must use at least one (${key("expert_used_count")})`);
    if (groups >= experts) refuse(file, `${key("expert_group_count")} must be below ${key("expert_count")}`);
    if (groups > 1 && (experts % groups !== 0 || groupsUsed === 0 || groupsUsed >= groups)) refuse(file, `the expert groups (${key("expert_group_count")}, ${key("expert_group_used_count")}) do not divide the experts`);
  } else if (groups !== 0) {
    refuse(file, `${key("expert_group_count")} is set without experts`);
  }

  const scaling = file.kv(key("rope.scaling.type"));
  if (scaling && (scaling.type !== GgufValueType.STRING || !ROPE_SCALING_TYPES.includes(scaling.value as string))) {
    refuse(file, `${key("rope.scaling.type")} must be one of ${ROPE_SCALING_TYPES.join(", ")}`);
  }

  const embd = maxOf(numbers(file, key("embedding_length")));
  const heads = maxOf(numbers(file, key("attention.head_count")));
  const headDim = maxOf(numbers(file, key("attention.key_length"))) || (heads > 0 ? Math.floor(embd / heads) : 0);
  const rot = numbers(file, key("rope.dimension_count"));
  if (rot && heads > 0) {
    const r = rot[0]!;
    if (FULL_ROTARY.has(arch) ? rot.length !== 1 || r !== headDim : rot.length !== 1 || !Number.isInteger(r) || r < 2 || r % 2 !== 0 || r > headDim) {
      refuse(file, FULL_ROTARY.has(arch)
        ? `${key("rope.dimension_count")} must equal the head size ${headDim} for ${arch}`
        : `${key("rope.dimension_count")} must be an even number from 2 to the head size ${headDim}`);
    }
  }

  for (const name of ["attention.layer_norm_epsilon", "attention.layer_norm_rms_epsilon"]) {
    const eps = numbers(file, key(name));
    if (eps && eps.some((e) => !Number.isFinite(e) || e < 0)) refuse(file, `${key(name)} must be a finite number ≥ 0`);
  }

  // llama.cpp loads a vocabulary-less model, then asserts on the first tokenize
  if (file.kv("tokenizer.ggml.model")?.value === "none") refuse(file, "it has no tokenizer (tokenizer.ggml.model is \"none\"), and bias is measured on text");
  const tokens = file.kv("tokenizer.ggml.tokens");
  if (tokens?.type === GgufValueType.ARRAY && (tokens.value as GgufArray).itemType === GgufValueType.STRING) {
    const seen = new Set<string>();
    for (const [id, text] of ((tokens.value as GgufArray).items as string[]).entries()) {
      if (seen.has(text)) refuse(file, `token ${id} (${JSON.stringify(text)}) appears twice in tokenizer.ggml.tokens`);
      seen.add(text);
    }
  }
}
