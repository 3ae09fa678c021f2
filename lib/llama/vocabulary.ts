// A model's vocabulary, identified from its header: comparing two models (eval, compare) only means
// something when they tokenize alike, and our test models are recognised by their vocabulary, wherever
// they were copied to.
import { createHash } from "node:crypto";
import { DebiasError } from "../errors.js";
import { GgufValueType, type GgufArray } from "../gguf/format.js";
import { openGguf } from "../gguf/reader.js";

export interface Vocabulary {
  readonly size: number;
  /** sha256 over the tokenizer model name and every token string, in id order. */
  readonly sha256: string;
}

const cache = new Map<string, Promise<Vocabulary>>();

async function read(path: string): Promise<Vocabulary> {
  const file = await openGguf(path);
  const kv = file.kv("tokenizer.ggml.tokens");
  const tokens = kv?.type === GgufValueType.ARRAY && (kv.value as GgufArray).itemType === GgufValueType.STRING ? ((kv.value as GgufArray).items as string[]) : [];
  const h = createHash("sha256").update(file.kvString("tokenizer.ggml.model") ?? "").update("\0");
  for (const t of tokens) h.update(t).update("\0");
  return { size: tokens.length, sha256: h.digest("hex") };
}

/** The vocabulary of the GGUF file at `path` (read once per path and process). */
export function vocabularyOf(path: string): Promise<Vocabulary> {
  let v = cache.get(path);
  if (!v) {
    v = read(path);
    cache.set(path, v);
    v.catch(() => cache.delete(path));
  }
  return v;
}

/** Throws E_VOCAB_MISMATCH unless both models have the same tokens with the same ids. */
export async function checkSameVocabulary(a: string, b: string): Promise<void> {
  const [va, vb] = await Promise.all([vocabularyOf(a), vocabularyOf(b)]);
  if (va.sha256 !== vb.sha256) {
    throw new DebiasError("E_VOCAB_MISMATCH",
      `${a} and ${b} have different vocabularies (${va.size} and ${vb.size} tokens${va.size === vb.size ? ", not the same ones" : ""}), so their outputs cannot be compared token by token; compare an edited model with the model it was made from.`);
  }
}
