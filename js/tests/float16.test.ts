import { describe, expect, it } from "vitest";
import { decodeFloat16, encodeFloat16, encodeFloat16Array, halfBitsToNumber } from "../src/float16";

describe("halfBitsToNumber", () => {
  it.each([
    [0x0000, 0],
    [0x3c00, 1],
    [0xc000, -2],
    [0x3800, 0.5],
    [0x3555, 0.333251953125],
    [0x7bff, 65504],
    [0x0400, 2 ** -14],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ])("decodes 0x%s", (bits, value) => {
    expect(halfBitsToNumber(bits)).toBe(value);
  });

  it("decodes NaN and negative zero", () => {
    expect(halfBitsToNumber(0x7e00)).toBeNaN();
    expect(Object.is(halfBitsToNumber(0x8000), -0)).toBe(true);
  });
});

describe("decodeFloat16", () => {
  it("decodes an array through the table", () => {
    const out = decodeFloat16(new Uint16Array([0x3c00, 0x3400, 0x0000, 0xbc00, 0x2e66]));
    expect(Array.from(out)).toEqual([1, 0.25, 0, -1, Math.fround(0.0999755859375)]);
  });

  it("writes into a given output and rejects a short one", () => {
    const out = new Float32Array(3);
    expect(decodeFloat16(new Uint16Array([0x4000, 0x4200]), out)).toBe(out);
    expect(Array.from(out)).toEqual([2, 3, 0]);
    expect(() => decodeFloat16(new Uint16Array(4), new Float32Array(3))).toThrow(RangeError);
  });

  it("agrees with halfBitsToNumber on all 65,536 patterns", () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const out = decodeFloat16(all);
    const wrong: number[] = [];
    for (let i = 0; i < 65536; i++) {
      const expected = halfBitsToNumber(i);
      const ok = Number.isNaN(expected) ? Number.isNaN(out[i]) : Object.is(out[i], Math.fround(expected));
      if (!ok) wrong.push(i);
    }
    expect(wrong).toEqual([]);
  });
});

describe("encodeFloat16", () => {
  it("round-trips every finite pattern", () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 65536; bits++) {
      const value = halfBitsToNumber(bits);
      if (!Number.isNaN(value) && encodeFloat16(value) !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });

  it("rounds to nearest, ties to even", () => {
    expect(encodeFloat16(1 + 2 ** -11)).toBe(0x3c00); // halfway, even mantissa stays
    expect(encodeFloat16(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway, odd mantissa rounds up
    expect(encodeFloat16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(encodeFloat16(2 ** -25)).toBe(0x0000); // half the smallest subnormal: to even (0)
    expect(encodeFloat16(3 * 2 ** -25)).toBe(0x0002);
    expect(encodeFloat16(2 ** -14 - 2 ** -26)).toBe(0x0400); // rounds up into the normals
  });

  it("overflows to infinity and keeps signs and NaN", () => {
    expect(encodeFloat16(65519)).toBe(0x7bff);
    expect(encodeFloat16(65520)).toBe(0x7c00);
    expect(encodeFloat16(-1e9)).toBe(0xfc00);
    expect(encodeFloat16(-0)).toBe(0x8000);
    expect(encodeFloat16(NaN)).toBe(0x7e00);
  });

  it("encodes arrays", () => {
    expect(Array.from(encodeFloat16Array([1, -2, 0.5]))).toEqual([0x3c00, 0xc000, 0x3800]);
  });
});
