// Random-weight llama-architecture GGUF files of any size, for benches that need a bigger model than the
// fixtures. Metadata (tokenizer included) comes from the llama fixture, so llama.cpp loads them.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { GgufValueType, type GgufKv } from "../lib/edit/format.js";
import { ggmlTypeByName } from "../lib/edit/ggml-types.js";
import { openGguf } from "../lib/edit/reader.js";
import { buildGguf, type TensorData } from "../lib/edit/writer.js";
import { seededRandom } from "../lib/random.js";
import { packageRoot } from "../lib/package-root.js";

export interface SyntheticShape {
  nLayer: number;
  nEmbd: number;
  nFf: number;
  nHead: number;
}

export async function writeSyntheticLlama(path: string, shape: SyntheticShape, seed = 1): Promise<void> {
  const fixture = await openGguf(join(packageRoot(), "test", "fixtures", "llama-localized.f32.gguf"));
  const nVocab = fixture.tensor("token_embd.weight")!.ne[1]!;
  const override: Record<string, number> = {
    "llama.block_count": shape.nLayer,
    "llama.embedding_length": shape.nEmbd,
    "llama.feed_forward_length": shape.nFf,
    "llama.attention.head_count": shape.nHead,
    "llama.attention.head_count_kv": shape.nHead,
    "llama.rope.dimension_count": shape.nEmbd / shape.nHead,
  };
  const kvs: GgufKv[] = fixture.kvs.map((kv) => (kv.key in override ? { key: kv.key, type: GgufValueType.UINT32, value: override[kv.key]! } : kv));
  const f32 = ggmlTypeByName("f32")!;
  const random = seededRandom(seed);
  const tensor = (name: string, ne: number[], fill: "random" | "ones"): TensorData => {
    const n = ne.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    const scale = 1 / Math.sqrt(ne[0]!);
    for (let i = 0; i < n; i++) values[i] = fill === "ones" ? 1 : (random() * 2 - 1) * scale;
    return { name, ne, type: f32, data: Buffer.from(values.buffer) };
  };
  const { nEmbd, nFf } = shape;
  const tensors: TensorData[] = [tensor("token_embd.weight", [nEmbd, nVocab], "random"), tensor("output_norm.weight", [nEmbd], "ones"), tensor("output.weight", [nEmbd, nVocab], "random")];
  for (let l = 0; l < shape.nLayer; l++) {
    tensors.push(
      tensor(`blk.${l}.attn_norm.weight`, [nEmbd], "ones"),
      tensor(`blk.${l}.attn_q.weight`, [nEmbd, nEmbd], "random"),
      tensor(`blk.${l}.attn_k.weight`, [nEmbd, nEmbd], "random"),
      tensor(`blk.${l}.attn_v.weight`, [nEmbd, nEmbd], "random"),
      tensor(`blk.${l}.attn_output.weight`, [nEmbd, nEmbd], "random"),
      tensor(`blk.${l}.ffn_norm.weight`, [nEmbd], "ones"),
      tensor(`blk.${l}.ffn_gate.weight`, [nEmbd, nFf], "random"),
      tensor(`blk.${l}.ffn_up.weight`, [nEmbd, nFf], "random"),
      tensor(`blk.${l}.ffn_down.weight`, [nFf, nEmbd], "random"),
    );
  }
  writeFileSync(path, buildGguf(kvs, tensors));
}
