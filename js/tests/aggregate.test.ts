import { describe, expect, it } from "vitest";
import { maxOverHeads, meanOverHeads, stackSlice } from "../src/aggregate";
import type { Stack } from "../src/types";

// 3 heads of 2×2
const stack: Stack = {
  n: 3,
  rows: 2,
  cols: 2,
  data: Float32Array.from([
    0.5, 0.5, 1, 0, // head 0
    0.9, 0.1, 0.2, 0.8, // head 1
    0.1, 0.9, 0.6, 0.4, // head 2
  ]),
};

describe("aggregates over heads", () => {
  it("computes the element-wise mean", () => {
    const mean = meanOverHeads(stack);
    expect([mean.rows, mean.cols]).toEqual([2, 2]);
    const expected = [0.5, 0.5, 0.6, 0.4];
    mean.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
  });

  it("computes the element-wise maximum", () => {
    expect(Array.from(maxOverHeads(stack).data)).toEqual(Array.from(Float32Array.from([0.9, 0.9, 1, 0.8])));
  });

  it("keeps the input intact and handles one head", () => {
    const one: Stack = { n: 1, rows: 1, cols: 2, data: Float32Array.from([0.3, 0.7]) };
    const max = maxOverHeads(one);
    max.data[0] = 99;
    expect(one.data[0]).toBeCloseTo(0.3);
    expect(Array.from(meanOverHeads(one).data)).toEqual(Array.from(one.data).map((v) => Math.fround(v)));
  });
});

describe("stackSlice", () => {
  it("views one head without copying", () => {
    const head = stackSlice(stack, 1);
    expect(Array.from(head.data)).toEqual(Array.from(Float32Array.from([0.9, 0.1, 0.2, 0.8])));
    expect(head.data.buffer).toBe(stack.data.buffer);
  });

  it("rejects heads out of range", () => {
    expect(() => stackSlice(stack, 3)).toThrow(RangeError);
    expect(() => stackSlice(stack, -1)).toThrow(RangeError);
    expect(() => stackSlice(stack, 0.5)).toThrow(RangeError);
  });
});
