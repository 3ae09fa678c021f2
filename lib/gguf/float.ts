// Conversions between JS numbers and the small float formats stored in GGUF tensors, rounding to
// nearest with ties to even as ggml's own converters do, so a value we write is the value ggml would.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

function bitsF32(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

export function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 0x1f) return man === 0 ? sign * Infinity : NaN;
  return sign * (1024 + man) * 2 ** (exp - 25);
}

/**
 * Rounds a number to the nearest fp16 (ties to even) and returns its bits. Rounds once from the
 * exact double, so f16(d·α) is correctly rounded whenever d·α is exact in a double (it is for an
 * fp16 d times an fp32 α).
 */
export function numberToF16(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // 65520 = max half + half an ulp: rounds to infinity
  if (a < 2 ** -14) {
    // subnormal: units of 2^-24, ties to even
    return sign | roundHalfEven(a * 2 ** 24);
  }
  const e = Math.floor(Math.log2(a));
  // log2 can be off by one near powers of two; correct so that 2^e ≤ a < 2^(e+1)
  const exp = 2 ** e > a ? e - 1 : 2 ** (e + 1) <= a ? e + 1 : e;
  const mant = roundHalfEven((a / 2 ** exp - 1) * 1024);
  // a mantissa that rounds up to 1024 carries into the exponent, which the bit layout does by itself
  return sign | (((exp + 15) << 10) + mant);
}

function roundHalfEven(v: number): number {
  const fl = Math.floor(v);
  const diff = v - fl;
  if (diff > 0.5) return fl + 1;
  if (diff < 0.5) return fl;
  return fl % 2 === 0 ? fl : fl + 1;
}

export function bf16ToNumber(h: number): number {
  return bitsF32((h & 0xffff) << 16);
}

/** Rounds to the nearest bf16 (ties to even), going through fp32 as ggml's converter does. */
export function numberToBf16(x: number): number {
  const bits = f32Bits(x);
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // quiet NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}
