import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { isDebiasError } from "../../lib/errors.js";
import { GgufValueType as V, type GgufKv } from "../../lib/gguf/format.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { buildGguf, encodeKv, encodeTensorInfo } from "../../lib/gguf/writer.js";
import { T, modelParts, sha256 } from "../edit/helpers.js";

const EVERY_TYPE: GgufKv[] = [
  { key: "t.u8", type: V.UINT8, value: 255 },
  { key: "t.i8", type: V.INT8, value: -128 },
  { key: "t.u16", type: V.UINT16, value: 65535 },
  { key: "t.i16", type: V.INT16, value: -32768 },
  { key: "t.u32", type: V.UINT32, value: 4294967295 },
  { key: "t.i32", type: V.INT32, value: -2147483648 },
  { key: "t.f32", type: V.FLOAT32, value: 0.5 },
  { key: "t.bool", type: V.BOOL, value: true },
  { key: "t.string", type: V.STRING, value: "héllo ✓" },
  { key: "t.u64", type: V.UINT64, value: 18446744073709551615n },
  { key: "t.i64", type: V.INT64, value: -9223372036854775808n },
  { key: "t.f64", type: V.FLOAT64, value: Math.PI },
  { key: "t.a.u8", type: V.ARRAY, value: { itemType: V.UINT8, items: Uint8Array.from([0, 1, 255]) } },
  { key: "t.a.i8", type: V.ARRAY, value: { itemType: V.INT8, items: Int8Array.from([-1, 2]) } },
  { key: "t.a.u16", type: V.ARRAY, value: { itemType: V.UINT16, items: Uint16Array.from([65535]) } },
  { key: "t.a.i16", type: V.ARRAY, value: { itemType: V.INT16, items: Int16Array.from([-7]) } },
  { key: "t.a.u32", type: V.ARRAY, value: { itemType: V.UINT32, items: Uint32Array.from([1, 2, 3]) } },
  { key: "t.a.i32", type: V.ARRAY, value: { itemType: V.INT32, items: Int32Array.from([-3]) } },
  { key: "t.a.f32", type: V.ARRAY, value: { itemType: V.FLOAT32, items: Float32Array.from([1.5, -0.25]) } },
  { key: "t.a.f64", type: V.ARRAY, value: { itemType: V.FLOAT64, items: Float64Array.from([Math.E]) } },
  { key: "t.a.u64", type: V.ARRAY, value: { itemType: V.UINT64, items: BigUint64Array.from([2n ** 64n - 1n]) } },
  { key: "t.a.i64", type: V.ARRAY, value: { itemType: V.INT64, items: BigInt64Array.from([-(2n ** 63n)]) } },
  { key: "t.a.bool", type: V.ARRAY, value: { itemType: V.BOOL, items: [true, false, true] } },
  { key: "t.a.string", type: V.ARRAY, value: { itemType: V.STRING, items: ["a", "", "ßü"] } },
  { key: "t.a.empty", type: V.ARRAY, value: { itemType: V.UINT32, items: new Uint32Array(0) } },
  {
    key: "t.a.nested",
    type: V.ARRAY,
    value: {
      itemType: V.ARRAY,
      items: [
        { itemType: V.INT32, items: Int32Array.from([1, -2]) },
        { itemType: V.ARRAY, items: [{ itemType: V.STRING, items: ["deep"] }] },
      ],
    },
  },
];

