import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { GgufValueType as V } from "../../lib/gguf/format.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { buildGguf, encodeKv, layoutGguf, reheader } from "../../lib/gguf/writer.js";
import { T, modelParts } from "../edit/helpers.js";

t.test("reheader keeps every original byte, adds KVs and re-aligns the data section", async (t) => {
  const dir = t.testdir();
  const { kvs, tensors } = modelParts({ nLayer: 1, nFf: 32, alignment: 64 });
  const bytes = buildGguf([...kvs, { key: "old", type: V.STRING, value: "x" }], tensors);
  // a key that is not valid UTF-8 must survive verbatim, which re-encoding a decoded string would not do
  const weird = bytes.indexOf("old");
  bytes[weird] = 0xff;
  const src = join(dir, "src.gguf");
  writeFileSync(src, bytes);
  const g = await openGguf(src);
  const header = reheader(g, bytes.subarray(0, g.dataOffset), [{ key: "debias.note", type: V.STRING, value: "hello" }]);
  t.equal(header.length % 64, 0, "padded to the file's alignment");
  const out = join(dir, "out.gguf");
  writeFileSync(out, Buffer.concat([header, bytes.subarray(g.dataOffset)]));
  const h = await openGguf(out);
  t.same(h.kvs.map((kv) => kv.key), [...g.kvs.map((kv) => kv.key), "debias.note"]);
  t.ok(readFileSync(out).subarray(0, g.tensorInfoSpan.start).includes(bytes.subarray(g.kvSpans[3]!.start, g.kvSpans[3]!.end)), "the odd key's bytes are copied as they were");
  t.same(h.tensors.map((x) => [x.name, x.offset]), g.tensors.map((x) => [x.name, x.offset]), "relative offsets are unchanged");
  t.equal(h.dataOffset, header.length);

  const again = reheader(h, readFileSync(out).subarray(0, h.dataOffset), [{ key: "debias.note", type: V.UINT8, value: 2 }]);
  writeFileSync(out, Buffer.concat([again, bytes.subarray(g.dataOffset)]));
  const k = await openGguf(out);
  t.same(k.kv("debias.note"), { key: "debias.note", type: V.UINT8, value: 2 }, "a KV of the same key is replaced, not duplicated");
  t.equal(k.kvs.length, g.kvs.length + 1);
  t.throws(() => reheader(g, bytes, [{ key: "general.alignment", type: V.UINT32, value: 32 }]), { code: "E_GGUF_ENCODE" });
});

t.test("values that do not fit their declared type are refused", async (t) => {
  const bad: [V, unknown][] = [
    [V.UINT8, 256],
    [V.INT8, 1.5],
    [V.UINT32, -1],
    [V.UINT64, 1],
    [V.INT64, 2n ** 63n],
    [V.BOOL, 1],
    [V.STRING, 3],
    [V.FLOAT32, "1"],
    [V.ARRAY, { itemType: 42, items: [] }],
    [V.ARRAY, { itemType: V.STRING, items: [1] }],
    [99 as V, 0],
  ];
  for (const [type, value] of bad) {
    t.throws(() => encodeKv({ key: "k", type, value: value as never }), { code: "E_GGUF_ENCODE", message: /'k'/ }, `${V[type] ?? type} ${String(value)}`);
  }
  t.throws(() => buildGguf([], [{ name: "w", type: T("Q4_0"), ne: [16], data: Buffer.alloc(9) }]), { code: "E_GGUF_ENCODE", message: /'w'/ });
});

t.test("a layout and its tensors' bytes written at its offsets make the same file as buildGguf", async (t) => {
  const { kvs, tensors } = modelParts({ nLayer: 2, nFf: 32, alignment: 64 });
  const whole = buildGguf(kvs, tensors);
  const { header, offsets, bytes } = layoutGguf(kvs, tensors);
  const streamed = Buffer.alloc(whole.length);
  header.copy(streamed);
  tensors.forEach((x, i) => {
    t.equal(bytes[i], x.data.length, `${x.name}: its size`);
    t.equal(offsets[i]! % 64, 0, `${x.name}: aligned`);
    x.data.copy(streamed, header.length + offsets[i]!);
  });
  t.ok(streamed.equals(whole));
});
