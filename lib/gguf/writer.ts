import { DebiasError } from "../errors.js";
import {
  GGUF_ALIGNMENT_KEY,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_FIXED_SIZE,
  GGUF_SCALARS,
  GGUF_MAGIC,
  GGUF_WRITE_VERSION,
  GgufValueType,
  alignUp,
  isGgufValueType,
  type GgufArray,
  type GgufKv,
} from "./format.js";
import type { GgmlType } from "./ggml-types.js";
import type { GgufFile } from "./reader.js";

function encodeFail(key: string, message: string): never {
  throw new DebiasError("E_GGUF_ENCODE", `Cannot encode GGUF KV '${key}': ${message}.`);
}

function encodeString(s: string): Buffer {
  const bytes = Buffer.from(s, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bytes.length));
  return Buffer.concat([len, bytes]);
}

function writeScalar(key: string, type: GgufValueType, v: unknown, b: Buffer, at: number): void {
  if (type === GgufValueType.BOOL) {
    if (typeof v !== "boolean") encodeFail(key, `${String(v)} is not a boolean`);
    b.writeUInt8(v ? 1 : 0, at);
    return;
  }
  const s = GGUF_SCALARS[type];
  if (!s) return encodeFail(key, `type ${type} is not a scalar`);
  const wide = s.size === 8 && s.integer;
  if (wide ? typeof v !== "bigint" : typeof v !== "number") encodeFail(key, `${String(v)} is not a ${wide ? "bigint" : "number"}`);
  if (s.range && (!Number.isInteger(v) || (v as number) < s.range[0] || (v as number) > s.range[1])) encodeFail(key, `${String(v)} is not a ${GgufValueType[type]}`);
  try {
    s.write(b, v as number | bigint, at);
  } catch {
    encodeFail(key, `${String(v)} is out of range for ${GgufValueType[type]}`);
  }
}

function encodeValue(key: string, type: GgufValueType, v: unknown, out: Buffer[]): void {
  if (type === GgufValueType.STRING) {
    if (typeof v !== "string") encodeFail(key, `${String(v)} is not a string`);
    out.push(encodeString(v));
  } else if (type === GgufValueType.ARRAY) {
    const arr = v as GgufArray;
    if (typeof arr !== "object" || arr === null || !("items" in arr) || !("itemType" in arr)) encodeFail(key, "the value is not an array");
    if (!isGgufValueType(arr.itemType)) encodeFail(key, `unknown array item type ${arr.itemType}`);
    const head = Buffer.alloc(12);
    head.writeUInt32LE(arr.itemType, 0);
    head.writeBigUInt64LE(BigInt(arr.items.length), 4);
    out.push(head);
    const width = GGUF_FIXED_SIZE[arr.itemType];
    if (width === undefined) {
      for (const item of arr.items as Iterable<unknown>) encodeValue(key, arr.itemType, item, out);
    } else {
      const b = Buffer.alloc(width * arr.items.length);
      (arr.items as unknown as unknown[]).forEach((item, i) => writeScalar(key, arr.itemType, item, b, i * width));
      out.push(b);
    }
  } else if (GGUF_FIXED_SIZE[type] !== undefined) {
    const b = Buffer.alloc(GGUF_FIXED_SIZE[type]);
    writeScalar(key, type, v, b, 0);
    out.push(b);
  } else {
    encodeFail(key, `unknown value type ${type}`);
  }
}

export function encodeKv(kv: GgufKv): Buffer {
  const out = [encodeString(kv.key)];
  const type = Buffer.alloc(4);
  type.writeUInt32LE(kv.type);
  out.push(type);
  encodeValue(kv.key, kv.type, kv.value, out);
  return Buffer.concat(out);
}

export interface TensorInfoSpec {
  readonly name: string;
  readonly ne: readonly number[];
  readonly type: GgmlType;
  /** Relative to the data section. */
  readonly offset: number;
}

export function encodeTensorInfo(t: TensorInfoSpec): Buffer {
  const head = encodeString(t.name);
  const body = Buffer.alloc(4 + 8 * t.ne.length + 4 + 8);
  let at = body.writeUInt32LE(t.ne.length, 0);
  for (const n of t.ne) at = body.writeBigUInt64LE(BigInt(n), at);
  at = body.writeUInt32LE(t.type.id, at);
  body.writeBigUInt64LE(BigInt(t.offset), at);
  return Buffer.concat([head, body]);
}

