// Random-weight llama-architecture GGUF files of any size, for benches that need a bigger model than the
// fixtures. Metadata (tokenizer included) comes from the llama fixture, or from a vocabulary-only GGUF
// (llama.cpp's models/ggml-vocab-llama-bpe.gguf: Llama 3's 128k tokenizer, so prompts tokenize as on a
// real model), so llama.cpp loads them.
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { GgufValueType, type GgufKv } from "../lib/gguf/format.js";
import { ggmlTypeByName } from "../lib/gguf/ggml-types.js";
import { openGguf } from "../lib/gguf/reader.js";
import { layoutGguf } from "../lib/gguf/writer.js";
import { seededRandom } from "../lib/random.js";
import { packageRoot } from "../lib/package-root.js";

export interface SyntheticShape {
  nLayer: number;
  nEmbd: number;
  nFf: number;
  nHead: number;
  /** Key/value heads (grouped-query attention); default nHead. */
  nHeadKv?: number;
  /** The output projection is the token embedding (no output.weight), as in Llama 3.2 1B. */
  tied?: boolean;
}

/** Writes a random-weight llama of `shape`; `vocab` names a GGUF whose metadata and tokenizer it takes (default: the llama fixture's). */
export async function writeSyntheticLlama(path: string, shape: SyntheticShape, seed = 1, vocab?: string): Promise<void> {
  const source = await openGguf(vocab ?? join(packageRoot(), "models", "llama-localized.f32.gguf"));
  const tokens = source.kv("tokenizer.ggml.tokens")?.value as { items?: unknown[] } | undefined;
  const nVocab = tokens?.items?.length ?? source.tensor("token_embd.weight")!.ne[1]!;
  const nHeadKv = shape.nHeadKv ?? shape.nHead;
  const override: Record<string, number> = {
    "llama.block_count": shape.nLayer,
    "llama.embedding_length": shape.nEmbd,
    "llama.feed_forward_length": shape.nFf,
    "llama.attention.head_count": shape.nHead,
    "llama.attention.head_count_kv": nHeadKv,
    "llama.rope.dimension_count": shape.nEmbd / shape.nHead,
    "llama.vocab_size": nVocab,
    "general.file_type": 0,
  };
  const kvs: GgufKv[] = source.kvs.map((kv) => (kv.key in override ? { key: kv.key, type: GgufValueType.UINT32, value: override[kv.key]! } : kv));
  const f32 = ggmlTypeByName("f32")!;
  const { nEmbd, nFf } = shape;
  type Spec = { name: string; ne: number[]; fill: "random" | "ones" };
  const specs: Spec[] = [
    { name: "token_embd.weight", ne: [nEmbd, nVocab], fill: "random" },
    { name: "output_norm.weight", ne: [nEmbd], fill: "ones" },
    ...(shape.tied ? [] : [{ name: "output.weight", ne: [nEmbd, nVocab], fill: "random" } as Spec]),
  ];
  const nEmbdKv = (nEmbd / shape.nHead) * nHeadKv;
  for (let l = 0; l < shape.nLayer; l++) {
    specs.push(
      { name: `blk.${l}.attn_norm.weight`, ne: [nEmbd], fill: "ones" },
      ...(["attn_q", "attn_k", "attn_v", "attn_output"] as const).map((t): Spec => ({ name: `blk.${l}.${t}.weight`, ne: [nEmbd, t === "attn_k" || t === "attn_v" ? nEmbdKv : nEmbd], fill: "random" })),
      { name: `blk.${l}.ffn_norm.weight`, ne: [nEmbd], fill: "ones" },
      { name: `blk.${l}.ffn_gate.weight`, ne: [nEmbd, nFf], fill: "random" },
      { name: `blk.${l}.ffn_up.weight`, ne: [nEmbd, nFf], fill: "random" },
      { name: `blk.${l}.ffn_down.weight`, ne: [nFf, nEmbd], fill: "random" },
    );
  }
  // Streamed a row block at a time: a 1B-parameter F32 file is larger than any one Buffer may be.
  const { header, offsets, alignment } = layoutGguf(kvs, specs.map((t) => ({ ...t, type: f32 })));
  const random = seededRandom(seed);
  const fd = openSync(path, "w");
  try {
    writeSync(fd, header);
    specs.forEach((t, i) => {
      const n = t.ne.reduce((a, b) => a * b, 1);
      const scale = 1 / Math.sqrt(t.ne[0]!);
      const chunk = new Float32Array(Math.min(n, 1 << 22));
      let at = header.length + offsets[i]!;
      for (let done = 0; done < n; done += chunk.length) {
        const values = chunk.subarray(0, Math.min(chunk.length, n - done));
        for (let k = 0; k < values.length; k++) values[k] = t.fill === "ones" ? 1 : (random() * 2 - 1) * scale;
        at += writeSync(fd, values, 0, values.byteLength, at);
      }
      const pad = (alignment - ((4 * n) % alignment)) % alignment;
      if (pad > 0 && i === specs.length - 1) writeSync(fd, Buffer.alloc(pad), 0, pad, at);
    });
  } finally {
    closeSync(fd);
  }
}
