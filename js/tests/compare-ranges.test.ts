import { afterEach, describe, expect, it, vi } from "vitest";
import { differenceRange, keyRuns } from "../src/compare-diff";
import { DifferenceRanges } from "../src/compare-ranges";
import type { Matrix } from "../src/types";

afterEach(() => vi.useRealTimers());

// A: 3 tokens; B: one more inserted at 1 ("the [not] movie good")
const queries = { a: Int32Array.from([0, -1, 1, 2]), b: Int32Array.from([0, 1, 2, 3]) };
const runs = keyRuns(queries);
const head = (n: number, seed: number): Matrix => ({ rows: n, cols: n, data: Float32Array.from({ length: n * n }, (_, i) => Math.sin(seed + i)) });
const key = (layer: number, h: number): string => `1|1|${layer}|${h}`;

describe("DifferenceRanges", () => {
  it("measures the other heads of a layer when idle, as differenceRange does, and forgets on new data", () => {
    vi.useFakeTimers();
    const loaded = vi.fn((_layer: number, h: number): [Matrix, Matrix] | null => [head(3, h), head(4, 10 + h)]);
    const ranges = new DifferenceRanges(queries, runs, loaded, null);
    ranges.set(key(2, 0), 0.5); // head 0 was just drawn
    ranges.prefetch(2, 3, key);
    expect(ranges.get(key(2, 1))).toBeUndefined(); // nothing in the switch's own time
    vi.runAllTimers();
    for (const h of [1, 2]) expect(ranges.get(key(2, h))).toBe(differenceRange(head(3, h), head(4, 10 + h), queries, runs));
    expect(ranges.get(key(2, 0))).toBe(0.5);
    expect(loaded.mock.calls.map((call) => call[1])).toEqual([1, 2]); // head 0 was known: not measured again
    ranges.clear();
    expect(ranges.get(key(2, 1))).toBeUndefined();
  });

  it("stops where a layer is not here, and after dispose", () => {
    vi.useFakeTimers();
    const ranges = new DifferenceRanges(queries, runs, () => null, null);
    ranges.prefetch(0, 4, key);
    vi.runAllTimers();
    expect(ranges.get(key(0, 0))).toBeUndefined();
    const loaded = vi.fn((): [Matrix, Matrix] => [head(3, 0), head(4, 1)]);
    const other = new DifferenceRanges(queries, runs, loaded, null);
    other.prefetch(0, 4, key);
    other.dispose();
    vi.runAllTimers();
    expect(loaded).not.toHaveBeenCalled();
  });
});