/** Magic, version and counts, then the given KV and tensor-info encodings, zero-padded to `alignment`. */
function assembleHeader(nTensors: number, kvBlobs: readonly Buffer[], tensorInfos: Buffer, alignment: number): Buffer {
  const fixed = Buffer.alloc(24);
  fixed.writeUInt32LE(GGUF_MAGIC, 0);
  fixed.writeUInt32LE(GGUF_WRITE_VERSION, 4);
  fixed.writeBigUInt64LE(BigInt(nTensors), 8);
  fixed.writeBigUInt64LE(BigInt(kvBlobs.length), 16);
  const body = Buffer.concat([fixed, ...kvBlobs, tensorInfos]);
  return Buffer.concat([body, Buffer.alloc(alignUp(body.length, alignment) - body.length)]);
}

export interface TensorData {
  readonly name: string;
  readonly ne: readonly number[];
  readonly type: GgmlType;
  readonly data: Buffer;
}

/** A tensor to lay out: its data comes later, in the order given. */
export type TensorLayout = Pick<TensorData, "name" | "ne" | "type">;

/**
 * The header of a GGUF file holding `tensors` in order, and where each tensor's data starts relative to
 * the data section (right after the header): what a writer needs to stream the data tensor by tensor.
 */
export function layoutGguf(kvs: readonly GgufKv[], tensors: readonly TensorLayout[]): { header: Buffer; offsets: number[]; bytes: number[]; alignment: number } {
  const alignKv = kvs.find((kv) => kv.key === GGUF_ALIGNMENT_KEY);
  const alignment = alignKv ? (alignKv.value as number) : GGUF_DEFAULT_ALIGNMENT;
  const infos: Buffer[] = [];
  const offsets: number[] = [];
  const bytes: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    const nElements = t.ne.reduce((a, b) => a * b, 1);
    if ((t.ne[0] ?? 1) % t.type.blockSize !== 0) throw new DebiasError("E_GGUF_ENCODE", `Cannot encode tensor '${t.name}': its rows of ${t.ne[0]} do not divide into ${t.type.name} blocks of ${t.type.blockSize}.`);
    infos.push(encodeTensorInfo({ name: t.name, ne: t.ne, type: t.type, offset }));
    offsets.push(offset);
    bytes.push((nElements / t.type.blockSize) * t.type.typeSize);
    offset += alignUp(bytes.at(-1)!, alignment);
  }
  return { header: assembleHeader(tensors.length, kvs.map(encodeKv), Buffer.concat(infos), alignment), offsets, bytes, alignment };
}

/** A complete GGUF file in memory: for fixtures and tests, where the tensors are small. */
export function buildGguf(kvs: readonly GgufKv[], tensors: readonly TensorData[]): Buffer {
  const { header, bytes, alignment } = layoutGguf(kvs, tensors);
  const data: Buffer[] = [];
  tensors.forEach((t, i) => {
    if (t.data.length !== bytes[i]) throw new DebiasError("E_GGUF_ENCODE", `Cannot encode tensor '${t.name}': shape [${t.ne.join(", ")}] of ${t.type.name} does not match its ${t.data.length} bytes.`);
    data.push(t.data, Buffer.alloc(alignUp(t.data.length, alignment) - t.data.length));
  });
  return Buffer.concat([header, ...data]);
}

/**
 * A new header for `file` with `kvs` set (replacing any KV of the same key) and the keys in `drop`
 * removed, everything else copied
 * byte for byte from `original` (the file's bytes up to the end of its tensor infos). The tensor
 * infos keep their offsets: they are relative to the data section, which starts at the returned
 * buffer's length.
 */
export function reheader(file: GgufFile, original: Buffer, kvs: readonly GgufKv[], drop: readonly string[] = []): Buffer {
  const replaced = new Set([...kvs.map((kv) => kv.key), ...drop]);
  if (replaced.has(GGUF_ALIGNMENT_KEY)) encodeFail(GGUF_ALIGNMENT_KEY, "re-aligning tensor data is not supported");
  const kept = file.kvs.flatMap((kv, i) => {
    const span = file.kvSpans[i]!;
    return replaced.has(kv.key) ? [] : [original.subarray(span.start, span.end)];
  });
  const tensorInfos = original.subarray(file.tensorInfoSpan.start, file.tensorInfoSpan.end);
  return assembleHeader(file.tensors.length, [...kept, ...kvs.map(encodeKv)], tensorInfos, file.alignment);
}
