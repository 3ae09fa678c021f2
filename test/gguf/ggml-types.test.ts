import { existsSync, readFileSync } from "node:fs";
import t from "tap";
import { GGML_TYPES, ggmlTypeById, ggmlTypeByName, removedGgmlTypeName } from "../../lib/gguf/ggml-types.js";

// The block sizes from ggml-common.h's static_asserts, written out (QK_K = 256, K_SCALE_SIZE = 12, half = 2).
const EXPECTED: Record<string, [number, number]> = {
  F32: [1, 4], F16: [1, 2], BF16: [1, 2], F64: [1, 8], I8: [1, 1], I16: [1, 2], I32: [1, 4], I64: [1, 8],
  Q4_0: [32, 2 + 16], Q4_1: [32, 4 + 16], Q5_0: [32, 2 + 4 + 16], Q5_1: [32, 4 + 4 + 16],
  Q8_0: [32, 2 + 32], Q8_1: [32, 4 + 32], Q1_0: [128, 2 + 16], Q2_0: [64, 2 + 16],
  Q2_K: [256, 4 + 16 + 64], Q3_K: [256, 2 + 64 + 32 + 12], Q4_K: [256, 4 + 12 + 128],
  Q5_K: [256, 4 + 12 + 128 + 32], Q6_K: [256, 2 + 16 + 192], Q8_K: [256, 4 + 256 + 32],
  IQ2_XXS: [256, 2 + 64], IQ2_XS: [256, 2 + 64 + 8], IQ2_S: [256, 2 + 64 + 16], IQ3_XXS: [256, 2 + 96],
  IQ3_S: [256, 2 + 13 * 8 + 4], IQ1_S: [256, 2 + 32 + 16], IQ1_M: [256, 32 + 16 + 8],
  IQ4_NL: [32, 2 + 16], IQ4_XS: [256, 2 + 2 + 4 + 128], TQ1_0: [256, 2 + 4 + 48], TQ2_0: [256, 2 + 64],
  MXFP4: [32, 1 + 16], NVFP4: [64, 4 + 32],
};

t.test("every type has the block geometry of ggml-common.h", async (t) => {
  t.same(GGML_TYPES.map((x) => x.name).sort(), Object.keys(EXPECTED).sort());
  for (const type of GGML_TYPES) t.same([type.blockSize, type.typeSize], EXPECTED[type.name], type.name);
  t.equal(new Set(GGML_TYPES.map((x) => x.id)).size, GGML_TYPES.length, "ids are unique");
});

t.test("scale fields lie inside their block and do not overlap", async (t) => {
  const width = { f16: 2, f32: 4, e8m0: 1, "iq1m-nibbles": 8 } as const;
  for (const type of GGML_TYPES) {
    const ranges = (type.scales ?? []).map((f) => [f.offset, f.offset + width[f.encoding]] as const).sort((a, b) => a[0] - b[0]);
    ranges.forEach(([s, e], i) => {
      t.ok(s >= 0 && e <= type.typeSize, `${type.name} field at ${s}`);
      if (i > 0) t.ok(s >= ranges[i - 1]![1], `${type.name} fields disjoint`);
    });
    if (type.element) t.equal(type.scales, null, `${type.name} is scaled element-wise`);
  }
  t.same(ggmlTypeByName("q4_1")!.scales, [{ offset: 0, encoding: "f16" }, { offset: 2, encoding: "f16" }], "Q4_1 scales d and m");
  t.same(ggmlTypeByName("Q6_K")!.scales, [{ offset: 208, encoding: "f16" }], "Q6_K scales d only");
  t.equal(ggmlTypeByName("NVFP4")!.scales, null);
});

t.test("ids match ggml.h's enum ggml_type, removed ids are named", async (t) => {
  t.equal(ggmlTypeById(12)!.name, "Q4_K");
  t.equal(ggmlTypeById(31), undefined);
  t.equal(removedGgmlTypeName(31), "Q4_0_4_4");
  const header = new URL("../../vendor/llama.cpp/ggml/include/ggml.h", import.meta.url);
  if (!existsSync(header)) return t.skip("vendor/llama.cpp is not unpacked");
  const live = [...readFileSync(header, "utf8").matchAll(/^\s*GGML_TYPE_(\w+)\s*=\s*(\d+),/gm)].filter(([, name]) => name !== "COUNT");
  t.ok(live.length >= 35);
  for (const [, name, id] of live) t.equal(ggmlTypeById(Number(id))?.name, name, `GGML_TYPE_${name}`);
});
