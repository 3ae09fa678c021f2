// Small synthetic GGUF models for the gguf tests, built with the library's own writer.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { GgufValueType, type GgufKv } from "../../lib/gguf/format.js";
import { numberToBf16, numberToF16, f16ToNumber } from "../../lib/gguf/float.js";
import { ggmlTypeByName, type GgmlType } from "../../lib/gguf/ggml-types.js";
import type { Requantizer } from "../../lib/edit/neuron-edit.js";
import { buildGguf, type TensorData } from "../../lib/gguf/writer.js";
import { seededRandom } from "../../lib/random.js";

export const T = (name: string): GgmlType => ggmlTypeByName(name)!;

/** Random but well-formed tensor bytes: finite floats, and quant blocks whose scales are sane. */
export function randomData(type: GgmlType, nElements: number, rand: () => number): Buffer {
  const n = (nElements / type.blockSize) * type.typeSize;
  const b = Buffer.alloc(n);
  if (type.element) {
    for (let i = 0; i < nElements; i++) {
      const v = rand() * 2 - 1;
      if (type.element === "f32") b.writeFloatLE(v, i * 4);
      else if (type.element === "f64") b.writeDoubleLE(v, i * 8);
      else if (type.element === "f16") b.writeUInt16LE(numberToF16(v), i * 2);
      else b.writeUInt16LE(numberToBf16(v), i * 2);
    }
    return b;
  }
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  for (let blk = 0; blk < n; blk += type.typeSize) {
    for (const f of type.scales ?? []) {
      const at = blk + f.offset;
      const d = 0.001 + rand() * 0.1;
      if (f.encoding === "f16") b.writeUInt16LE(numberToF16(d), at);
      else if (f.encoding === "f32") b.writeFloatLE(d, at);
      else if (f.encoding === "e8m0") b[at] = 100 + Math.floor(rand() * 40);
      else {
        const bits = numberToF16(d);
        for (let k = 0; k < 4; k++) b.writeUInt16LE((b.readUInt16LE(at + 2 * k) & 0x0fff) | (((bits >> (4 * k)) & 0xf) << 12), at + 2 * k);
      }
    }
  }
  return b;
}

export interface ModelSpec {
  arch?: string;
  nLayer?: number;
  nEmbd?: number;
  nFf?: number;
  /** Type of ffn_up / ffn_gate. */
  upType?: string;
  downType?: string;
  gated?: boolean;
  /** phi3-style ffn_up holding gate and up rows. */
  fused?: boolean;
  upBias?: boolean;
  moe?: boolean;
  alignment?: number;
  seed?: number;
}

export function modelParts(spec: ModelSpec = {}): { kvs: GgufKv[]; tensors: TensorData[] } {
  const { arch = "llama", nLayer = 2, nEmbd = 256, nFf = 512, gated = true, fused = false, upBias = false, moe = false } = spec;
  const up = T(spec.upType ?? "F32");
  const down = T(spec.downType ?? spec.upType ?? "F32");
  const f32 = T("F32");
  const rand = seededRandom(spec.seed ?? 1);
  const tensors: TensorData[] = [];
  const add = (name: string, type: GgmlType, ne: number[]): void => {
    tensors.push({ name, type, ne, data: randomData(type, ne.reduce((a, b) => a * b, 1), rand) });
  };
  add("token_embd.weight", f32, [nEmbd, 8]);
  for (let l = 0; l < nLayer; l++) {
    add(`blk.${l}.attn_norm.weight`, f32, [nEmbd]);
    if (moe) {
      for (const p of ["gate", "up"]) add(`blk.${l}.ffn_${p}_exps.weight`, up, [nEmbd, nFf, 2]);
      add(`blk.${l}.ffn_down_exps.weight`, down, [nFf, nEmbd, 2]);
      continue;
    }
    if (gated && !fused) add(`blk.${l}.ffn_gate.weight`, up, [nEmbd, nFf]);
    add(`blk.${l}.ffn_up.weight`, up, [nEmbd, fused ? 2 * nFf : nFf]);
    if (upBias) add(`blk.${l}.ffn_up.bias`, f32, [fused ? 2 * nFf : nFf]);
    add(`blk.${l}.ffn_down.weight`, down, [nFf, nEmbd]);
  }
  add("output_norm.weight", f32, [nEmbd]);
  const kvs: GgufKv[] = [
    { key: "general.architecture", type: GgufValueType.STRING, value: arch },
    { key: `${arch}.block_count`, type: GgufValueType.UINT32, value: nLayer },
  ];
  if (spec.alignment) kvs.push({ key: "general.alignment", type: GgufValueType.UINT32, value: spec.alignment });
  return { kvs, tensors };
}

export function writeModel(dir: string, name: string, spec: ModelSpec = {}): string {
  const { kvs, tensors } = modelParts(spec);
  const path = join(dir, name);
  writeFileSync(path, buildGguf(kvs, tensors));
  return path;
}

export const sha256 = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Offsets at which two equal-length files differ, as [start, end) runs. */
export function diffRanges(a: Buffer, b: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    const last = out[out.length - 1];
    if (last && last[1] === i) last[1] = i + 1;
    else out.push([i, i + 1]);
  }
  return out;
}

/** A Q8_0 (de)quantiser standing in for the native addon, enough to test the requantisation path. */
export const q8Requantizer: Requantizer = {
  async dequantize(type, bytes, nElements) {
    if (type !== 8) throw new Error(`test requantizer only handles Q8_0, not ${type}`);
    const out = new Float32Array(nElements);
    for (let i = 0; i < nElements; i++) {
      const blk = Math.floor(i / 32) * 34;
      out[i] = f16ToNumber(bytes.readUInt16LE(blk)) * bytes.readInt8(blk + 2 + (i % 32));
    }
    return out;
  },
  async quantize(type, values, nPerRow) {
    if (type !== 8 || nPerRow % 32 !== 0) throw new Error("test requantizer only handles Q8_0 rows");
    const out = Buffer.alloc((values.length / 32) * 34);
    for (let blk = 0; blk < values.length / 32; blk++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[blk * 32 + j]!));
      const d = amax / 127;
      out.writeUInt16LE(numberToF16(d), blk * 34);
      for (let j = 0; j < 32; j++) out.writeInt8(d === 0 ? 0 : Math.round(values[blk * 32 + j]! / d), blk * 34 + 2 + j);
    }
    return out;
  },
};

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * crash-child.ts as plain JavaScript under `outDir`, for tests that run editors in child processes:
 * starting the TypeScript loader in every child would cost seconds per child.
 */
export function editorChild(outDir: string): string {
  const sources = ["lib/errors.ts", "lib/files.ts", "lib/native.ts", "lib/package-root.ts", ...["lib/edit", "lib/gguf"].flatMap((d) => readdirSync(join(ROOT, d)).map((f) => `${d}/${f}`)), "test/edit/crash-child.ts"];
  for (const rel of sources.filter((f) => f.endsWith(".ts"))) {
    const { outputText } = ts.transpileModule(readFileSync(join(ROOT, rel), "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const out = join(outDir, rel.replace(/\.ts$/, ".js"));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
  writeFileSync(join(outDir, "package.json"), JSON.stringify({ type: "module" }));
  return join(outDir, "test/edit/crash-child.js");
}
