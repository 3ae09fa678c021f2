import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { bf16ToNumber, f16ToNumber, numberToBf16, numberToF16 } from "../../lib/gguf/float.js";
import { GGML_TYPES } from "../../lib/gguf/ggml-types.js";
import { planNeuronEdits, type EditPlan } from "../../lib/edit/neuron-edit.js";
import { openGguf, type GgufFile } from "../../lib/gguf/reader.js";
import { buildGguf } from "../../lib/gguf/writer.js";
import { modelParts, q8Requantizer, sha256, writeModel, type ModelSpec } from "./helpers.js";

async function model(dir: string, name: string, spec: ModelSpec): Promise<{ g: GgufFile; bytes: Buffer }> {
  const path = writeModel(dir, name, spec);
  return { g: await openGguf(path), bytes: readFileSync(path) };
}

// IQ1_M keeps its fp16 d in the top nibble of four u16 words (ggml-quants.c dequantize_row_iq1_m)
const iq1mScale = (b: Buffer, at: number): number =>
  [0, 1, 2, 3].reduce((bits, k) => bits | ((b.readUInt16LE(at + 2 * k) >> 12) << (4 * k)), 0);

const spans = (plan: EditPlan): [number, number][] => plan.patches.map((p) => [p.offset, p.length]);

t.test("gated zero: exactly row i of ffn_gate becomes zero bytes", async (t) => {
  const { g, bytes } = await model(t.testdir(), "m.gguf", { upType: "Q4_K" });
  const gate = g.tensor("blk.1.ffn_gate.weight")!;
  const before = sha256(g.path);
  const plan = await planNeuronEdits(g, [{ layer: 1, index: 7, scale: 0 }]);
  t.same(spans(plan), [[gate.absoluteOffset + 7 * 144, 144]]);
  t.same(plan.patches[0]!.bytes, Buffer.alloc(144));
  t.same(plan.patches[0]!.original, bytes.subarray(gate.absoluteOffset + 7 * 144, gate.absoluteOffset + 8 * 144));
  t.match(plan.description[0], /zero row 7 of blk\.1\.ffn_gate\.weight \(Q4_K, 144 bytes\)/);
  t.equal(sha256(g.path), before, "planning writes nothing");

  const two = await planNeuronEdits(g, [{ layer: 1, index: 4, scale: 0 }, { layer: 1, index: 3, scale: 0 }]);
  t.same(spans(two), [[gate.absoluteOffset + 3 * 144, 288]], "adjacent rows merge into one write");
});

t.test("gated scale on every quantised type rewrites only the block scales, by exactly α", async (t) => {
  const dir = t.testdir();
  for (const type of GGML_TYPES.filter((x) => x.scales)) {
    const { g, bytes } = await model(dir, `${type.name}.gguf`, { upType: type.name, downType: "F32", nFf: 4, nLayer: 1 });
    const up = g.tensor("blk.0.ffn_up.weight")!;
    const plan = await planNeuronEdits(g, [{ layer: 0, index: 2, scale: 0.5 }]);
    const row = up.absoluteOffset + 2 * up.rowBytes;
    const edited = Buffer.from(bytes);
    for (const p of plan.patches) p.bytes.copy(edited, p.offset);
    let outside = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === edited[i]) continue;
      const inBlock = (i - row) % type.typeSize;
      const inField = i >= row && i < row + up.rowBytes && type.scales!.some((f) => inBlock >= f.offset && inBlock < f.offset + (f.encoding === "f32" ? 4 : f.encoding === "e8m0" ? 1 : f.encoding === "f16" ? 2 : 8));
      if (!inField) outside++;
    }
    t.equal(outside, 0, `${type.name}: no byte outside the scale fields of row 2 changes`);
    for (let blk = row; blk < row + up.rowBytes; blk += type.typeSize) {
      for (const f of type.scales!) {
        const at = blk + f.offset;
        if (f.encoding === "f16") t.equal(f16ToNumber(edited.readUInt16LE(at)), f16ToNumber(bytes.readUInt16LE(at)) / 2);
        else if (f.encoding === "f32") t.equal(edited.readFloatLE(at), bytes.readFloatLE(at) / 2);
        else if (f.encoding === "e8m0") t.equal(edited[at], bytes[at]! - 1);
        else t.equal(f16ToNumber(iq1mScale(edited, at)), f16ToNumber(iq1mScale(bytes, at)) / 2, "IQ1_M d, split over nibbles");
      }
    }
    t.equal(plan.maxRelError, 0, `${type.name}: halving a normal fp16 is exact`);
  }
});

