// Fuzzes the GGUF header reader with seeded mutations of small valid files (flipped bytes,
// truncation, absurd counts and lengths, bad alignment, misplaced tensor offsets, inserted and
// deleted bytes) and sorts every outcome into a class. The only acceptable classes are "parsed"
// (and then the result must be self-consistent) and "rejected:<code>" (a DebiasError); anything
// else — another exception type, an inconsistent parse, a changed file — is a bug.
//
//   node dist/bench/fuzz-gguf.js [--iterations N] [--seed S]
//   node dist/bench/fuzz-gguf.js --loader [--iterations N] [--seed S]   (fuzz-loader.ts: llama.cpp's loader)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { isDebiasError } from "../lib/errors.js";
import { GgufValueType as V, type GgufKv } from "../lib/gguf/format.js";
import { ggmlTypeByName } from "../lib/gguf/ggml-types.js";
import { openGguf, type GgufFile } from "../lib/gguf/reader.js";
import { buildGguf, type TensorData } from "../lib/gguf/writer.js";
import { seededRandom } from "../lib/random.js";
import { fuzzLoader, tensorInfoFields } from "./fuzz-loader.js";

function baseFiles(): Buffer[] {
  const tensor = (name: string, type: string, ne: number[], fill: number): TensorData => {
    const t = ggmlTypeByName(type)!;
    const n = (ne.reduce((a, b) => a * b, 1) / t.blockSize) * t.typeSize;
    return { name, type: t, ne, data: Buffer.alloc(n, fill) };
  };
  const kvs: GgufKv[] = [
    { key: "general.architecture", type: V.STRING, value: "llama" },
    { key: "llama.block_count", type: V.UINT32, value: 1 },
    { key: "general.alignment", type: V.UINT32, value: 64 },
    { key: "f", type: V.FLOAT32, value: 1.5 },
    { key: "b", type: V.BOOL, value: true },
    { key: "big", type: V.INT64, value: -5n },
    { key: "tokens", type: V.ARRAY, value: { itemType: V.STRING, items: ["<s>", "a", "bc"] } },
    { key: "scores", type: V.ARRAY, value: { itemType: V.FLOAT32, items: Float32Array.from([0, -1, 2]) } },
    { key: "nested", type: V.ARRAY, value: { itemType: V.ARRAY, items: [{ itemType: V.UINT8, items: Uint8Array.from([1]) }] } },
  ];
  const tensors = [
    tensor("token_embd.weight", "F32", [32, 4], 1),
    tensor("blk.0.ffn_up.weight", "Q4_0", [64, 8], 2),
    tensor("blk.0.ffn_gate.weight", "Q4_K", [256, 2], 3),
    tensor("blk.0.ffn_down.weight", "F16", [8, 64], 4),
  ];
  return [buildGguf(kvs, tensors), buildGguf(kvs.slice(0, 2), tensors.slice(0, 1)), buildGguf([], [])];
}

const ABSURD = [0n, 1n, 31n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];

function mutate(base: Buffer, g: GgufFile, rand: () => number): Buffer {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const headerEnd = Math.min(base.length, g.dataOffset);
  const pos = (): number => Math.floor(rand() * headerEnd);
  const b = Buffer.from(base);
  const kind = Math.floor(rand() * 9);
  switch (kind) {
    case 0:
      for (let i = 1 + Math.floor(rand() * 8); i > 0; i--) b[pos()] = Math.floor(rand() * 256);
      return b;
    case 1:
      b[pos()]! ^= 1 << Math.floor(rand() * 8);
      return b;
    case 2:
      return b.subarray(0, Math.floor(rand() * b.length));
    case 3: {
      const at = Math.min(pos(), b.length - 8);
      if (at >= 0) b.writeBigUInt64LE(pick([...ABSURD, BigInt(b.length + Math.floor(rand() * 100))]), at);
      return b;
    }
    case 4:
      b.writeBigUInt64LE(pick(ABSURD), pick([8, 16]));
      return b;
    case 5: {
      const alignAt = b.indexOf("general.alignment");
      if (alignAt >= 0) b.writeUInt32LE(pick([0, 3, 24, 48, 2 ** 31, 2 ** 32 - 1, 1, 8, 4096]), alignAt + 17 + 4);
      return b;
    }
    case 6: {
      const fields = tensorInfoFields(g).map((f) => f.offset);
      if (fields.length === 0) return b;
      const value = pick([1n, 32n, 64n, BigInt(b.length), 2n ** 63n, BigInt(g.tensors[0]!.offset), BigInt(g.tensors.at(-1)!.offset + 64)]);
      b.writeBigUInt64LE(value, pick(fields));
      return b;
    }
    case 7: {
      const at = pos();
      return Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 16) }, () => Math.floor(rand() * 256))), b.subarray(at)]);
    }
    default: {
      const at = pos();
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(rand() * 16)))]);
    }
  }
}

