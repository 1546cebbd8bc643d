import { describe, expect, it } from "vitest";
import { decodeFloat16, decodeFloat16Slices, encodeFloat16, encodeFloat16Array, halfBitsToNumber } from "../src/float16";
import { stackSlice } from "../src/aggregate";
import { maxValue, prepareDisplay } from "../src/scale";

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

describe("decodeFloat16Slices", () => {
  it("decodes as decodeFloat16 does and finds each slice's maxValue, whatever the patterns", () => {
    // every pattern once (NaN, ±Infinity, negatives, subnormals), shuffled into 16 slices
    const all = Uint16Array.from({ length: 65536 }, (_, i) => (i * 40503) & 0xffff);
    const { values, maxima } = decodeFloat16Slices(all, 16);
    expect(Array.from(values).map(String)).toEqual(Array.from(decodeFloat16(all)).map(String));
    for (let s = 0; s < 16; s++) expect(maxima[s]).toBe(maxValue(values.subarray(s * 4096, (s + 1) * 4096)));
    // slices with nothing positive, or only +Infinity and NaN, have maximum 0
    const none = decodeFloat16Slices(Uint16Array.from([0x8001, 0x0000, 0x7c00, 0x7e00]), 2);
    expect(Array.from(none.maxima)).toEqual([0, 0]);
    expect(() => decodeFloat16Slices(all, 3)).toThrow(RangeError);
  });

  it("gives each head its maximum, which the display takes instead of searching the matrix", () => {
    const halves = encodeFloat16Array([0.25, 0.5, 0.125, 1, 0, 2, 0.75, 0.5]);
    const { values, maxima } = decodeFloat16Slices(halves, 2);
    const head = stackSlice({ n: 2, rows: 2, cols: 2, data: values, maxima }, 1);
    expect(head.max).toBe(2);
    const options = { hideSpecial: false, rowNormalize: false, specialRows: [false, false], specialCols: [false, false] };
    expect(prepareDisplay(head, options).vmax).toBe(2);
    expect(prepareDisplay({ ...head, max: 7 }, options).vmax).toBe(7); // taken as known, not searched
    const hidden = prepareDisplay({ ...head, max: 7 }, { ...options, hideSpecial: true, specialRows: [true, false] });
    expect(hidden.vmax).toBe(maxValue(hidden.matrix.data)); // rows hidden: a new matrix, searched
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
