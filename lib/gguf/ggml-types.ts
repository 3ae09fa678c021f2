// Every ggml_type that can appear in a GGUF file (ggml.h `enum ggml_type`), with its block geometry
// (ggml.c type_traits; sizes checked against the static_asserts in ggml-common.h) and where each
// block keeps the scale fields a "multiply the whole block by α" edit rewrites.

/**
 * How a block's scale is stored. Multiplying every scale field of a block by α multiplies every
 * dequantised value of that block by α (up to the rounding of the stored field).
 * - f16 / f32: an IEEE scale at `offset`.
 * - e8m0: a biased power-of-two exponent byte (MXFP4); only α = 2^k is representable, and exactly.
 * - iq1m-nibbles: IQ1_M's fp16 super-block scale, split over the top nibbles of the four
 *   little-endian u16 words starting at `offset` (ggml-quants.c dequantize_row_iq1_m).
 */
export type ScaleEncoding = "f16" | "f32" | "e8m0" | "iq1m-nibbles";

export interface ScaleField {
  readonly offset: number;
  readonly encoding: ScaleEncoding;
}

/** Element encoding of the non-block (blockSize 1) types that edits rewrite value by value. */
export type ElementEncoding = "f32" | "f16" | "bf16" | "f64";

export interface GgmlType {
  readonly id: number;
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
  /** Set for float types: edits scale elements directly. */
  readonly element: ElementEncoding | null;
  /**
   * Scale fields of a quantised block, or null where no field (or set of fields) scales every value
   * of the block by the same factor; also null for float and integer types, which have no blocks.
   */
  readonly scales: readonly ScaleField[] | null;
}

const f16 = (offset: number): ScaleField => ({ offset, encoding: "f16" });

function plain(id: number, name: string, typeSize: number, element: ElementEncoding | null): GgmlType {
  return { id, name, blockSize: 1, typeSize, element, scales: null };
}

function quant(id: number, name: string, blockSize: number, typeSize: number, scales: readonly ScaleField[] | null): GgmlType {
  return { id, name, blockSize, typeSize, element: null, scales };
}

const QK_K = 256;

export const GGML_TYPES: readonly GgmlType[] = [
  plain(0, "F32", 4, "f32"),
  plain(1, "F16", 2, "f16"),
  // x = d·q
  quant(2, "Q4_0", 32, 18, [f16(0)]),
  // x = d·q + m: the min is additive, so it must scale with α too (α·x = (α·d)·q + α·m)
  quant(3, "Q4_1", 32, 20, [f16(0), f16(2)]),
  quant(6, "Q5_0", 32, 22, [f16(0)]),
  quant(7, "Q5_1", 32, 24, [f16(0), f16(2)]),
  quant(8, "Q8_0", 32, 34, [f16(0)]),
  // s caches d·Σq, so it scales exactly like d
  quant(9, "Q8_1", 32, 36, [f16(0), f16(2)]),
  // x = d·sc·q − dmin·m, with d and dmin after 16 bytes of scales and 64 of quants
  quant(10, "Q2_K", QK_K, 84, [f16(80), f16(82)]),
  // x = d·sc·q, d after hmask(32) + qs(64) + scales(12)
  quant(11, "Q3_K", QK_K, 110, [f16(108)]),
  quant(12, "Q4_K", QK_K, 144, [f16(0), f16(2)]),
  quant(13, "Q5_K", QK_K, 176, [f16(0), f16(2)]),
  // x = d·sc·q, d after ql(128) + qh(64) + scales(16)
  quant(14, "Q6_K", QK_K, 210, [f16(208)]),
  // f32 d; bsums are sums of the integer quants, untouched by a scale
  quant(15, "Q8_K", QK_K, 292, [{ offset: 0, encoding: "f32" }]),
  // The IQ formats dequantise as d · (integer sub-scale) · (grid value, + a fixed delta for IQ1),
  // all inside one product with the fp16 d, so scaling d scales every value.
  quant(16, "IQ2_XXS", QK_K, 66, [f16(0)]),
  quant(17, "IQ2_XS", QK_K, 74, [f16(0)]),
  quant(18, "IQ3_XXS", QK_K, 98, [f16(0)]),
  // x = d·(2s+1)·(grid ± delta): the delta sits inside the product, so d still scales all of it
  quant(19, "IQ1_S", QK_K, 50, [f16(0)]),
  quant(20, "IQ4_NL", 32, 18, [f16(0)]),
  quant(21, "IQ3_S", QK_K, 110, [f16(0)]),
  quant(22, "IQ2_S", QK_K, 82, [f16(0)]),
  quant(23, "IQ4_XS", QK_K, 136, [f16(0)]),
  plain(24, "I8", 1, null),
  plain(25, "I16", 2, null),
  plain(26, "I32", 4, null),
  plain(27, "I64", 8, null),
  plain(28, "F64", 8, "f64"),
  // scales[8] after qs(32) + qh(16) hold the fp16 d in their top nibbles
  quant(29, "IQ1_M", QK_K, 56, [{ offset: 48, encoding: "iq1m-nibbles" }]),
  plain(30, "BF16", 2, "bf16"),
  // ternary: x = d·(q−1), d after the packed trits
  quant(34, "TQ1_0", QK_K, 54, [f16(52)]),
  quant(35, "TQ2_0", QK_K, 66, [f16(64)]),
  // x = e2m1(q) · 2^(e−128): the scale is a power of two
  quant(39, "MXFP4", 32, 17, [{ offset: 0, encoding: "e8m0" }]),
  // four UE4M3 sub-block scales with a 3-bit mantissa: almost no α survives rounding them, and
  // α is not applied uniformly once one of them saturates, so no scale edit is offered
  quant(40, "NVFP4", 64, 36, null),
  // x = ±d
  quant(41, "Q1_0", 128, 18, [f16(0)]),
  // x = d·(q−1)
  quant(42, "Q2_0", 64, 18, [f16(0)]),
];

const BY_ID = new Map(GGML_TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(GGML_TYPES.map((t) => [t.name, t]));

// Ids that ggml once used but can no longer appear in a GGUF file; named so the error says why.
const REMOVED: ReadonlyMap<number, string> = new Map([
  [4, "Q4_2"],
  [5, "Q4_3"],
  [31, "Q4_0_4_4"],
  [32, "Q4_0_4_8"],
  [33, "Q4_0_8_8"],
  [36, "IQ4_NL_4_4"],
  [37, "IQ4_NL_4_8"],
  [38, "IQ4_NL_8_8"],
]);

export function ggmlTypeById(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

export function ggmlTypeByName(name: string): GgmlType | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** The former name of a ggml type id that was removed from the format, if it is one. */
export function removedGgmlTypeName(id: number): string | undefined {
  return REMOVED.get(id);
}
