import { describe, expect, it } from "vitest";
import { VIRIDIS, colorIndex } from "../src/colormap";
import { byteColorIndices, causalOffset, isMasked, pooledMask, rasterize, rasterizeOverview } from "../src/raster";
import { identityIndex, makeMapper } from "../src/scale";
import type { Matrix, Overview } from "../src/types";

const rgba = (pixels: Uint8ClampedArray, i: number): number[] => Array.from(pixels.slice(4 * i, 4 * i + 4));
const viridis = (i: number): number[] => Array.from(VIRIDIS.slice(4 * i, 4 * i + 4));

describe("rasterize", () => {
  const matrix: Matrix = { rows: 2, cols: 2, data: Float32Array.from([0, 0.5, 1, 0.25]) };

  it("colours the maximum with the top of the map and zero with the bottom", () => {
    const pixels = rasterize(matrix, { mapper: makeMapper("linear", 1, 3) });
    expect(pixels.length).toBe(16);
    expect(rgba(pixels, 0)).toEqual(viridis(0));
    expect(rgba(pixels, 1)).toEqual(viridis(128));
    expect(rgba(pixels, 2)).toEqual(viridis(255));
    expect(rgba(pixels, 3)).toEqual(viridis(64));
  });

  it("reuses an output buffer that is large enough", () => {
    const out = new Uint8ClampedArray(64);
    expect(rasterize(matrix, { mapper: makeMapper("linear", 1, 3) }, out)).toBe(out);
  });

  it("leaves causally masked cells fully transparent and others opaque", () => {
    const n = 4;
    const lower: Matrix = { rows: n, cols: n, data: new Float32Array(n * n) };
    const causal = { rowIndex: identityIndex(n), colIndex: identityIndex(n), offset: 0 };
    const pixels = rasterize(lower, { mapper: makeMapper("sqrt", 1, 3), causal });
    for (let q = 0; q < n; q++) {
      for (let k = 0; k < n; k++) {
        expect(pixels[4 * (q * n + k) + 3]).toBe(k > q ? 0 : 255);
      }
    }
    // a zero-valued visible cell is opaque viridis(0), unlike a masked one
    expect(rgba(pixels, 0)).toEqual(viridis(0));
    expect(rgba(pixels, 1)).toEqual([0, 0, 0, 0]);
  });

  it("masks by original token indices after rows and columns were hidden", () => {
    // displayed rows are queries 1 and 3, columns are keys 0 and 2
    const m: Matrix = { rows: 2, cols: 2, data: Float32Array.from([1, 1, 1, 1]) };
    const causal = { rowIndex: Int32Array.from([1, 3]), colIndex: Int32Array.from([0, 2]), offset: 0 };
    const pixels = rasterize(m, { mapper: makeMapper("linear", 1, 3), causal });
    expect([pixels[3], pixels[7], pixels[11], pixels[15]]).toEqual([255, 0, 255, 255]);
  });

  it("writes the bytes of the table's entries, cell by cell, on every scale and under a mask", () => {
    const n = 23;
    const data = Float32Array.from({ length: n * n }, (_, i) => (i % 7 === 0 ? 0 : Math.abs(Math.sin(i * 0.61)) ** 3));
    data[5] = NaN;
    data[6] = -0.25;
    data[7] = 2; // above vmax
    data[8] = Infinity;
    const m: Matrix = { rows: n, cols: n, data };
    const causal = { rowIndex: identityIndex(n), colIndex: identityIndex(n), offset: 0 };
    // makeMapper's mappers are applied inline (by their spec); any other function is called per cell
    const mappers = [
      ...(["linear", "sqrt", "log"] as const).map((scale) => makeMapper(scale, 1, 3)),
      makeMapper("log", 0.3, 2),
      makeMapper("sqrt", 0, 3), // no maximum: everything at the bottom
      (v: number) => v * v,
    ];
    for (const mapper of mappers) {
      for (const mask of [null, causal]) {
        const pixels = rasterize(m, { mapper, causal: mask });
        for (let q = 0; q < n; q++) {
          for (let k = 0; k < n; k++) {
            const cell = q * n + k;
            const expected = mask && k > q ? [0, 0, 0, 0] : viridis(colorIndex(mapper(data[cell])));
            expect(rgba(pixels, cell)).toEqual(expected);
          }
        }
      }
    }
  });

  it("refills the buffer of the last picture at the same size, and allocates for a larger one", () => {
    const mapper = makeMapper("linear", 1, 3);
    const first = rasterize(matrix, { mapper });
    const other: Matrix = { rows: 2, cols: 2, data: Float32Array.from([1, 0.25, 0, 0.5]) };
    const again = rasterize(other, { mapper }, first);
    expect(again).toBe(first);
    expect(Array.from(again)).toEqual(Array.from(rasterize(other, { mapper }))); // every pixel rewritten
    const larger: Matrix = { rows: 3, cols: 2, data: new Float32Array(6) };
    expect(rasterize(larger, { mapper }, first)).not.toBe(first);
    // a view that does not start on a 4-byte boundary cannot hold uint32 pixels: a new buffer
    const odd = new Uint8ClampedArray(new ArrayBuffer(40), 1, 32);
    expect(rasterize(matrix, { mapper }, odd)).not.toBe(odd);
  });

  it("shifts the mask by cached keys when there are more keys than queries", () => {
    expect(causalOffset(2, 5)).toBe(3);
    expect(isMasked(0, 3, 3)).toBe(false);
    expect(isMasked(0, 4, 3)).toBe(true);
    expect(isMasked(1, 4, 3)).toBe(false);
  });
});

