// Each of these files parses as GGUF but made llama.cpp abort the process (SIGABRT) when loaded or run;
// now each is one DebiasError before llama.cpp sees it, and the test process survives to say so.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { tensorInfoFields } from "../../bench/fuzz-loader.js";
import { GgufValueType as V, type GgufArray, type GgufKv } from "../../lib/gguf/format.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { ggmlTypeByName } from "../../lib/gguf/ggml-types.js";
import { checkLoadable, TOKEN_TYPE_BYTE } from "../../lib/llama/loadable.js";
import { packageRoot } from "../../lib/package-root.js";
import { buildGguf, reheader } from "../../lib/gguf/writer.js";
import { DebiasModel } from "../../lib/llama/model.js";
import { FIXTURES, fixturePath, type FixtureType } from "../helpers/fixtures.js";

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

/** A fixture with its header's KVs replaced and, optionally, one tensor's type field rewritten in place. */
async function mutant(fixture: string, type: FixtureType, kvs: GgufKv[], retype?: [string, string]): Promise<string> {
  const source = fixturePath(fixture, type);
  const original = readFileSync(source);
  const g = await openGguf(source);
  const out = Buffer.concat([reheader(g, original.subarray(0, g.dataOffset), kvs), original.subarray(g.dataOffset)]);
  const path = join(dir, `mutant-${mutants++}.gguf`);
  writeFileSync(path, out);
  if (retype) {
    const edited = await openGguf(path);
    const at = edited.tensors.findIndex((x) => x.name === retype[0]);
    out.writeUInt32LE(ggmlTypeByName(retype[1])!.id, tensorInfoFields(edited)[at]!.type);
    writeFileSync(path, out);
  }
  return path;
}
let mutants = 0;

const u32 = (key: string, value: number): GgufKv => ({ key, type: V.UINT32, value });
const str = (key: string, value: string): GgufKv => ({ key, type: V.STRING, value });

// each of these killed the process (signal noted) inside a try/catch before the check knew it
const KILLERS: [string, string, FixtureType, GgufKv[], [string, string] | undefined, RegExp][] = [
  ["norm typed I32 (SIGABRT in binary-ops.cpp)", "llama-localized", "f32", [], ["blk.0.attn_norm.weight", "I32"], /tensor 'blk\.0\.attn_norm\.weight' is I32, but .* only as F32/],
  ["ffn_down typed I32 (SIGSEGV)", "llama-localized", "f32", [], ["blk.1.ffn_down.weight", "I32"], /tensor 'blk\.1\.ffn_down\.weight' is I32, a type .* has no matrix product/],
  ["F16 weight swapped for I16 (SIGSEGV)", "llama-localized", "f16", [], ["blk.2.attn_q.weight", "I16"], /tensor 'blk\.2\.attn_q\.weight' is I16/],
  ["bert tokenizer on a llama (abort in llama-vocab.cpp)", "llama-localized", "f32", [str("tokenizer.ggml.model", "bert")], undefined, /"bert" \(WordPiece\), which has no byte tokens, but token 3 is typed as one/],
  ["gpt2 key_length 0 (abort in gpt2.cpp)", "gpt2-localized", "f32", [u32("gpt2.attention.key_length", 0)], undefined, /gpt2\.attention\.key_length must be one whole number from 1 to 4096/],
  ["gpt2 key_length 2^20 (16.9 GB, then abort)", "gpt2-localized", "f32", [u32("gpt2.attention.key_length", 2 ** 20)], undefined, /gpt2\.attention\.key_length must be one whole number from 1 to 4096/],
  ["gpt2 keys 128 wide, values 64 (abort in gpt2.cpp)", "gpt2-localized", "f32", [u32("gpt2.attention.key_length", 128)], undefined, /key head size 128 .* differs from the value head size 64/],
  ["tokenizer no_vocab (abort on the first tokenize)", "llama-localized", "f32", [str("tokenizer.ggml.model", "no_vocab")], undefined, /has no tokenizer \(tokenizer\.ggml\.model is "no_vocab"\)/],
  ["heads that do not divide the embedding", "gpt2-localized", "f32", [u32("gpt2.attention.head_count", 3), u32("gpt2.attention.head_count_kv", 3)], undefined, /head_count 3 does not divide gpt2\.embedding_length 256/],
  ["KV heads that do not divide the query heads", "llama-localized", "f32", [u32("llama.attention.head_count_kv", 3)], undefined, /head_count_kv 3 does not divide llama\.attention\.head_count 4/],
];

t.test("types, tokenizers and head sizes llama.cpp dies on are refused with E_MODEL_INVALID", async (t) => {
  for (const [name, fixture, type, kvs, retype, message] of KILLERS) {
    await t.rejects(DebiasModel.load(await mutant(fixture, type, kvs, retype)), { code: "E_MODEL_INVALID", message }, name);
  }
});

t.test("a same-size swap llama.cpp computes with (F16 to BF16) and a WordPiece vocabulary without byte tokens still load", async (t) => {
  const types = file.kv("tokenizer.ggml.token_type")!;
  const byteless = Int32Array.from((types.value as GgufArray).items as Int32Array, (v) => (v === TOKEN_TYPE_BYTE ? 1 : v));
  for (const path of [
    await mutant("llama-localized", "f16", [], ["blk.2.attn_q.weight", "BF16"]),
    await mutant("llama-localized", "f32", [str("tokenizer.ggml.model", "bert"), { key: types.key, type: V.ARRAY, value: { itemType: V.INT32, items: byteless } }]),
  ]) {
    const model = await DebiasModel.load(path);
    t.ok(model.tokenize("Once upon a time").length > 0, path);
    model.dispose();
  }
});

t.test("no false refusals: every fixture loads, and every model in ../shared/models passes the check", async (t) => {
  const fixtures = readdirSync(FIXTURES).filter((n) => n.endsWith(".gguf"));
  t.ok(fixtures.some((n) => n.endsWith(".q4_k.gguf")) && fixtures.some((n) => n.endsWith(".q8_0.gguf")), "the quantized fixtures are among them");
  for (const name of fixtures) {
    const model = await DebiasModel.load(join(FIXTURES, name));
    model.dispose();
    t.pass(name);
  }
  const shared = join(packageRoot(), "..", "shared", "models");
  for (const name of existsSync(shared) ? readdirSync(shared).filter((n) => n.endsWith(".gguf")) : []) {
    const g = await openGguf(join(shared, name));
    t.doesNotThrow(() => checkLoadable(g), name);
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
