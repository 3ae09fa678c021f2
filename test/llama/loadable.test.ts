// Each of these files parses as GGUF but made llama.cpp abort the process (SIGABRT) when loaded or run;
// now each is one DebiasError before llama.cpp sees it, and the test process survives to say so.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { GgufValueType as V, type GgufArray, type GgufKv } from "../../lib/gguf/format.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { ggmlTypeByName } from "../../lib/gguf/ggml-types.js";
import { buildGguf, reheader } from "../../lib/gguf/writer.js";
import { DebiasModel } from "../../lib/llama/model.js";
import { fixturePath } from "../helpers/fixtures.js";

const base = fixturePath("llama-localized");
const bytes = readFileSync(base);
const file = await openGguf(base);
const dir = t.testdir();

function variant(name: string, kvs: GgufKv[], rename?: [string, string]): string {
  const header = reheader(file, bytes.subarray(0, file.dataOffset), kvs);
  // the writer refuses to re-align data, so an alignment key is added under a same-length name, then renamed
  if (rename) header.write(rename[1], header.indexOf(rename[0]), "latin1");
  const path = join(dir, `${name}.gguf`);
  writeFileSync(path, Buffer.concat([header, bytes.subarray(file.dataOffset)]));
  return path;
}

const tokens = (file.kv("tokenizer.ggml.tokens")!.value as GgufArray).items as string[];
const duplicated = [...tokens];
duplicated[5] = duplicated[6]!;

const CASES: [string, GgufKv[], RegExp, [string, string]?][] = [
  ["alignment 1", [{ key: "general.alignmenX", type: V.UINT32, value: 1 }], /not on the 32-byte boundary/, ["general.alignmenX", "general.alignment"]],
  ["block_count 0", [{ key: "llama.block_count", type: V.UINT32, value: 0 }], /llama\.block_count must be one whole number from 1 to 512/],
  ["negative norm epsilon", [{ key: "llama.attention.layer_norm_rms_epsilon", type: V.FLOAT32, value: -1e-5 }], /layer_norm_rms_epsilon must be a finite number/],
  ["NaN norm epsilon", [{ key: "llama.attention.layer_norm_rms_epsilon", type: V.FLOAT32, value: NaN }], /layer_norm_rms_epsilon must be a finite number/],
  ["experts used without experts", [{ key: "llama.expert_used_count", type: V.UINT32, value: 2 }], /expert_used_count 2 exceeds llama\.expert_count 0/],
  ["experts none used", [{ key: "llama.expert_count", type: V.UINT32, value: 4 }], /must use at least one/],
  ["a token twice", [{ key: "tokenizer.ggml.tokens", type: V.ARRAY, value: { itemType: V.STRING, items: duplicated } }], /token 6 .* appears twice/],
  ["partial RoPE on llama", [{ key: "llama.rope.dimension_count", type: V.UINT32, value: 2 }], /must equal the head size 64 for llama/],
  // not an abort but a hang: llama.cpp compares every key with all before it (100k keys: 23 s)
  ["5000 metadata keys", Array.from({ length: 5000 }, (_, i) => ({ key: `x.${i}`, type: V.UINT32, value: i })), /5\d{3} metadata keys, more than the 4096/],
  ["no tokenizer", [{ key: "tokenizer.ggml.model", type: V.STRING, value: "none" }], /has no tokenizer/],
  ["unknown RoPE scaling", [{ key: "llama.rope.scaling.type", type: V.STRING, value: "cubic" }], /rope\.scaling\.type must be one of/],
];

t.test("headers llama.cpp aborts on are refused with E_MODEL_INVALID", async (t) => {
  for (const [name, kvs, message, rename] of CASES) {
    await t.rejects(DebiasModel.load(variant(name.replace(/\W+/g, "-"), kvs, rename)), { code: "E_MODEL_INVALID", message }, name);
  }
});

t.test("the unmodified model and a harmless change still load", async (t) => {
  const ok = variant("fine", [{ key: "llama.attention.layer_norm_rms_epsilon", type: V.FLOAT32, value: 1e-6 }, { key: "general.name", type: V.STRING, value: "renamed" }]);
  for (const path of [base, ok]) {
    const model = await DebiasModel.load(path);
    t.equal(model.facts.meta["llama.attention.layer_norm_rms_epsilon"], path === ok ? String(Math.fround(1e-6)) : model.facts.meta["llama.attention.layer_norm_rms_epsilon"], "facts.meta reads the header");
    t.equal(model.facts.meta["general.architecture"], "llama");
    t.notOk("tokenizer.ggml.tokens" in model.facts.meta, "long lists are left out");
    model.dispose();
  }
});

t.test("more tensors than the layers can use are refused before llama.cpp's quadratic name check", async (t) => {
  const f32 = ggmlTypeByName("F32")!;
  const tensors = file.tensors.map((x) => ({ name: x.name, ne: x.ne, type: x.type, data: bytes.subarray(x.absoluteOffset, x.absoluteOffset + x.byteSize) }));
  const extra = Array.from({ length: 100_000 }, (_, i) => ({ name: `extra.${i}`, ne: [1], type: f32, data: Buffer.alloc(4) }));
  const path = join(dir, "many-tensors.gguf");
  writeFileSync(path, buildGguf(file.kvs, [...tensors, ...extra]));
  await t.rejects(DebiasModel.load(path), { code: "E_MODEL_INVALID", message: /it has 100039 tensors, more than the 512 an architecture creates for 4 layers/ });
});