/** Everything the reader promises about a file it accepted. */
function inconsistency(g: GgufFile, size: number): string | null {
  if (g.alignment <= 0 || (g.alignment & (g.alignment - 1)) !== 0) return "alignment not a power of two";
  if (g.dataOffset > size || (g.tensors.length > 0 && g.dataOffset % g.alignment !== 0)) return "bad data offset";
  if (g.kvs.length !== g.kvSpans.length || g.kvSpans.some((s) => s.end > g.tensorInfoSpan.start)) return "bad KV spans";
  if (new Set(g.kvs.map((kv) => kv.key)).size !== g.kvs.length) return "duplicate keys";
  if (new Set(g.tensors.map((t) => t.name)).size !== g.tensors.length) return "duplicate tensors";
  const sorted = [...g.tensors].sort((a, b) => a.offset - b.offset);
  for (const [i, t] of sorted.entries()) {
    if (t.nDims > 4 || t.ne.length !== t.nDims) return `${t.name}: dims`;
    if ((t.ne[0] ?? 1) % t.type.blockSize !== 0) return `${t.name}: partial block`;
    if (t.byteSize !== (t.nElements / t.type.blockSize) * t.type.typeSize) return `${t.name}: size`;
    if (t.offset % g.alignment !== 0 || t.absoluteOffset !== g.dataOffset + t.offset) return `${t.name}: offset`;
    if (t.absoluteOffset + t.byteSize > size) return `${t.name}: past the end`;
    const prev = sorted[i - 1];
    if (prev && t.offset < prev.offset + prev.byteSize) return `${t.name}: overlap`;
  }
  return null;
}

export interface FuzzReport {
  readonly iterations: number;
  readonly outcomes: Record<string, number>;
  /** Outcome classes that are bugs, with the first seed/iteration that produced each. */
  readonly failures: Record<string, string>;
  readonly maxParseMs: number;
  readonly maxRssGrowthBytes: number;
}

export async function fuzzGguf(iterations: number, seed: number): Promise<FuzzReport> {
  const dir = mkdtempSync(join(tmpdir(), "gguf-fuzz-"));
  const path = join(dir, "fuzz.gguf");
  const outcomes: Record<string, number> = {};
  const failures: Record<string, string> = {};
  let maxParseMs = 0;
  const rss0 = process.memoryUsage().rss;
  let maxRss = rss0;
  try {
    const bases: { bytes: Buffer; g: GgufFile }[] = [];
    for (const bytes of baseFiles()) {
      writeFileSync(path, bytes);
      bases.push({ bytes, g: await openGguf(path) });
    }
    const rand = seededRandom(seed);
    for (let i = 0; i < iterations; i++) {
      const base = bases[Math.floor(rand() * bases.length)]!;
      const bytes = mutate(base.bytes, base.g, rand);
      writeFileSync(path, bytes);
      const t0 = performance.now();
      let outcome: string;
      try {
        const g = await openGguf(path);
        const bad = inconsistency(g, bytes.length);
        outcome = bad ? `FAIL inconsistent: ${bad}` : "parsed";
      } catch (err) {
        outcome = isDebiasError(err) ? `rejected:${err.code}` : `FAIL ${(err as Error)?.name}: ${(err as Error)?.message}`;
      }
      maxParseMs = Math.max(maxParseMs, performance.now() - t0);
      if (!readFileSync(path).equals(bytes)) outcome = "FAIL file changed";
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (outcome.startsWith("FAIL") && !(outcome in failures)) failures[outcome] = `seed ${seed}, iteration ${i}`;
      if (i % 256 === 0) maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { iterations, outcomes, failures, maxParseMs, maxRssGrowthBytes: maxRss - rss0 };
}

async function main(): Promise<void> {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const seed = arg("seed", 1);
  const t0 = performance.now();
  if (process.argv.includes("--loader")) {
    const r = await fuzzLoader(arg("iterations", 2000), seed);
    const s = (performance.now() - t0) / 1000;
    console.log(`model loader fuzz: ${r.iterations} mutated models, seed ${seed}, ${s.toFixed(1)} s`);
    for (const [k, n] of Object.entries(r.outcomes).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(8)}  ${k}`);
    for (const a of r.aborts) console.log(`  ABORT ${a}`);
    process.exitCode = r.aborts.length > 0 ? 1 : 0;
    return;
  }
  const iterations = arg("iterations", 100_000);
  const r = await fuzzGguf(iterations, seed);
  const s = (performance.now() - t0) / 1000;
  console.log(`gguf header fuzz: ${r.iterations} mutations, seed ${seed}, ${s.toFixed(1)} s (${Math.round(r.iterations / s)}/s)`);
  for (const [k, n] of Object.entries(r.outcomes).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(8)}  ${k}`);
  console.log(`  slowest parse ${r.maxParseMs.toFixed(1)} ms, rss growth ${(r.maxRssGrowthBytes / 2 ** 20).toFixed(1)} MiB`);
  for (const [k, where] of Object.entries(r.failures)) console.log(`  FIRST ${k} at ${where}`);
  process.exitCode = Object.keys(r.failures).length > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
