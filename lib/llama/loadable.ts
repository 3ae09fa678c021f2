// Headers that parse as GGUF but make llama.cpp abort the whole process (GGML_ASSERT in its loader or
// graph) instead of returning an error. An application embedding the library cannot catch an abort,
// so these are refused before a file reaches llama.cpp. Each rule mirrors one assertion or missing
// case of the vendored llama.cpp (llama-model.cpp's load_hparams, the graphs in src/models,
// llama-vocab.cpp, ggml-cpu's buffers, binary ops and type traits); the loader fuzz
// (bench/fuzz-gguf.ts --loader) is how they were found.
import { DebiasError } from "../errors.js";
import { GgufValueType, type GgufArray } from "../gguf/format.js";
import type { GgufFile, GgufTensor } from "../gguf/reader.js";

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
// Architectures whose graph asserts that keys and values have the same head size
// (src/models/*.cpp with `GGML_ASSERT(n_embd_head == hparams.n_embd_head_k())`, n_embd_head being the
// value head size). Fused-QKV graphs (gpt2, phi2, bloom...) check no tensor shape against the key size,
// so a bad attention.key_length reaches that assertion.
const EQUAL_HEAD_SIZES = new Set([
  "afmoe", "apertus", "arcee", "arctic", "baichuan", "bailingmoe2", "bert", "bitnet", "bloom", "chameleon",
  "chatglm", "codeshell", "cogvlm", "cohere2", "cohere2moe", "command-r", "dbrx", "deci", "deepseek",
  "deepseek4", "dflash", "dots1", "dream", "eagle3", "ernie4_5", "ernie4_5-moe", "eurobert", "exaone",
  "falcon", "glm4", "glm4moe", "gpt2", "gptneox", "granite", "granite_swa", "granitehybrid",
  "graniteswitch", "grok", "grovemoe", "hunyuan-moe", "hunyuan_vl", "hy_v3", "internlm2", "jais", "jais2",
  "laguna", "llada", "llada-moe", "llama", "llama4", "maincoder", "mellum", "minimax-01", "minimax-m2",
  "minimax-m3", "mistral3", "modern-bert", "mpt", "muse-glimmer", "nanbeige", "nemotron", "nemotron_h",
  "nemotron_h_moe", "neo-bert", "olmo", "olmo2", "olmoe", "openelm", "orion", "paddleocr",
  "pangu-embedded", "phi2", "phi3", "plamo", "pockettts", "qwen", "qwen2", "qwen2moe", "qwen2vl", "qwen3",
  "qwen35", "qwen35moe", "qwen3moe", "qwen3next", "qwen3vl", "qwen3vlmoe", "qwen4exp", "refact", "rnd1",
  "seed_oss", "smallthinker", "smollm3", "stablelm", "starcoder", "starcoder2", "t5", "xverse",
]);
// No model llama.cpp supports comes near these (the most: 128 heads; 576-wide MLA keys), and the KV cache
// and attention scores grow with them without the file growing: gpt2 with key_length 2^20 took 16.9 GB
// before it aborted.
const MAX_HEADS = 1024;
const MAX_HEAD_SIZE = 4096;
// ggml-cpu's type traits give these no vec_dot, so a matrix product with one as the weight calls a null
// function (SIGSEGV), and get_rows (token embeddings) aborts on them.
const NO_CPU_MATMUL = new Set(["I8", "I16", "I32", "I64", "F64", "Q8_1", "Q8_K"]);
// llama_token_type: a byte-fallback token such as <0x0A>
export const TOKEN_TYPE_BYTE = 6;

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

/**
 * ggml-cpu adds and multiplies 1-D weights, biases and norms into F32 activations, and binary-ops.cpp
 * aborts unless the weight is F32 too (every converter and llama-quantize keep them F32); every other
 * weight takes part in a matrix product or a row lookup, which needs a type with a CPU dot product.
 */
function checkTensorType(file: GgufFile, t: GgufTensor): void {
  const type = t.type.name;
  if (t.nDims <= 1 || t.name.endsWith(".bias") || t.name.endsWith("_norm.weight")) {
    if (type !== "F32") refuse(file, `tensor '${t.name}' is ${type}, but llama.cpp's CPU code adds or multiplies a 1-D weight, bias or norm into activations only as F32`);
  } else if (NO_CPU_MATMUL.has(type)) {
    refuse(file, `tensor '${t.name}' is ${type}, a type llama.cpp's CPU code has no matrix product or row lookup for`);
  }
}