function write(dir: string, name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

async function rejectsCode(t: Test, path: string, code: string, pattern?: RegExp): Promise<void> {
  const before = sha256(path);
  const err = await openGguf(path).then(() => null, (e: unknown) => e);
  t.ok(isDebiasError(err), `${code}: a DebiasError`);
  t.equal((err as { code?: string })?.code, code, (err as Error)?.message);
  if (pattern) t.match((err as Error).message, pattern);
  t.equal(sha256(path), before, "the file is unchanged");
}

t.test("every KV type round-trips, nested arrays included", async (t) => {
  const dir = t.testdir();
  const { tensors } = modelParts({ nLayer: 1 });
  const path = write(dir, "kv.gguf", buildGguf(EVERY_TYPE, tensors));
  const g = await openGguf(path);
  t.equal(g.version, 3);
  t.same(g.kvs.map((kv) => kv.key), EVERY_TYPE.map((kv) => kv.key));
  for (const kv of EVERY_TYPE) t.same(g.kv(kv.key), kv, kv.key);
  t.equal(g.kvInteger("t.u8"), 255);
  t.equal(g.kvString("t.string"), "héllo ✓");
  t.equal(g.arch, undefined);
  t.equal(g.kvInteger("t.i32"), -2147483648);
  t.throws(() => g.kvInteger("t.u64"), { code: "E_GGUF_KV_TYPE" }, "a u64 beyond 2^53 is refused, not rounded");
  t.throws(() => g.kvString("t.u8"), { code: "E_GGUF_KV_TYPE" });
  t.equal(g.kvInteger("missing"), undefined);
});

t.test("tensor infos, offsets, sizes and alignment", async (t) => {
  const dir = t.testdir();
  const { kvs, tensors } = modelParts({ nLayer: 1, upType: "Q4_K", downType: "Q6_K", alignment: 64 });
  const path = write(dir, "m.gguf", buildGguf(kvs, tensors));
  const g = await openGguf(path);
  t.equal(g.alignment, 64);
  t.equal(g.arch, "llama");
  t.equal(g.kvInteger("llama.block_count"), 1);
  t.equal(g.dataOffset % 64, 0);
  t.same(g.tensors.map((x) => x.name), tensors.map((x) => x.name));
  const up = g.tensor("blk.0.ffn_up.weight")!;
  t.same(up.ne, [256, 512]);
  t.equal(up.type.name, "Q4_K");
  t.equal(up.rowBytes, 144);
  t.equal(up.nRows, 512);
  t.equal(up.byteSize, 512 * 144);
  const down = g.tensor("blk.0.ffn_down.weight")!;
  t.equal(down.rowBytes, 2 * 210);
  t.equal(down.byteSize, 256 * 2 * 210);
  for (const x of g.tensors) {
    t.equal(x.offset % 64, 0);
    t.equal(x.absoluteOffset, g.dataOffset + x.offset);
  }
  t.equal(g.tensor("nope"), undefined);
});

t.test("v2 files parse; v1 and unknown versions are refused by number", async (t) => {
  const dir = t.testdir();
  const bytes = buildGguf([{ key: "general.architecture", type: V.STRING, value: "gpt2" }], modelParts({ nLayer: 1 }).tensors);
  const v2 = Buffer.from(bytes);
  v2.writeUInt32LE(2, 4);
  t.equal((await openGguf(write(dir, "v2.gguf", v2))).version, 2);
  const v1 = Buffer.from(bytes);
  v1.writeUInt32LE(1, 4);
  await rejectsCode(t, write(dir, "v1.gguf", v1), "E_GGUF_VERSION", /version 1 /);
  const be = Buffer.from(bytes);
  be.writeUInt32BE(3, 4);
  await rejectsCode(t, write(dir, "be.gguf", be), "E_GGUF_BIG_ENDIAN");
  await rejectsCode(t, write(dir, "magic.gguf", Buffer.from("GGML....")), "E_NOT_GGUF");
});

t.test("a header larger than the first read window is read in growing windows", async (t) => {
  const dir = t.testdir();
  const big = "x".repeat(300_000);
  const tokens = Array.from({ length: 20_000 }, (_, i) => `tok${i}`);
  const kvs: GgufKv[] = [
    { key: "big", type: V.STRING, value: big },
    { key: "tokens", type: V.ARRAY, value: { itemType: V.STRING, items: tokens } },
  ];
  const g = await openGguf(write(dir, "big.gguf", buildGguf(kvs, modelParts({ nLayer: 1 }).tensors)));
  t.equal((g.kv("big")!.value as string).length, 300_000);
  t.same((g.kv("tokens")!.value as { items: string[] }).items.slice(-1), ["tok19999"]);
});

function header(kvBlobs: Buffer[], infos: Buffer[], nTensors = infos.length, nKv = kvBlobs.length): Buffer {
  const fixed = Buffer.alloc(24);
  fixed.write("GGUF", 0, "latin1");
  fixed.writeUInt32LE(3, 4);
  fixed.writeBigUInt64LE(BigInt(nTensors), 8);
  fixed.writeBigUInt64LE(BigInt(nKv), 16);
  return Buffer.concat([fixed, ...kvBlobs, ...infos]);
}

const pad = (b: Buffer, to: number): Buffer => Buffer.concat([b, Buffer.alloc(Math.ceil(b.length / to) * to - b.length)]);

t.test("malformed headers fail with a specific code, before any large allocation", async (t) => {
  const dir = t.testdir();
  const f32 = T("F32");
  const info = (name: string, ne: number[], offset: number, type = f32): Buffer => encodeTensorInfo({ name, ne, type, offset });
  const file = (name: string, b: Buffer): string => write(dir, name, b);

  await rejectsCode(t, file("trunc.gguf", header([], []).subarray(0, 20)), "E_GGUF_TRUNCATED");
  await rejectsCode(t, file("count.gguf", header([], [], 2 ** 40)), "E_GGUF_LIMIT", /tensor count/);
  await rejectsCode(t, file("kvcount.gguf", header([], [], 0, 2 ** 50)), "E_GGUF_LIMIT", /KV count/);
  const hugeString = encodeKv({ key: "k", type: V.STRING, value: "abc" });
  hugeString.writeBigUInt64LE(2n ** 62n, 8 + 1 + 4);
  await rejectsCode(t, file("str.gguf", header([hugeString], [])), "E_GGUF_LIMIT", /length/);
  const hugeArray = encodeKv({ key: "k", type: V.ARRAY, value: { itemType: V.UINT64, items: BigUint64Array.from([1n]) } });
  hugeArray.writeBigUInt64LE(2n ** 40n, 8 + 1 + 4 + 4);
  await rejectsCode(t, file("arr.gguf", header([hugeArray], [])), "E_GGUF_LIMIT", /array length/);
  // 1M nested one-byte arrays: 17 MB of header that would decode to ~400 MB of objects (and took
  // 2 GB of memory for a 62 MB header); the reader stops at its memory budget instead
  const one = encodeKv({ key: "k", type: V.ARRAY, value: { itemType: V.UINT8, items: Uint8Array.of(1) } }).subarray(8 + 1 + 4);
  const wide = Buffer.concat([encodeKv({ key: "n", type: V.ARRAY, value: { itemType: V.ARRAY, items: [] } }), ...Array.from({ length: 1_000_000 }, () => one)]);
  wide.writeBigUInt64LE(1_000_000n, 8 + 1 + 4 + 4);
  await rejectsCode(t, file("wide.gguf", header([wide], [])), "E_GGUF_LIMIT", /more than 64 MiB of memory/);
  const badType = encodeKv({ key: "k", type: V.UINT8, value: 1 });
  badType.writeUInt32LE(13, 8 + 1);
  await rejectsCode(t, file("vt.gguf", header([badType], [])), "E_GGUF_VALUE_TYPE");
  const badBool = encodeKv({ key: "k", type: V.BOOL, value: true });
  badBool[badBool.length - 1] = 7;
  await rejectsCode(t, file("bool.gguf", header([badBool], [])), "E_GGUF_BAD_VALUE");
  const kv1 = encodeKv({ key: "k", type: V.UINT8, value: 1 });
  await rejectsCode(t, file("dup.gguf", header([kv1, kv1], [])), "E_GGUF_DUPLICATE_KEY", /'k'/);
  const align = (v: number, type = V.UINT32): Buffer => encodeKv({ key: "general.alignment", type, value: v });
  await rejectsCode(t, file("al3.gguf", header([align(24)], [])), "E_GGUF_ALIGNMENT", /power of two/);
  await rejectsCode(t, file("al0.gguf", header([align(0)], [])), "E_GGUF_ALIGNMENT");
  await rejectsCode(t, file("alt.gguf", header([align(32, V.UINT16)], [])), "E_GGUF_ALIGNMENT", /uint32/);
  const arch = encodeKv({ key: "general.architecture", type: V.UINT8, value: 1 });
  await rejectsCode(t, file("arch.gguf", header([arch], [])), "E_GGUF_KV_TYPE");

  const data = Buffer.alloc(64);
  const withData = (infos: Buffer[]): Buffer => Buffer.concat([pad(header([], infos), 32), data]);
  await rejectsCode(t, file("range.gguf", withData([info("a", [32], 32)])), "E_GGUF_TENSOR_RANGE", /'a'/);
  await rejectsCode(t, file("overlap.gguf", withData([info("a", [8], 0), info("b", [8], 0)])), "E_GGUF_TENSOR_OVERLAP", /'b'/);
  await rejectsCode(t, file("misal.gguf", withData([info("a", [4], 4)])), "E_GGUF_TENSOR_OFFSET", /alignment 32/);
  await rejectsCode(t, file("dupt.gguf", withData([info("a", [4], 0), info("a", [4], 32)])), "E_GGUF_DUPLICATE_TENSOR");
  await rejectsCode(t, file("dims.gguf", withData([info("a", [1, 1, 1, 1, 1], 0)])), "E_GGUF_TENSOR_SHAPE", /5 dimensions/);
  await rejectsCode(t, file("elems.gguf", withData([info("a", [2 ** 30, 2 ** 30], 0)])), "E_GGUF_TENSOR_SHAPE", /2\^53/);
  await rejectsCode(t, file("block.gguf", withData([info("a", [16], 0, T("Q4_0"))])), "E_GGUF_TENSOR_SHAPE", /blocks of 32/);
  const removed = info("a", [4], 0);
  removed.writeUInt32LE(31, removed.length - 12);
  await rejectsCode(t, file("removed.gguf", withData([removed])), "E_GGUF_TENSOR_TYPE", /Q4_0_4_4/);
  const unknown = info("a", [4], 0);
  unknown.writeUInt32LE(99, unknown.length - 12);
  await rejectsCode(t, file("unknown.gguf", withData([unknown])), "E_GGUF_TENSOR_TYPE", /unknown ggml type 99/);
  await rejectsCode(t, file("name.gguf", withData([info("n".repeat(64), [4], 0)])), "E_GGUF_LIMIT");
  let nested = encodeKv({ key: "k", type: V.ARRAY, value: { itemType: V.UINT8, items: new Uint8Array(0) } }).subarray(8 + 1 + 4);
  for (let i = 0; i < 20; i++) {
    const head = Buffer.alloc(12);
    head.writeUInt32LE(V.ARRAY, 0);
    head.writeBigUInt64LE(1n, 4);
    nested = Buffer.concat([head, nested]);
  }
  const deep = Buffer.concat([encodeKv({ key: "k", type: V.UINT8, value: 0 }).subarray(0, 8 + 1), Buffer.from([V.ARRAY, 0, 0, 0]), nested]);
  await rejectsCode(t, file("deep.gguf", header([deep], [])), "E_GGUF_LIMIT", /nested/);
  await t.rejects(openGguf(join(dir, "absent.gguf")), { code: "E_FILE_NOT_FOUND" });
});
