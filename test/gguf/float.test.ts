import t from "tap";
import { bf16ToNumber, f16ToNumber, numberToBf16, numberToF16 } from "../../lib/gguf/float.js";

t.test("fp16 rounds to nearest, ties to even", async (t) => {
  t.equal(numberToF16(1), 0x3c00);
  t.equal(numberToF16(-2), 0xc000);
  t.equal(numberToF16(65504), 0x7bff);
  t.equal(numberToF16(65519.99), 0x7bff, "below the rounding boundary stays finite");
  t.equal(numberToF16(65520), 0x7c00, "the boundary rounds to infinity");
  t.equal(numberToF16(1 + 2 ** -11), 0x3c00, "tie goes to the even mantissa (down)");
  t.equal(numberToF16(1 + 3 * 2 ** -11), 0x3c02, "tie goes to the even mantissa (up)");
  t.equal(numberToF16(2 ** -24), 0x0001, "smallest subnormal");
  t.equal(numberToF16(2 ** -25), 0x0000, "half the smallest subnormal ties to zero");
  t.equal(numberToF16(3 * 2 ** -25), 0x0002, "1.5 subnormal units tie to 2");
  t.equal(numberToF16(2 ** -14 - 2 ** -26), 0x0400, "rounds up into the normals");
  t.equal(numberToF16(-0), 0x8000);
  t.equal(numberToF16(NaN) & 0x7c00, 0x7c00);
  t.equal(f16ToNumber(0x7c00), Infinity);
  t.ok(Number.isNaN(f16ToNumber(0x7e00)));
});

t.test("every finite fp16 survives a round trip", async (t) => {
  let bad = 0;
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00) continue;
    if (numberToF16(f16ToNumber(h)) !== h) bad++;
  }
  t.equal(bad, 0);
});

t.test("bf16 rounds to nearest, ties to even", async (t) => {
  t.equal(numberToBf16(1), 0x3f80);
  t.equal(bf16ToNumber(0x3f80), 1);
  t.equal(numberToBf16(1 + 2 ** -8), 0x3f80, "tie to even (down)");
  t.equal(numberToBf16(1 + 3 * 2 ** -8), 0x3f82, "tie to even (up)");
  t.equal(numberToBf16(-1.5), 0xbfc0);
  t.ok(Number.isNaN(bf16ToNumber(numberToBf16(NaN))));
});