/** Checks head counts and sizes as load_hparams derives them, and returns the key head size. */
function checkHeads(file: GgufFile, arch: string, embd: number): number {
  const key = (name: string): string => `${arch}.${name}`;
  const heads = numbers(file, key("attention.head_count")) ?? [];
  const kvHeads = numbers(file, key("attention.head_count_kv")) ?? heads;
  for (const [name, counts] of [["attention.head_count", heads], ["attention.head_count_kv", kvHeads]] as const) {
    if (counts.some((n) => !Number.isInteger(n) || n < 0 || n > MAX_HEADS)) refuse(file, `${key(name)} must be whole numbers from 0 to ${MAX_HEADS}`);
  }
  // ggml_mul_mat broadcasts the KV heads over the query heads only when they divide them
  const perLayer = (counts: number[], layer: number): number => counts[Math.min(layer, counts.length - 1)] ?? 0;
  for (let layer = 0; layer < Math.max(heads.length, kvHeads.length); layer++) {
    const [n, kv] = [perLayer(heads, layer), perLayer(kvHeads, layer)];
    if (kv > 0 && n % kv !== 0) refuse(file, `${key("attention.head_count_kv")} ${kv} does not divide ${key("attention.head_count")} ${n}`);
  }
  // llama.cpp takes layer 0's head count to decide whether the model has attention at all
  const nHead = heads[0] ?? 0;
  if (nHead === 0) return 0;
  const explicit = (name: string): number | undefined => {
    const v = numbers(file, key(name));
    if (v && (v.length !== 1 || !Number.isInteger(v[0]) || v[0]! < 1 || v[0]! > MAX_HEAD_SIZE)) refuse(file, `${key(name)} must be one whole number from 1 to ${MAX_HEAD_SIZE}`);
    return v?.[0];
  };
  const keyLength = explicit("attention.key_length");
  const valueLength = explicit("attention.value_length");
  if ((keyLength === undefined || valueLength === undefined) && (embd < nHead || embd % nHead !== 0)) {
    // the graphs split the embedding into heads of embedding_length / head_count; a remainder makes a reshape abort
    refuse(file, `${key("attention.head_count")} ${nHead} does not divide ${key("embedding_length")} ${embd}, and no ${key("attention.key_length")} and ${key("attention.value_length")} set the head size`);
  }
  const kSize = keyLength ?? embd / nHead;
  const vSize = valueLength ?? embd / nHead;
  if (EQUAL_HEAD_SIZES.has(arch) && kSize !== vSize) refuse(file, `the key head size ${kSize} (${key("attention.key_length")}) differs from the value head size ${vSize}, which llama.cpp's ${arch} graph asserts are equal`);
  return kSize;
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
    checkTensorType(file, t);
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
  const headDim = checkHeads(file, arch, embd);
  const rot = numbers(file, key("rope.dimension_count"));
  if (rot && headDim > 0) {
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

  const tokenizer = file.kv("tokenizer.ggml.model")?.value;
  // llama-vocab.cpp reads both names as "no vocabulary", loads the model, then asserts on the first tokenize
  if (tokenizer === "none" || tokenizer === "no_vocab") refuse(file, `it has no tokenizer (tokenizer.ggml.model is "${tokenizer}"), and bias is measured on text`);
  // llama-vocab.cpp renders every token once at load; a WordPiece vocabulary has no byte tokens, so it
  // aborts on the first one instead of reporting an error
  if (tokenizer === "bert") {
    const types = file.kv("tokenizer.ggml.token_type");
    const byteToken = types?.type === GgufValueType.ARRAY ? Array.from((types.value as GgufArray).items as ArrayLike<unknown>).findIndex((v) => Number(v) === TOKEN_TYPE_BYTE) : -1;
    if (byteToken >= 0) refuse(file, `tokenizer.ggml.model is "bert" (WordPiece), which has no byte tokens, but token ${byteToken} is typed as one: the vocabulary belongs to another tokenizer`);
  }
  const tokens = file.kv("tokenizer.ggml.tokens");
  if (tokens?.type === GgufValueType.ARRAY && (tokens.value as GgufArray).itemType === GgufValueType.STRING) {
    const seen = new Set<string>();
    for (const [id, text] of ((tokens.value as GgufArray).items as string[]).entries()) {
      if (seen.has(text)) refuse(file, `token ${id} (${JSON.stringify(text)}) appears twice in tokenizer.ggml.tokens`);
      seen.add(text);
    }
  }
}
