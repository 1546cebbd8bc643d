import { describe, expect, it } from "vitest";
import {
  MIN_SPAN,
  TILE_CELLS,
  clampView,
  fullView,
  isFull,
  overviewPool,
  panBy,
  pointAt,
  poolFor,
  tilesFor,
  zoomAt,
} from "../src/zoom";

describe("zoomAt", () => {
  it("keeps the point under the pointer in place", () => {
    const v = zoomAt(fullView(1000, 1000), 4, 600, 200, 1000, 1000);
    expect([v.r1 - v.r0, v.c1 - v.c0]).toEqual([250, 250]);
    // the anchor sat at 60% / 20% of the old view and sits there in the new one
    expect((600 - v.r0) / (v.r1 - v.r0)).toBeCloseTo(0.6, 2);
    expect((200 - v.c0) / (v.c1 - v.c0)).toBeCloseTo(0.2, 2);
  });

  it("zooms out back to the whole matrix and never past it", () => {
    const inside = zoomAt(fullView(1000, 800), 8, 500, 400, 1000, 800);
    const out = zoomAt(inside, 1 / 100, 500, 400, 1000, 800);
    expect(out).toEqual(fullView(1000, 800));
    expect(isFull(out, 1000, 800)).toBe(true);
  });

  it("stops at the smallest span and at the edges", () => {
    let v = fullView(100, 100);
    for (let i = 0; i < 20; i++) v = zoomAt(v, 2, 99, 0, 100, 100);
    expect([v.r1 - v.r0, v.c1 - v.c0]).toEqual([MIN_SPAN, MIN_SPAN]);
    expect([v.r1, v.c0]).toEqual([100, 0]); // pressed into the corner, not beyond
    expect(zoomAt(v, NaN, 0, 0, 100, 100)).toBe(v);
  });

  it("zooms a short axis no further than its length", () => {
    const v = zoomAt(fullView(3, 50), 100, 1, 25, 3, 50);
    expect([v.r0, v.r1]).toEqual([0, 3]);
    expect(v.c1 - v.c0).toBe(MIN_SPAN);
  });
});

describe("panBy and clampView", () => {
  it("moves by whole cells and stops at the edges", () => {
    const v = { r0: 10, r1: 20, c0: 30, c1: 50 };
    expect(panBy(v, 5, -40, 100, 100)).toEqual({ r0: 15, r1: 25, c0: 0, c1: 20 });
    expect(panBy(v, 1000, 1000, 100, 100)).toEqual({ r0: 90, r1: 100, c0: 80, c1: 100 });
  });

  it("fits a view into new data, or falls back to the whole matrix", () => {
    expect(clampView({ r0: 90, r1: 100, c0: 0, c1: 10 }, 50, 50)).toEqual({ r0: 40, r1: 50, c0: 0, c1: 10 });
    expect(clampView({ r0: 0, r1: 100, c0: 0, c1: 10 }, 50, 50)).toEqual(fullView(50, 50));
  });
});

describe("tiles", () => {
  it("pools to screen resolution in powers of two", () => {
    expect(poolFor(300, 400)).toBe(1);
    expect(poolFor(800, 400)).toBe(2);
    expect(poolFor(32768, 400)).toBe(64);
    expect(poolFor(1000, 0)).toBe(512);
  });

  it("covers the view with grid tiles that stay inside the matrix", () => {
    const rows = 1000;
    const v = { r0: 200, r1: 700, c0: 0, c1: 300 };
    const tiles = tilesFor(v, 1, rows, rows);
    expect(tiles.map((t) => [t.i, t.j])).toEqual([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]);
    for (const t of tiles) {
      expect(t.block.q1).toBeLessThanOrEqual(rows);
      expect(t.block.q1 - t.block.q0).toBeLessThanOrEqual(TILE_CELLS);
      expect(t.block.q1 > v.r0 && t.block.q0 < v.r1 && t.block.k1 > v.c0 && t.block.k0 < v.c1).toBe(true);
    }
    expect(tiles.at(-1)!.block).toEqual({ q0: 512, q1: 768, k0: 256, k1: 512, pool: 1 });
    // a pooled level: one tile spans TILE_CELLS * pool cells
    expect(tilesFor(fullView(rows, rows), 4, rows, rows).map((t) => t.block)).toEqual([
      { q0: 0, q1: 1000, k0: 0, k1: 1000, pool: 4 },
    ]);
  });

  it("draws the whole matrix from one bounded request", () => {
    expect(overviewPool(32768, 32768, 400)).toBe(64); // 512 × 512 cells
    expect(overviewPool(100, 100, 400)).toBe(1);
    const p = overviewPool(1 << 20, 1 << 20, 1);
    expect(Math.ceil((1 << 20) / p) ** 2).toBeLessThanOrEqual(4 * TILE_CELLS * TILE_CELLS);
  });

  it("maps grid points to matrix points", () => {
    expect(pointAt({ r0: 100, r1: 200, c0: 0, c1: 50 }, 500, 400, 250, 100)).toEqual({ row: 125, col: 25 });
  });
});
