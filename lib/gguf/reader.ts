import { readSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { DebiasError } from "../errors.js";
import { cannotOpen, regularFile } from "../files.js";
import {
  GGML_MAX_DIMS,
  GGML_MAX_NAME,
  GGUF_ALIGNMENT_KEY,
  GGUF_ARCHITECTURE_KEY,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_FIXED_SIZE,
  GGUF_SCALARS,
  GGUF_MAGIC,
  GGUF_MAX_VERSION,
  GGUF_MIN_VERSION,
  GgufValueType,
  alignUp,
  isGgufValueType,
  type GgufArray,
  type GgufArrayItems,
  type GgufKv,
  type GgufValue,
} from "./format.js";
import { ggmlTypeById, removedGgmlTypeName, type GgmlType } from "./ggml-types.js";

// Limits far above any real model and far below what would hurt: every count or length read from
// the file is checked against them and against the bytes actually left before anything is allocated.
const MAX_HEADER_BYTES = 1 << 30;
const MAX_STRING_BYTES = 1 << 26;
const MAX_KEY_BYTES = 65535;
const MAX_ARRAY_ITEMS = 1 << 24;
const MAX_ARRAY_DEPTH = 8;
const MAX_KV_COUNT = 1 << 20;
const MAX_TENSOR_COUNT = 1 << 20;
// What the decoded header may cost in JavaScript memory, estimated as it is read: the bytes of a
// hostile header can decode to many times their size (a nested array of one byte is an object).
// Real tokenizers cost 5–35 MiB by this measure (a 256k vocabulary with 500k merges).
const MAX_DECODED_BYTES = 64 * 2 ** 20;
const STRING_COST = 32;
const OBJECT_COST = 96;
// a typed array is an object, an ArrayBuffer and its backing store
const TYPED_ARRAY_COST = 224;
const FIRST_WINDOW = 1 << 16;
const MAX_WINDOW = 1 << 24;

// Smallest possible encodings, used to reject counts the remaining bytes cannot hold.
const MIN_KV_BYTES = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8;
const MIN_ITEM_BYTES: Readonly<Partial<Record<GgufValueType, number>>> = {
  ...GGUF_FIXED_SIZE,
  [GgufValueType.STRING]: 8,
  [GgufValueType.ARRAY]: 12,
};

export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface GgufTensor {
  readonly name: string;
  readonly nDims: number;
  /** ne[0] is the row length (innermost dimension), as in ggml. Length nDims. */
  readonly ne: readonly number[];
  readonly type: GgmlType;
  /** Offset relative to the data section, as stored in the file. */
  readonly offset: number;
  readonly absoluteOffset: number;
  readonly nElements: number;
  readonly byteSize: number;
  /** Bytes of one row (ne[0] elements); rows are contiguous and whole blocks. */
  readonly rowBytes: number;
  /** Number of rows: the product of ne[1..]. */
  readonly nRows: number;
}

export interface GgufFile {
  readonly path: string;
  readonly version: number;
  readonly fileSize: number;
  readonly alignment: number;
  /** Absolute offset where the data section (and tensor offset 0) starts. */
  readonly dataOffset: number;
  readonly kvs: readonly GgufKv[];
  readonly tensors: readonly GgufTensor[];
  /** Where each KV's encoding lies in the file, in the order of `kvs`; lets a writer copy it verbatim. */
  readonly kvSpans: readonly ByteRange[];
  /** The encoded tensor-info section, copied verbatim by the writer. */
  readonly tensorInfoSpan: ByteRange;
  /** `general.architecture`, if the file names one. */
  readonly arch: string | undefined;
  kv(key: string): GgufKv | undefined;
  /** A string KV; throws if present with another type. */
  kvString(key: string): string | undefined;
  /** An integer KV of any width as a number; throws if present with another type or beyond 2^53. */
  kvInteger(key: string): number | undefined;
  tensor(name: string): GgufTensor | undefined;
}


/**
 * A forward-only view of the header that reads the file in growing windows, so a header of any size
 * is parsed without ever reading the tensor data, and every read is checked against the file end.
 * Reads are synchronous: a header is millions of tiny fields, and a promise per field cost seconds
 * on real tokenizers; the window reads themselves are few and large.
 */
class HeaderCursor {
  pos = 0;
  what = "the header";
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private window = FIRST_WINDOW;
  private decoded = 0;

  constructor(
    private readonly fd: number,
    private readonly path: string,
    readonly fileSize: number,
  ) {}

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  fail(code: string, message: string): never {
    throw new DebiasError(code, `${this.path}: ${message} (while reading ${this.what} at byte ${this.pos}).`);
  }

  private need(n: number): Buffer {
    if (this.pos + n > this.fileSize) {
      this.fail("E_GGUF_TRUNCATED", `the file ends at byte ${this.fileSize} but ${n} more bytes are needed`);
    }
    if (this.pos + n > MAX_HEADER_BYTES) {
      this.fail("E_GGUF_HEADER_TOO_LARGE", `the header runs past ${MAX_HEADER_BYTES} bytes`);
    }
    const at = this.pos - this.bufStart;
    if (at + n > this.buf.length) {
      const size = Math.min(Math.max(n, this.window), this.fileSize - this.pos);
      this.window = Math.min(this.window * 2, MAX_WINDOW);
      const next = Buffer.allocUnsafe(size);
      const bytesRead = readSync(this.fd, next, 0, size, this.pos);
      if (bytesRead < n) this.fail("E_GGUF_TRUNCATED", `the file was shorter than its reported size`);
      this.buf = next.subarray(0, bytesRead);
      this.bufStart = this.pos;
    }
    const start = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  u32(): number {
    return this.need(4).readUInt32LE(0);
  }

  /** Accounts for `bytes` of memory the decoded header will hold; fails past the budget. */
  charge(bytes: number): void {
    this.decoded += bytes;
    if (this.decoded > MAX_DECODED_BYTES) {
      this.fail("E_GGUF_LIMIT", `decoding the header would take more than ${MAX_DECODED_BYTES / 2 ** 20} MiB of memory`);
    }
  }

  /** A u64 that must be at most `max` (≤ 2^53), so it converts to a number without loss. */
  u64(max: number, label: string): number {
    const b = this.need(8);
    // two u32 halves instead of a BigInt: this runs for every string in a tokenizer
    const v = b.readUInt32LE(4) * 2 ** 32 + b.readUInt32LE(0);
    if (v > max) this.fail("E_GGUF_LIMIT", `${label} is ${b.readBigUInt64LE(0)}, more than the limit ${max}`);
    return v;
  }

  /**
   * A count of things of at least `minBytes` each that follow: checked against a hard limit and
   * against what the rest of the file can hold, before anything is allocated for them.
   */
  count(limit: number, minBytes: number, label: string): number {
    const n = this.u64(limit, label);
    const fits = Math.floor(this.remaining / minBytes);
    if (n > fits) this.fail("E_GGUF_TRUNCATED", `${label} is ${n}, more than the ${this.remaining} bytes left in the file can hold`);
    return n;
  }

  string(maxBytes: number, label: string): string {
    const len = this.count(maxBytes, 1, `the length of ${label}`);
    this.charge(STRING_COST + len);
    return this.need(len).toString("utf8");
  }

  value(type: GgufValueType, depth: number): GgufValue {
    switch (type) {
      case GgufValueType.STRING:
        return this.string(MAX_STRING_BYTES, "a string value");
      case GgufValueType.ARRAY:
        return this.array(depth + 1);
      case GgufValueType.BOOL:
        return this.bool(this.need(1), 0);
      default: {
        const { size, read } = GGUF_SCALARS[type]!;
        return read(this.need(size), 0);
      }
    }
  }

  private bool(b: Buffer, at: number): boolean {
    const v = b[at]!;
    if (v > 1) this.fail("E_GGUF_BAD_VALUE", `a bool holds ${v}, not 0 or 1`);
    return v === 1;
  }

  private array(depth: number): GgufArray {
    if (depth > MAX_ARRAY_DEPTH) this.fail("E_GGUF_LIMIT", `arrays are nested more than ${MAX_ARRAY_DEPTH} deep`);
    const itemType = this.u32();
    if (!isGgufValueType(itemType)) this.fail("E_GGUF_VALUE_TYPE", `an array has unknown item type ${itemType}`);
    const n = this.count(MAX_ARRAY_ITEMS, MIN_ITEM_BYTES[itemType]!, "an array length");
    const width = GGUF_FIXED_SIZE[itemType];
    const typed = width !== undefined && itemType !== GgufValueType.BOOL;
    this.charge(OBJECT_COST + (typed ? TYPED_ARRAY_COST + n * width : n * 8));
    if (itemType === GgufValueType.BOOL) {
      const b = this.need(n);
      return { itemType, items: Array.from({ length: n }, (_, i) => this.bool(b, i)) };
    }
    if (width !== undefined) {
      const b = this.need(n * width);
      return { itemType, items: readNumericArray(itemType, b, n) };
    }
    const items: (string | GgufArray)[] = [];
    for (let i = 0; i < n; i++) items.push(this.value(itemType, depth) as string | GgufArray);
    return { itemType, items: items as string[] | GgufArray[] };
  }
}

// Element by element rather than a reinterpreting view: the file is little-endian whatever the host.
function readNumericArray(type: GgufValueType, b: Buffer, n: number): GgufArrayItems {
  const { array, size, read } = GGUF_SCALARS[type]!;
  const out = new array(n) as unknown as (number | bigint)[];
  for (let i = 0; i < n; i++) out[i] = read(b, i * size);
  return out as unknown as GgufArrayItems;
}

function fail(path: string, code: string, message: string): never {
  throw new DebiasError(code, `${path}: ${message}.`);
}

export async function openForReading(path: string): Promise<FileHandle> {
  await regularFile(path, "GGUF file");
  try {
    return await open(path, "r");
  } catch (err) {
    throw cannotOpen("GGUF file", path, err);
  }
}

/** Exactly `length` bytes at `offset`, or an error naming the file. */
export async function readAt(fh: FileHandle, path: string, offset: number, length: number): Promise<Buffer> {
  const b = Buffer.alloc(length);
  let bytesRead: number;
  try {
    ({ bytesRead } = await fh.read(b, 0, length, offset));
  } catch (err) {
    throw new DebiasError("E_IO", `Reading ${path} failed: ${(err as Error).message}.`, { cause: err });
  }
  if (bytesRead !== length) fail(path, "E_GGUF_TRUNCATED", `the file ends before byte ${offset + length}; it shrank since it was opened`);
  return b;
}

/** Opens a GGUF file and parses its header; reads no tensor data. */
export async function openGguf(path: string): Promise<GgufFile> {
  const fh = await openForReading(path);
  try {
    return parse(fh.fd, path, (await fh.stat()).size);
  } finally {
    await fh.close();
  }
}

function parse(fd: number, path: string, fileSize: number): GgufFile {
  const c: HeaderCursor = new HeaderCursor(fd, path, fileSize);
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) c.fail("E_NOT_GGUF", `not a GGUF file (magic 0x${magic.toString(16).padStart(8, "0")})`);
  const version = c.u32();
  if (version >= 1 << 16 && (version & 0xffff) === 0) {
    c.fail("E_GGUF_BIG_ENDIAN", `big-endian GGUF (version ${version >>> 24}) is not supported`);
  }
  if (version < GGUF_MIN_VERSION || version > GGUF_MAX_VERSION) {
    c.fail("E_GGUF_VERSION", `GGUF version ${version} is not supported (only ${GGUF_MIN_VERSION} and ${GGUF_MAX_VERSION})`);
  }
  c.what = "the tensor count";
  const nTensors = c.count(MAX_TENSOR_COUNT, MIN_TENSOR_INFO_BYTES, "the tensor count");
  c.what = "the KV count";
  const nKv = c.count(MAX_KV_COUNT, MIN_KV_BYTES, "the KV count");

  const kvs: GgufKv[] = [];
  const kvSpans: ByteRange[] = [];
  const byKey = new Map<string, GgufKv>();
  for (let i = 0; i < nKv; i++) {
    const start = c.pos;
    c.what = `KV #${i}`;
    c.charge(OBJECT_COST);
    const key = c.string(MAX_KEY_BYTES, `key #${i}`);
    c.what = `KV '${key}'`;
    if (byKey.has(key)) c.fail("E_GGUF_DUPLICATE_KEY", `the key '${key}' appears twice`);
    const type = c.u32();
    if (!isGgufValueType(type)) c.fail("E_GGUF_VALUE_TYPE", `unknown value type ${type}`);
    const kv: GgufKv = { key, type, value: c.value(type, 0) };
    kvs.push(kv);
    kvSpans.push({ start, end: c.pos });
    byKey.set(key, kv);
  }

  const alignKv = byKey.get(GGUF_ALIGNMENT_KEY);
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignKv) {
    c.what = `KV '${GGUF_ALIGNMENT_KEY}'`;
    if (alignKv.type !== GgufValueType.UINT32) c.fail("E_GGUF_ALIGNMENT", `${GGUF_ALIGNMENT_KEY} must be a uint32, not type ${GgufValueType[alignKv.type]}`);
    alignment = alignKv.value as number;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
      c.fail("E_GGUF_ALIGNMENT", `${GGUF_ALIGNMENT_KEY} is ${alignment}, not a power of two`);
    }
  }
  const archKv = byKey.get(GGUF_ARCHITECTURE_KEY);
  if (archKv && archKv.type !== GgufValueType.STRING) {
    c.fail("E_GGUF_KV_TYPE", `${GGUF_ARCHITECTURE_KEY} must be a string, not type ${GgufValueType[archKv.type]}`);
  }

  interface RawInfo { name: string; ne: number[]; type: GgmlType; offset: number; nElements: number }
  const infos: RawInfo[] = [];
  const names = new Set<string>();
  const tensorInfoStart = c.pos;
  for (let i = 0; i < nTensors; i++) {
    c.what = `tensor info #${i}`;
    c.charge(OBJECT_COST * 2);
    const name = c.string(GGML_MAX_NAME - 1, `tensor name #${i}`);
    c.what = `tensor info '${name}'`;
    if (names.has(name)) c.fail("E_GGUF_DUPLICATE_TENSOR", `the tensor name '${name}' appears twice`);
    names.add(name);
    const nDims = c.u32();
    if (nDims > GGML_MAX_DIMS) c.fail("E_GGUF_TENSOR_SHAPE", `tensor '${name}' has ${nDims} dimensions, more than ${GGML_MAX_DIMS}`);
    const ne: number[] = [];
    let nElements = 1;
    for (let d = 0; d < nDims; d++) {
      const v = c.u64(Number.MAX_SAFE_INTEGER, `dimension ${d} of tensor '${name}'`);
      ne.push(v);
      nElements *= v;
      if (nElements > Number.MAX_SAFE_INTEGER) c.fail("E_GGUF_TENSOR_SHAPE", `tensor '${name}' has more than 2^53 elements`);
    }
    const typeId = c.u32();
    const type = ggmlTypeById(typeId);
    if (!type) {
      const removed = removedGgmlTypeName(typeId);
      c.fail("E_GGUF_TENSOR_TYPE", removed
        ? `tensor '${name}' has ggml type ${typeId} (${removed}), which was removed from GGUF`
        : `tensor '${name}' has unknown ggml type ${typeId}`);
    }
    const ne0 = ne[0] ?? 1;
    if (ne0 % type.blockSize !== 0) {
      c.fail("E_GGUF_TENSOR_SHAPE", `tensor '${name}' rows of ${ne0} elements are not whole ${type.name} blocks of ${type.blockSize}`);
    }
    const offset = c.u64(Number.MAX_SAFE_INTEGER, `the offset of tensor '${name}'`);
    if (offset % alignment !== 0) {
      c.fail("E_GGUF_TENSOR_OFFSET", `tensor '${name}' offset ${offset} is not a multiple of the alignment ${alignment}`);
    }
    infos.push({ name, ne, type, offset, nElements });
  }
  const tensorInfoSpan = { start: tensorInfoStart, end: c.pos };
  // as in gguf.cpp: a file without tensors need not pad its (empty) data section
  const dataOffset = nTensors > 0 ? alignUp(c.pos, alignment) : c.pos;
  c.what = "the data section";
  if (dataOffset > fileSize) c.fail("E_GGUF_TRUNCATED", `the data section would start at byte ${dataOffset}, past the end of the file`);

  const tensors = infos.map(({ name, ne, type, offset, nElements }): GgufTensor => {
    const rowBytes = ((ne[0] ?? 1) / type.blockSize) * type.typeSize;
    const byteSize = (nElements / type.blockSize) * type.typeSize;
    const absoluteOffset = dataOffset + offset;
    if (absoluteOffset + byteSize > fileSize) {
      fail(path, "E_GGUF_TENSOR_RANGE",
        `tensor '${name}' (${byteSize} bytes at data offset ${offset}) runs past the end of the file (${fileSize} bytes)`);
    }
    const nRows = rowBytes === 0 ? 0 : byteSize / rowBytes;
    return { name, nDims: ne.length, ne, type, offset, absoluteOffset, nElements, byteSize, rowBytes, nRows };
  });
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.offset < prev.offset + prev.byteSize) {
      fail(path, "E_GGUF_TENSOR_OVERLAP", `tensor '${cur.name}' at data offset ${cur.offset} overlaps tensor '${prev.name}'`);
    }
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));

  return {
    path,
    version,
    fileSize,
    alignment,
    dataOffset,
    kvs,
    tensors,
    kvSpans,
    tensorInfoSpan,
    arch: archKv?.value as string | undefined,
    kv: (key) => byKey.get(key),
    kvString(key) {
      const kv = byKey.get(key);
      if (!kv) return undefined;
      if (kv.type !== GgufValueType.STRING) fail(path, "E_GGUF_KV_TYPE", `KV '${key}' is ${GgufValueType[kv.type]}, not STRING`);
      return kv.value as string;
    },
    kvInteger(key) {
      const kv = byKey.get(key);
      if (!kv) return undefined;
      if (!GGUF_SCALARS[kv.type]?.integer) fail(path, "E_GGUF_KV_TYPE", `KV '${key}' is ${GgufValueType[kv.type]}, not an integer`);
      const v = kv.value as number | bigint;
      if (typeof v === "bigint" && (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER))) {
        fail(path, "E_GGUF_KV_TYPE", `KV '${key}' is ${v}, beyond 2^53`);
      }
      return Number(v);
    },
    tensor: (name) => byName.get(name),
  };
}