t.test("float rows scale element-wise within the stated rounding bound", async (t) => {
  const dir = t.testdir();
  const alpha = Math.fround(0.3);
  for (const [name, bound, decode, encode] of [
    ["F32", 2 ** -24, (b: Buffer, at: number) => b.readFloatLE(at), (v: number) => Math.fround(v)],
    ["F16", 2 ** -11, (b: Buffer, at: number) => f16ToNumber(b.readUInt16LE(at)), (v: number) => f16ToNumber(numberToF16(v))],
    ["BF16", 2 ** -8, (b: Buffer, at: number) => bf16ToNumber(b.readUInt16LE(at)), (v: number) => bf16ToNumber(numberToBf16(v))],
  ] as const) {
    const { g, bytes } = await model(dir, `${name}.gguf`, { upType: name, nLayer: 1 });
    const up = g.tensor("blk.0.ffn_up.weight")!;
    const plan = await planNeuronEdits(g, [{ layer: 0, index: 9, scale: 0.3 }]);
    const row = up.absoluteOffset + 9 * up.rowBytes;
    t.same(spans(plan), [[row, up.rowBytes]], `${name}: one row`);
    const width = up.type.typeSize;
    let wrong = 0;
    for (let k = 0; k < 256; k++) {
      if (decode(plan.patches[0]!.bytes, k * width) !== encode(decode(bytes, row + k * width) * alpha)) wrong++;
    }
    t.equal(wrong, 0, `${name}: each element is α·x rounded once to nearest-even`);
    t.ok(plan.maxRelError > 0 && plan.maxRelError <= bound, `${name}: max relative error ${plan.maxRelError} ≤ ${bound}`);
  }
});

t.test("ungated FFN: zero hits the up row and its bias; scale hits the down column", async (t) => {
  const { g, bytes } = await model(t.testdir(), "gpt2.gguf", { arch: "gpt2", gated: false, upBias: true });
  const up = g.tensor("blk.0.ffn_up.weight")!;
  const bias = g.tensor("blk.0.ffn_up.bias")!;
  const down = g.tensor("blk.0.ffn_down.weight")!;
  const zero = await planNeuronEdits(g, [{ layer: 0, index: 5, scale: 0 }]);
  t.same(spans(zero), [[up.absoluteOffset + 5 * 1024, 1024], [bias.absoluteOffset + 20, 4]]);
  t.ok(zero.patches.every((p) => p.bytes.equals(Buffer.alloc(p.length))));

  const scaled = await planNeuronEdits(g, [{ layer: 0, index: 5, scale: 0.25 }]);
  t.equal(scaled.patches.length, 256, "one element in each of n_embd rows");
  scaled.patches.forEach((p, r) => {
    const at = down.absoluteOffset + r * down.rowBytes + 5 * 4;
    t.equal(p.offset, at);
    t.equal(p.bytes.readFloatLE(0), bytes.readFloatLE(at) / 4);
  });
  t.equal(scaled.maxRelError, 0);
  t.notOk(scaled.patches.some((p) => p.offset >= bias.absoluteOffset && p.offset < bias.absoluteOffset + bias.byteSize), "the bias is not scaled");
});

t.test("fused gate-up (phi3): gate rows first, up rows second", async (t) => {
  const { g } = await model(t.testdir(), "phi3.gguf", { arch: "phi3", fused: true, nFf: 64 });
  const up = g.tensor("blk.0.ffn_up.weight")!;
  const zero = await planNeuronEdits(g, [{ layer: 0, index: 3, scale: 0 }]);
  t.same(spans(zero), [[up.absoluteOffset + 3 * 1024, 1024]]);
  const scaled = await planNeuronEdits(g, [{ layer: 0, index: 3, scale: 0.5 }]);
  t.same(spans(scaled), [[up.absoluteOffset + (64 + 3) * 1024, 1024]]);
});

t.test("quantised down columns need the requantizer, and report its error", async (t) => {
  const { g, bytes } = await model(t.testdir(), "q8.gguf", { arch: "gpt2", gated: false, upType: "Q8_0" });
  await t.rejects(planNeuronEdits(g, [{ layer: 0, index: 40, scale: 0.5 }]), { code: "E_EDIT_NEEDS_REQUANT", message: /blk\.0\.ffn_down\.weight \(Q8_0\)/ });
  const plan = await planNeuronEdits(g, [{ layer: 0, index: 40, scale: 0.5 }, { layer: 0, index: 41, scale: 0 }], { requantizer: q8Requantizer });
  const down = g.tensor("blk.0.ffn_down.weight")!;
  const up = g.tensor("blk.0.ffn_up.weight")!;
  const downPatches = plan.patches.filter((p) => p.offset >= down.absoluteOffset);
  t.same(plan.patches.filter((p) => p.offset < down.absoluteOffset).map((p) => [p.offset, p.length]), [[up.absoluteOffset + 41 * up.rowBytes, up.rowBytes]]);
  t.ok(downPatches.every((p, r) => p.offset === down.absoluteOffset + r * down.rowBytes + 34 && p.length === 34), "block 1 (columns 32–63) of each row");
  t.ok(downPatches.length > 200 && downPatches.length <= 256);
  const values = await q8Requantizer.dequantize(8, Buffer.concat(downPatches.map((p) => p.bytes)), downPatches.length * 32);
  const orig = await q8Requantizer.dequantize(8, Buffer.concat(downPatches.map((p) => bytes.subarray(p.offset, p.offset + 34))), downPatches.length * 32);
  let worst = 0;
  for (let i = 0; i < values.length; i++) {
    const want = i % 32 === 8 ? orig[i]! * 0.5 : orig[i]!;
    worst = Math.max(worst, Math.abs(values[i]! - want));
  }
  t.ok(worst > 0, "requantising is not exact");
  t.equal(plan.maxAbsError, worst, "the reported error is the real worst change");
  t.match(plan.description.at(-1), /requantisation changed weights by up to/);
});

