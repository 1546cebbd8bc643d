import { describe, expect, it } from "vitest";
import {
  GAP_RGBA,
  RDBU_R,
  decodeAlignment,
  differenceCaption,
  differencePicture,
  differenceRange,
  divergingIndex,
  keyRuns,
  partner,
  scoreGrid,
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
  const diff = differencePicture(a, b, alignment, alignment);
  const pixel = (i: number): number[] => Array.from(diff.pixels.subarray(4 * i, 4 * i + 4));
  const colour = (index: number): number[] => Array.from(RDBU_R.subarray(4 * index, 4 * index + 4));

  it("pairs aligned rows and columns and leaves the gap grey, never shifted", () => {
    expect([diff.rows, diff.cols, diff.pixels.length]).toEqual([5, 5, 100]);
    for (let j = 0; j < 5; j++) expect(pixel(3 * 5 + j)).toEqual([...GAP_RGBA]); // the row of "not"
    for (let i = 0; i < 5; i++) expect(pixel(i * 5 + 3)).toEqual([...GAP_RGBA]); // the column of "not"
    // "good" (A row 3, B row 4) attending to "the" (column 1 on both sides)
    const good = Math.fround(b.data[4 * 5 + 1] - a.data[3 * 4 + 1]);
    expect(pixel(4 * 5 + 1)).toEqual(colour(divergingIndex(good, diff.range)));
  });

  it("is symmetric in scale: the largest |B − A| of the aligned cells", () => {
    const differences: number[] = [];
    for (const [i, qa] of A_OF_B.entries()) {
      for (const [j, ka] of A_OF_B.entries()) {
        if (qa >= 0 && ka >= 0) differences.push(Math.fround(b.data[i * 5 + j] - a.data[qa * 4 + ka]));
      }
    }
    expect(diff.range).toBe(Math.max(...differences.map(Math.abs)));
    expect(differencePicture(a, a, { a: alignment.a, b: alignment.a }, { a: alignment.a, b: alignment.a }).range).toBe(1e-6);
    const range = diff.range;
    expect(divergingIndex(-range, range)).toBe(0);
    expect(divergingIndex(range, range)).toBe(255);
    expect(divergingIndex(0, range)).toBe(128);
    expect(divergingIndex(-0.5 * range, range) + divergingIndex(0.5 * range, range)).toBe(255 + 1);
    expect(divergingIndex(NaN, range)).toBe(-1);
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

  it("differencePicture, cell by cell, with query and key gaps", () => {
    const queries = randomAlignment(37, 3);
    const keys = randomAlignment(29, 11); // cross-attention: keys aligned on their own
    const count = (xs: Int32Array): number => xs.filter((x) => x >= 0).length;
    const a = matrix(count(queries.a), count(keys.a), 0.37);
    const b = matrix(count(queries.b), count(keys.b), 0.91);
    a.data[2] = NaN; // a value the model never produces still draws as grey, not as a colour
    const expected = new Float32Array(37 * 29).fill(NaN);
    for (let i = 0; i < 37; i++) {
      for (let j = 0; j < 29; j++) {
        const [qa, qb, ka, kb] = [queries.a[i], queries.b[i], keys.a[j], keys.b[j]];
        if (qa >= 0 && qb >= 0 && ka >= 0 && kb >= 0) expected[i * 29 + j] = b.data[qb * b.cols + kb] - a.data[qa * a.cols + ka];
      }
    }
    const range = Math.max(...Array.from(expected).filter((v) => !Number.isNaN(v)).map(Math.abs));
    const diff = differencePicture(a, b, queries, keys);
    expect(diff.range).toBe(range);
    expect(differenceRange(a, b, queries, keyRuns(keys))).toBe(range);
    const known = differencePicture(a, b, queries, keys, keyRuns(keys), RDBU_R, undefined, range); // a range kept by the view
    expect(Array.from(known.pixels)).toEqual(Array.from(diff.pixels));
    for (let cell = 0; cell < 37 * 29; cell++) {
      const index = divergingIndex(expected[cell], range);
      const rgba = index < 0 ? [...GAP_RGBA] : Array.from(RDBU_R.subarray(4 * index, 4 * index + 4));
      expect(Array.from(diff.pixels.subarray(4 * cell, 4 * cell + 4))).toEqual(rgba);
    }
  });

  it("keyRuns: the columns both sides have, in runs where both keys step by one", () => {
    // A: 0 1 2 - 3 4 ; B: 0 1 - 2 3 5 (B skips its key 4: a jump ends a run)
    const keys = { a: Int32Array.from([0, 1, 2, -1, 3, 4]), b: Int32Array.from([0, 1, -1, 2, 3, 5]) };
    expect(Array.from(keyRuns(keys))).toEqual([0, 0, 0, 2, 4, 3, 3, 1, 5, 4, 5, 1]);
    expect(Array.from(keyRuns({ a: Int32Array.from([-1, -1]), b: Int32Array.from([0, -1]) }))).toEqual([]);
  });

  it("refills a buffer large enough, every pixel (gaps too), and allocates for a larger grid", () => {
    const queries = randomAlignment(13, 5);
    const keys = randomAlignment(11, 7);
    const count = (xs: Int32Array): number => xs.filter((x) => x >= 0).length;
    const a = matrix(count(queries.a), count(keys.a), 0.37);
    const b = matrix(count(queries.b), count(keys.b), 0.91);
    const buffer = new Uint8ClampedArray(13 * 11 * 4).fill(42); // stale pixels of an earlier head
    const again = differencePicture(a, b, queries, keys, keyRuns(keys), RDBU_R, buffer);
    expect(again.pixels).toBe(buffer); // a head switch: the same buffer
    expect(Array.from(again.pixels)).toEqual(Array.from(differencePicture(a, b, queries, keys).pixels));
    const more = randomAlignment(17, 5);
    const [a2, b2] = [matrix(count(more.a), count(keys.a), 0.37), matrix(count(more.b), count(keys.b), 0.91)];
    const larger = differencePicture(a2, b2, more, keys, keyRuns(keys), RDBU_R, buffer);
    expect(larger.pixels).not.toBe(buffer);
    expect(larger.pixels.length).toBe(17 * 11 * 4);
  });
});