describe("overview atlas", () => {
  // 1 layer, 2 columns, 2×2 thumbnails
  const overview: Overview = {
    layers: 1,
    columns: 2,
    tq: 2,
    tk: 2,
    data: Uint8Array.from([255, 0, 128, 64, 0, 255, 255, 255]),
    scale: Float32Array.from([0.9, 0.5]),
  };

  it("packs thumbnails side by side, each relative to its own maximum", () => {
    const atlas = rasterizeOverview(overview, { scale: "linear", logDecades: 3 });
    expect([atlas.width, atlas.height]).toEqual([4, 2]);
    const at = (x: number, y: number): number[] => rgba(atlas.pixels, y * atlas.width + x);
    expect(at(0, 0)).toEqual(viridis(255));
    expect(at(1, 0)).toEqual(viridis(0));
    expect(at(0, 1)).toEqual(viridis(128));
    expect(at(2, 0)).toEqual(viridis(0)); // second thumbnail starts at x = tk
    expect(at(3, 1)).toEqual(viridis(255));
  });

  it("leaves zero blocks above the causal diagonal transparent", () => {
    const atlas = rasterizeOverview(overview, { scale: "linear", logDecades: 3, causal: { numQueries: 2, numKeys: 2 } });
    expect(atlas.pixels[4 * 1 + 3]).toBe(0); // (0, 1) in thumbnail 0: masked and zero
    expect(atlas.pixels[4 * 2 + 3]).toBe(255); // thumbnail 1, (0, 0): visible zero
    expect(atlas.pixels[4 * 3 + 3]).toBe(255); // thumbnail 1, (0, 1): masked position but non-zero
  });

  it("maps bytes monotonically for every scale", () => {
    for (const scale of ["linear", "sqrt", "log"] as const) {
      const index = byteColorIndices(scale, 3);
      expect(index[0]).toBe(0);
      expect(index[255]).toBe(255);
      for (let v = 1; v < 256; v++) expect(index[v]).toBeGreaterThanOrEqual(index[v - 1]);
    }
  });

  it("marks pooled blocks wholly after their queries", () => {
    // 8 tokens pooled to 2×2: block (0, 1) covers queries 0-3, keys 4-7: masked
    expect(Array.from(pooledMask(2, 2, 8, 8))).toEqual([0, 1, 0, 0]);
  });
});
