import { open, type FileHandle } from "node:fs/promises";
import { DebiasError } from "../errors.js";
import {
  GGML_MAX_DIMS,
  GGML_MAX_NAME,
  GGUF_ALIGNMENT_KEY,
  GGUF_ARCHITECTURE_KEY,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_FIXED_SIZE,
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
  readonly mtimeMs: number;
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

const INTEGER_TYPES = new Set([
  GgufValueType.UINT8,
  GgufValueType.INT8,
  GgufValueType.UINT16,
  GgufValueType.INT16,
  GgufValueType.UINT32,
  GgufValueType.INT32,
  GgufValueType.UINT64,
  GgufValueType.INT64,
]);

const decoder = new TextDecoder("utf-8");

/**
 * A forward-only view of the header that reads the file in growing windows, so a header of any size
 * is parsed without ever reading the tensor data, and every read is checked against the file end.
 */
class HeaderCursor {
  pos = 0;
  what = "the header";
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private window = FIRST_WINDOW;

  constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
    readonly fileSize: number,
  ) {}

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  fail(code: string, message: string): never {
    throw new DebiasError(code, `${this.path}: ${message} (while reading ${this.what} at byte ${this.pos}).`);
  }

  private async need(n: number): Promise<Buffer> {
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
      const { bytesRead } = await this.fh.read(next, 0, size, this.pos);
      if (bytesRead < n) this.fail("E_GGUF_TRUNCATED", `the file was shorter than its reported size`);
      this.buf = next.subarray(0, bytesRead);
      this.bufStart = this.pos;
    }
    const start = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  async u32(): Promise<number> {
    return (await this.need(4)).readUInt32LE(0);
  }

  /** A u64 that must be at most `max` (≤ 2^53), so it converts to a number without loss. */
  async u64(max: number, label: string): Promise<number> {
    const v = (await this.need(8)).readBigUInt64LE(0);
    if (v > BigInt(max)) this.fail("E_GGUF_LIMIT", `${label} is ${v}, more than the limit ${max}`);
    return Number(v);
  }

  async string(maxBytes: number, label: string): Promise<string> {
    const len = await this.u64(Math.min(maxBytes, this.remaining - 8), `the length of ${label}`);
    return decoder.decode(await this.need(len));
  }

  async value(type: GgufValueType, depth: number): Promise<GgufValue> {
    switch (type) {
      case GgufValueType.STRING:
        return this.string(MAX_STRING_BYTES, "a string value");
      case GgufValueType.ARRAY:
        return this.array(depth + 1);
      case GgufValueType.BOOL:
        return this.bool(await this.need(1), 0);
      default: {
        const b = await this.need(GGUF_FIXED_SIZE[type]!);
        return readScalar(type, b, 0);
      }
    }
  }

  private bool(b: Buffer, at: number): boolean {
    const v = b[at]!;
    if (v > 1) this.fail("E_GGUF_BAD_VALUE", `a bool holds ${v}, not 0 or 1`);
    return v === 1;
  }

  private async array(depth: number): Promise<GgufArray> {
    if (depth > MAX_ARRAY_DEPTH) this.fail("E_GGUF_LIMIT", `arrays are nested more than ${MAX_ARRAY_DEPTH} deep`);
    const itemType = await this.u32();
    if (!isGgufValueType(itemType)) this.fail("E_GGUF_VALUE_TYPE", `an array has unknown item type ${itemType}`);
    const maxByBytes = Math.floor((this.remaining - 8) / MIN_ITEM_BYTES[itemType]!);
    const n = await this.u64(Math.max(0, Math.min(MAX_ARRAY_ITEMS, maxByBytes)), "an array length");
    const width = GGUF_FIXED_SIZE[itemType];
    if (itemType === GgufValueType.BOOL) {
      const b = await this.need(n);
      return { itemType, items: Array.from({ length: n }, (_, i) => this.bool(b, i)) };
    }
    if (width !== undefined) {
      const b = await this.need(n * width);
      return { itemType, items: readNumericArray(itemType, b, n) };
    }
    const items: (string | GgufArray)[] = [];
    for (let i = 0; i < n; i++) items.push((await this.value(itemType, depth)) as string | GgufArray);
    return { itemType, items: items as string[] | GgufArray[] };
  }
}

function readScalar(type: GgufValueType, b: Buffer, at: number): number | bigint {
  switch (type) {
    case GgufValueType.UINT8:
      return b.readUInt8(at);
    case GgufValueType.INT8:
      return b.readInt8(at);
    case GgufValueType.UINT16:
      return b.readUInt16LE(at);
    case GgufValueType.INT16:
      return b.readInt16LE(at);
    case GgufValueType.UINT32:
      return b.readUInt32LE(at);
    case GgufValueType.INT32:
      return b.readInt32LE(at);
    case GgufValueType.FLOAT32:
      return b.readFloatLE(at);
    case GgufValueType.UINT64:
      return b.readBigUInt64LE(at);
    case GgufValueType.INT64:
      return b.readBigInt64LE(at);
    case GgufValueType.FLOAT64:
      return b.readDoubleLE(at);
    default:
      throw new Error(`readScalar called with non-scalar type ${type}`);
  }
}

