import { describe, expect, it } from "vitest";
import {
  GAP_RGBA,
  RDBU_R,
  alignedDifference,
  decodeAlignment,
  differenceCaption,
  divergingIndex,
  keyRuns,
  partner,
  rasterizeDifference,
  scoreGrid,
  symmetricRange,
} from "../src/compare-diff";

/** int32 (2, columns) little-endian bytes, as attnviz_widget/comparison/wire.py writes them. */
function alignmentBytes(a: number[], b: number[]): Uint8Array {
  return new Uint8Array(new Int32Array([...a, ...b]).buffer);
}

// "the movie was good" (A, 4 tokens) against "the movie was not good" (B, 5 tokens)
const A_OF_B = [0, 1, 2, -1, 3];
const B_OF_B = [0, 1, 2, 3, 4];

describe("alignment", () => {
  it("decodes A's row then B's, gaps as -1, from an offset view", () => {
    const bytes = alignmentBytes(A_OF_B, B_OF_B);
    const padded = new Uint8Array(bytes.byteLength + 4);
    padded.set(bytes, 4);
    const alignment = decodeAlignment(padded.subarray(4));
    expect(Array.from(alignment.a)).toEqual(A_OF_B);
    expect(Array.from(alignment.b)).toEqual(B_OF_B);
    expect(() => decodeAlignment(new Uint8Array(12))).toThrow(/not \(2, columns\)/);
  });

  it("maps a selected token to its partner, and an inserted token to none", () => {
    const alignment = decodeAlignment(alignmentBytes(A_OF_B, B_OF_B));
    expect(partner(alignment, "b", 4)).toBe(3); // "good"
    expect(partner(alignment, "a", 3)).toBe(4);
    expect(partner(alignment, "b", 3)).toBe(-1); // "not" has no partner in A
    expect(partner(alignment, "a", 9)).toBe(-1);
  });
});

describe("difference on the aligned grid", () => {
  const alignment = decodeAlignment(alignmentBytes(A_OF_B, B_OF_B));
  const a = { rows: 4, cols: 4, data: Float32Array.from({ length: 16 }, (_, i) => i / 100) };
  const b = { rows: 5, cols: 5, data: Float32Array.from({ length: 25 }, (_, i) => i / 50) };
  const diff = alignedDifference(a, b, alignment, alignment);

  it("pairs aligned rows and columns and leaves the gap empty, never shifted", () => {
    expect([diff.rows, diff.cols]).toEqual([5, 5]);
    for (let j = 0; j < 5; j++) expect(diff.data[3 * 5 + j]).toBeNaN(); // the row of "not"
    for (let i = 0; i < 5; i++) expect(diff.data[i * 5 + 3]).toBeNaN(); // the column of "not"
    // "good" (A row 3, B row 4) attending to "the" (column 1 on both sides)
    expect(diff.data[4 * 5 + 1]).toBeCloseTo(b.data[4 * 5 + 1] - a.data[3 * 4 + 1], 6);
  });

  it("is symmetric in scale and grey at gaps", () => {
    const range = symmetricRange(diff.data);
    const finite = Array.from(diff.data).filter((v) => !Number.isNaN(v));
    expect(range).toBeCloseTo(Math.max(...finite.map(Math.abs)), 6);
    expect(symmetricRange(new Float32Array([0, NaN]))).toBe(1e-6);
    expect(divergingIndex(-range, range)).toBe(0);
    expect(divergingIndex(range, range)).toBe(255);
    expect(divergingIndex(0, range)).toBe(128);
    expect(divergingIndex(-0.5 * range, range) + divergingIndex(0.5 * range, range)).toBe(255 + 1);
    expect(divergingIndex(NaN, range)).toBe(-1);
    const pixels = rasterizeDifference(diff, range);
    expect(Array.from(pixels.subarray(4 * 3, 4 * 4))).toEqual([...GAP_RGBA]);
  });

  it("colours negative blue and positive red, and says which side is which", () => {
    const blue = RDBU_R.subarray(0, 4);
    const red = RDBU_R.subarray(255 * 4, 256 * 4);
    expect(blue[2]).toBeGreaterThan(blue[0]);
    expect(red[0]).toBeGreaterThan(red[2]);
    expect(differenceCaption(["A (base)", "B (tuned)"])).toBe("B − A: red = more in B (tuned), blue = more in A (base)");
  });
});

describe("score grid", () => {
  it("reads one metric of the float32 (metrics, layers, heads) bytes", () => {
    const values = new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1, 2, 3, 4, 5, NaN]);
    const bytes = new Uint8Array(values.buffer);
    const tv = scoreGrid(bytes, 1, 2, 3);
    expect([tv.rows, tv.cols]).toEqual([2, 3]);
    expect(Array.from(tv.data.subarray(0, 5))).toEqual([1, 2, 3, 4, 5]);
    expect(tv.data[5]).toBeNaN();
    expect(() => scoreGrid(bytes, 2, 2, 3)).toThrow(/no metric 2/);
  });
});