t.test("bad edits are refused with one sentence naming what failed", async (t) => {
  const dir = t.testdir();
  const { g } = await model(dir, "m.gguf", { nFf: 64 });
  const refuse = (edits: { layer: number; index: number; scale: number }[], code: string, message: RegExp): Promise<void> =>
    t.rejects(planNeuronEdits(g, edits), { code, message }, code);
  await refuse([], "E_EDIT_EMPTY", /empty/);
  await refuse([{ layer: 2, index: 0, scale: 0 }], "E_LAYER_RANGE", /Layer 2 is out of range: .* has 2 layers/);
  await refuse([{ layer: 0, index: 64, scale: 0 }], "E_NEURON_RANGE", /64 is out of range for layer 0 .* 64 FFN neurons \(0–63\)/);
  await refuse([{ layer: 0, index: -1, scale: 0 }], "E_NEURON_RANGE", /index/);
  await refuse([{ layer: 0.5, index: 1, scale: 0 }], "E_LAYER_RANGE", /layer/);
  await refuse([{ layer: 0, index: 1, scale: -0.5 }], "E_EDIT_SCALE", /finite number ≥ 0/);
  await refuse([{ layer: 0, index: 1, scale: NaN }], "E_EDIT_SCALE", /NaN/);
  await refuse([{ layer: 0, index: 1, scale: 0 }, { layer: 0, index: 1, scale: 0.5 }], "E_EDIT_DUPLICATE", /layer 0, index 1/);

  const { kvs, tensors } = modelParts({ nFf: 64 });
  const missing = join(dir, "missing.gguf");
  writeFileSync(missing, buildGguf(kvs, tensors.filter((x) => x.name !== "blk.1.ffn_down.weight")));
  await t.rejects(planNeuronEdits(await openGguf(missing), [{ layer: 1, index: 0, scale: 0 }]), { code: "E_TENSOR_MISSING", message: /no tensor blk\.1\.ffn_down\.weight/ });

  const moe = await model(dir, "moe.gguf", { moe: true, nFf: 64 });
  await t.rejects(planNeuronEdits(moe.g, [{ layer: 0, index: 0, scale: 0 }]), { code: "E_EDIT_MOE", message: /mixture of experts/ });

  const nv = await model(dir, "nv.gguf", { upType: "NVFP4", downType: "F32", nFf: 8, nLayer: 1 });
  await t.rejects(planNeuronEdits(nv.g, [{ layer: 0, index: 0, scale: 0.5 }]), { code: "E_EDIT_TYPE", message: /NVFP4/ });
  t.equal((await planNeuronEdits(nv.g, [{ layer: 0, index: 0, scale: 0 }])).patches.length, 1, "zeroing works in every type");

  const mx = await model(dir, "mx.gguf", { upType: "MXFP4", downType: "F32", nFf: 8, nLayer: 1 });
  await t.rejects(planNeuronEdits(mx.g, [{ layer: 0, index: 0, scale: 0.3 }]), { code: "E_EDIT_SCALE_INEXACT", message: /power-of-two/ });

  // ungated Q4_K down columns are requantised: ggml's quantiser would store Inf/NaN for ×1e8
  const { nativeRequantizer } = await import("../../lib/edit/requantizer.js");
  const q4 = await model(dir, "q4k.gguf", { arch: "gpt2", gated: false, upType: "Q4_K", downType: "Q4_K", nEmbd: 256, nFf: 256, nLayer: 1 });
  await t.rejects(planNeuronEdits(q4.g, [{ layer: 0, index: 5, scale: 1e8 }], { requantizer: nativeRequantizer }), { code: "E_EDIT_OVERFLOW", message: /not finite/ });
  t.ok((await planNeuronEdits(q4.g, [{ layer: 0, index: 5, scale: 2 }], { requantizer: nativeRequantizer })).patches.length > 0, "a modest scale goes through");

  const f16 = await model(dir, "f16.gguf", { upType: "F16", nFf: 8, nLayer: 1 });
  await t.rejects(planNeuronEdits(f16.g, [{ layer: 0, index: 0, scale: 1e6 }]), { code: "E_EDIT_OVERFLOW", message: /F16/ });
  t.equal((await planNeuronEdits(f16.g, [{ layer: 0, index: 0, scale: 1 }])).patches.length, 0, "scale 1 changes nothing");
});
