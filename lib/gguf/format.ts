// GGUF, as read and written here (little-endian; v2 and v3 share this layout, v1 used 32-bit counts):
//
//   header       magic "GGUF" (u32 0x46554747), version u32, tensor_count u64, kv_count u64
//   KV section   kv_count × { key: string, value_type: u32, value }
//                string = u64 byte length + UTF-8 bytes (no terminator);
//                array  = item_type u32 + u64 count + items (items may themselves be arrays)
//   tensor infos tensor_count × { name: string, n_dims u32, ne[n_dims] u64 (ne0 = innermost, the row),
//                ggml_type u32, offset u64 (relative to the data section, a multiple of the alignment) }
//   padding      zero bytes up to a multiple of `general.alignment` (u32, default 32, a power of two)
//   data section tensor bytes; each tensor is ne1·ne2·ne3 rows of ne0/blockSize blocks of typeSize bytes
//
// Because tensor offsets are relative to the data section, a header can be re-serialised with a
// different length (extra KVs) and the tensor data copied unchanged after re-aligning its start.

export const GGUF_MAGIC = 0x46554747;
export const GGUF_MIN_VERSION = 2;
export const GGUF_MAX_VERSION = 3;
export const GGUF_WRITE_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const GGUF_ALIGNMENT_KEY = "general.alignment";
export const GGUF_ARCHITECTURE_KEY = "general.architecture";

// ggml.h GGML_MAX_DIMS and GGML_MAX_NAME (a name must leave room for its terminator).
export const GGML_MAX_DIMS = 4;
export const GGML_MAX_NAME = 64;

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/**
 * Every fixed-size value type in one table, read and written little-endian whatever the host: its
 * width, how a number (or bigint) is read and written, the typed array its arrays load into, and for
 * integers up to 32 bits the range a value must fit. BOOL is a byte, read and written as 0 or 1 by the
 * reader and writer themselves.
 */
export interface GgufScalar {
  readonly size: number;
  readonly read: (b: Buffer, at: number) => number | bigint;
  readonly write: (b: Buffer, v: number | bigint, at: number) => void;
  readonly array: new (n: number) => GgufArrayItems;
  /** Integers: whether a value is a whole number (or a bigint, for the 64-bit ones). */
  readonly integer: boolean;
  readonly range?: readonly [number, number];
}

const scalar = (size: number, read: GgufScalar["read"], write: GgufScalar["write"], array: GgufScalar["array"], integer: boolean, range?: readonly [number, number]): GgufScalar => ({ size, read, write, array, integer, ...(range ? { range } : {}) });

export const GGUF_SCALARS: Readonly<Partial<Record<GgufValueType, GgufScalar>>> = {
  [GgufValueType.UINT8]: scalar(1, (b, at) => b.readUInt8(at), (b, v, at) => b.writeUInt8(v as number, at), Uint8Array, true, [0, 0xff]),
  [GgufValueType.INT8]: scalar(1, (b, at) => b.readInt8(at), (b, v, at) => b.writeInt8(v as number, at), Int8Array, true, [-0x80, 0x7f]),
  [GgufValueType.UINT16]: scalar(2, (b, at) => b.readUInt16LE(at), (b, v, at) => b.writeUInt16LE(v as number, at), Uint16Array, true, [0, 0xffff]),
  [GgufValueType.INT16]: scalar(2, (b, at) => b.readInt16LE(at), (b, v, at) => b.writeInt16LE(v as number, at), Int16Array, true, [-0x8000, 0x7fff]),
  [GgufValueType.UINT32]: scalar(4, (b, at) => b.readUInt32LE(at), (b, v, at) => b.writeUInt32LE(v as number, at), Uint32Array, true, [0, 0xffffffff]),
  [GgufValueType.INT32]: scalar(4, (b, at) => b.readInt32LE(at), (b, v, at) => b.writeInt32LE(v as number, at), Int32Array, true, [-0x80000000, 0x7fffffff]),
  [GgufValueType.FLOAT32]: scalar(4, (b, at) => b.readFloatLE(at), (b, v, at) => b.writeFloatLE(v as number, at), Float32Array, false),
  [GgufValueType.UINT64]: scalar(8, (b, at) => b.readBigUInt64LE(at), (b, v, at) => b.writeBigUInt64LE(v as bigint, at), BigUint64Array, true),
  [GgufValueType.INT64]: scalar(8, (b, at) => b.readBigInt64LE(at), (b, v, at) => b.writeBigInt64LE(v as bigint, at), BigInt64Array, true),
  [GgufValueType.FLOAT64]: scalar(8, (b, at) => b.readDoubleLE(at), (b, v, at) => b.writeDoubleLE(v as number, at), Float64Array, false),
};

/** Byte width of each fixed-size value type (BOOL included); strings and arrays are variable. */
export const GGUF_FIXED_SIZE: Readonly<Partial<Record<GgufValueType, number>>> = {
  ...Object.fromEntries(Object.entries(GGUF_SCALARS).map(([type, s]) => [type, s.size])),
  [GgufValueType.BOOL]: 1,
};

export function isGgufValueType(n: number): n is GgufValueType {
  return Number.isInteger(n) && n >= GgufValueType.UINT8 && n <= GgufValueType.FLOAT64;
}

/** Items of an array value: typed arrays for numbers, plain arrays otherwise. */
export type GgufArrayItems =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GgufArray[];

export interface GgufArray {
  readonly itemType: GgufValueType;
  readonly items: GgufArrayItems;
}

/** number for ≤32-bit ints and floats, bigint for 64-bit ints. */
export type GgufValue = number | bigint | boolean | string | GgufArray;

export interface GgufKv {
  readonly key: string;
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