const TYPED_ARRAY: Partial<Record<GgufValueType, new (n: number) => GgufArrayItems>> = {
  [GgufValueType.UINT8]: Uint8Array,
  [GgufValueType.INT8]: Int8Array,
  [GgufValueType.UINT16]: Uint16Array,
  [GgufValueType.INT16]: Int16Array,
  [GgufValueType.UINT32]: Uint32Array,
  [GgufValueType.INT32]: Int32Array,
  [GgufValueType.FLOAT32]: Float32Array,
  [GgufValueType.FLOAT64]: Float64Array,
  [GgufValueType.UINT64]: BigUint64Array,
  [GgufValueType.INT64]: BigInt64Array,
};

// Element by element rather than a reinterpreting view: the file is little-endian whatever the host.
function readNumericArray(type: GgufValueType, b: Buffer, n: number): GgufArrayItems {
  const out = new TYPED_ARRAY[type]!(n) as unknown as (number | bigint)[];
  const width = GGUF_FIXED_SIZE[type]!;
  for (let i = 0; i < n; i++) out[i] = readScalar(type, b, i * width);
  return out as unknown as GgufArrayItems;
}

function fail(path: string, code: string, message: string): never {
  throw new DebiasError(code, `${path}: ${message}.`);
}

/** Opens a GGUF file and parses its header; reads no tensor data. */
export async function openGguf(path: string): Promise<GgufFile> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw new DebiasError("E_GGUF_OPEN", `Cannot open GGUF file ${path}: ${(err as Error).message}.`, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) fail(path, "E_GGUF_OPEN", "is not a regular file");
    return await parse(fh, path, st.size, st.mtimeMs);
  } finally {
    await fh.close();
  }
}

async function parse(fh: FileHandle, path: string, fileSize: number, mtimeMs: number): Promise<GgufFile> {
  const c: HeaderCursor = new HeaderCursor(fh, path, fileSize);
  const magic = await c.u32();
  if (magic !== GGUF_MAGIC) c.fail("E_GGUF_MAGIC", `not a GGUF file (magic 0x${magic.toString(16).padStart(8, "0")})`);
  const version = await c.u32();
  if (version >= 1 << 16 && (version & 0xffff) === 0) {
    c.fail("E_GGUF_BIG_ENDIAN", `big-endian GGUF (version ${version >>> 24}) is not supported`);
  }
  if (version < GGUF_MIN_VERSION || version > GGUF_MAX_VERSION) {
    c.fail("E_GGUF_VERSION", `GGUF version ${version} is not supported (only ${GGUF_MIN_VERSION} and ${GGUF_MAX_VERSION})`);
  }
  c.what = "the tensor count";
  const nTensors = await c.u64(Math.min(MAX_TENSOR_COUNT, Math.floor(c.remaining / MIN_TENSOR_INFO_BYTES)), "the tensor count");
  c.what = "the KV count";
  const nKv = await c.u64(Math.min(MAX_KV_COUNT, Math.floor(c.remaining / MIN_KV_BYTES)), "the KV count");

  const kvs: GgufKv[] = [];
  const kvSpans: ByteRange[] = [];
  const byKey = new Map<string, GgufKv>();
  for (let i = 0; i < nKv; i++) {
    const start = c.pos;
    c.what = `KV #${i}`;
    const key = await c.string(MAX_KEY_BYTES, `key #${i}`);
    c.what = `KV '${key}'`;
    if (byKey.has(key)) c.fail("E_GGUF_DUPLICATE_KEY", `the key '${key}' appears twice`);
    const type = await c.u32();
    if (!isGgufValueType(type)) c.fail("E_GGUF_VALUE_TYPE", `unknown value type ${type}`);
    const kv: GgufKv = { key, type, value: await c.value(type, 0) };
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
    const name = await c.string(GGML_MAX_NAME - 1, `tensor name #${i}`);
    c.what = `tensor info '${name}'`;
    if (names.has(name)) c.fail("E_GGUF_DUPLICATE_TENSOR", `the tensor name '${name}' appears twice`);
    names.add(name);
    const nDims = await c.u32();
    if (nDims > GGML_MAX_DIMS) c.fail("E_GGUF_TENSOR_SHAPE", `tensor '${name}' has ${nDims} dimensions, more than ${GGML_MAX_DIMS}`);
    const ne: number[] = [];
    let nElements = 1;
    for (let d = 0; d < nDims; d++) {
      const v = await c.u64(Number.MAX_SAFE_INTEGER, `dimension ${d} of tensor '${name}'`);
      ne.push(v);
      nElements *= v;
      if (nElements > Number.MAX_SAFE_INTEGER) c.fail("E_GGUF_TENSOR_SHAPE", `tensor '${name}' has more than 2^53 elements`);
    }
    const typeId = await c.u32();
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
    const offset = await c.u64(Number.MAX_SAFE_INTEGER, `the offset of tensor '${name}'`);
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
    mtimeMs,
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
      if (!INTEGER_TYPES.has(kv.type)) fail(path, "E_GGUF_KV_TYPE", `KV '${key}' is ${GgufValueType[kv.type]}, not an integer`);
      const v = kv.value as number | bigint;
      if (typeof v === "bigint" && (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER))) {
        fail(path, "E_GGUF_KV_TYPE", `KV '${key}' is ${v}, beyond 2^53`);
      }
      return Number(v);
    },
    tensor: (name) => byName.get(name),
  };
}