describe("the fast paths draw what the cell-by-cell definition does", () => {
  /** An alignment of `columns` columns with gaps on either side (never on both). */
  function randomAlignment(columns: number, seed: number): { a: Int32Array; b: Int32Array } {
    let state = seed;
    const next = (): number => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    const a = new Int32Array(columns);
    const b = new Int32Array(columns);
    let na = 0;
    let nb = 0;
    for (let i = 0; i < columns; i++) {
      const r = next();
      a[i] = r < 0.1 ? -1 : na++;
      b[i] = r >= 0.1 && r < 0.2 ? -1 : nb++;
    }
    return { a, b };
  }

  function matrix(rows: number, cols: number, scale: number): { rows: number; cols: number; data: Float32Array } {
    return { rows, cols, data: Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * scale)) };
  }

  it("alignedDifference and rasterizeDifference, cell by cell, with query and key gaps", () => {
    const queries = randomAlignment(37, 3);
    const keys = randomAlignment(29, 11); // cross-attention: keys aligned on their own
    const count = (xs: Int32Array): number => xs.filter((x) => x >= 0).length;
    const a = matrix(count(queries.a), count(keys.a), 0.37);
    const b = matrix(count(queries.b), count(keys.b), 0.91);
    const diff = alignedDifference(a, b, queries, keys);
    const range = symmetricRange(diff.data);
    const pixels = rasterizeDifference(diff, range);
    for (let i = 0; i < 37; i++) {
      for (let j = 0; j < 29; j++) {
        const [qa, qb, ka, kb] = [queries.a[i], queries.b[i], keys.a[j], keys.b[j]];
        const expected = qa < 0 || qb < 0 || ka < 0 || kb < 0 ? NaN : b.data[qb * b.cols + kb] - a.data[qa * a.cols + ka];
        const cell = i * 29 + j;
        if (Number.isNaN(expected)) expect(diff.data[cell]).toBeNaN();
        else expect(diff.data[cell]).toBe(Math.fround(expected));
        const index = divergingIndex(diff.data[cell], range);
        const rgba = index < 0 ? [...GAP_RGBA] : Array.from(RDBU_R.subarray(4 * index, 4 * index + 4));
        expect(Array.from(pixels.subarray(4 * cell, 4 * cell + 4))).toEqual(rgba);
      }
    }
  });

  it("keyRuns: the columns both sides have, in runs where both keys step by one", () => {
    // A: 0 1 2 - 3 4 ; B: 0 1 - 2 3 5 (B skips its key 4: a jump ends a run)
    const keys = { a: Int32Array.from([0, 1, 2, -1, 3, 4]), b: Int32Array.from([0, 1, -1, 2, 3, 5]) };
    expect(Array.from(keyRuns(keys))).toEqual([0, 0, 0, 2, 4, 3, 3, 1, 5, 4, 5, 1]);
    expect(Array.from(keyRuns({ a: Int32Array.from([-1, -1]), b: Int32Array.from([0, -1]) }))).toEqual([]);
  });

  it("alignedDifference refills a buffer of its size, gaps included, and allocates for another size", () => {
    const queries = randomAlignment(13, 5);
    const keys = randomAlignment(11, 7);
    const count = (xs: Int32Array): number => xs.filter((x) => x >= 0).length;
    const a = matrix(count(queries.a), count(keys.a), 0.37);
    const b = matrix(count(queries.b), count(keys.b), 0.91);
    const buffer = new Float32Array(13 * 11).fill(42); // stale values of an earlier head
    const diff = alignedDifference(a, b, queries, keys, keyRuns(keys), buffer);
    expect(diff.data).toBe(buffer);
    const fresh = alignedDifference(a, b, queries, keys);
    expect(Array.from(diff.data).map(String)).toEqual(Array.from(fresh.data).map(String)); // NaN at every gap too
    expect(alignedDifference(a, b, queries, keys, keyRuns(keys), new Float32Array(5)).data.length).toBe(13 * 11);
  });

  it("rasterizeDifference refills a buffer of the same size, and allocates for a larger matrix", () => {
    const small = matrix(3, 4, 0.5);
    const first = rasterizeDifference(small, 1);
    const other = matrix(3, 4, 1.7);
    const again = rasterizeDifference(other, 1, RDBU_R, first);
    expect(again).toBe(first); // a head switch: the same buffer
    expect(Array.from(again)).toEqual(Array.from(rasterizeDifference(other, 1))); // every pixel rewritten
    const larger = rasterizeDifference(matrix(5, 4, 0.5), 1, RDBU_R, first);
    expect(larger).not.toBe(first);
    expect(larger.length).toBe(5 * 4 * 4);
  });
});
