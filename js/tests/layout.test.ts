import { describe, expect, it } from "vitest";
import {
  MAX_CELL_PX,
  READABLE_CELL_PX,
  blockRange,
  cellSize,
  CHROME_PX,
  DEFAULT_MAX_HEIGHT_PX,
  canvasHeight,
  heatmapLayout,
  labelIndices,
  labelStep,
  niceCeil,
  overviewLayout,
  placeTooltip,
  pooledIndex,
  thumbRect,
  truncateLabel,
} from "../src/layout";

const input = { rowLabelWidth: 50, colLabelWidth: 50, pixelRatio: 1 };

describe("label thinning", () => {
  it("draws every label when cells are tall enough", () => {
    expect(labelStep(12)).toBe(1);
    expect(labelStep(20)).toBe(1);
  });

  it("thins to 1-2-5 steps as cells shrink", () => {
    expect(labelStep(11)).toBe(2);
    expect(labelStep(5)).toBe(5);
    expect(labelStep(2)).toBe(10);
    expect(labelStep(1)).toBe(20);
    expect(labelStep(0.5)).toBe(50);
    expect(labelIndices(7, 3)).toEqual([0, 3, 6]);
  });

  it("rounds up to 1, 2, 5, 10, …", () => {
    expect([0.3, 1, 1.1, 2, 3, 6, 11, 49, 51].map(niceCeil)).toEqual([1, 1, 2, 2, 5, 10, 20, 50, 100]);
  });

  it("cuts long labels with an ellipsis", () => {
    expect(truncateLabel("short")).toBe("short");
    expect(truncateLabel("abcdefghijklmnopqrstuvwxyz", 6)).toBe("abcde\u2026");
    expect(Array.from(truncateLabel("\u{1F600}".repeat(20), 4))).toHaveLength(4); // by code point
  });
});

describe("heatmapLayout", () => {
  it("keeps every label readable up to 128 tokens, even past the width", () => {
    const layout = heatmapLayout({ ...input, rows: 128, cols: 128, availableWidth: 600 });
    expect(layout.cellH).toBeGreaterThanOrEqual(READABLE_CELL_PX);
    expect(layout.cellW).toBeGreaterThanOrEqual(READABLE_CELL_PX);
    expect(layout.rowLabelStep).toBe(1);
    expect(layout.colLabelStep).toBe(1);
    expect(layout.width).toBeGreaterThan(600);
  });

  it("fits 512 tokens to the width with thinned labels", () => {
    const layout = heatmapLayout({ ...input, rows: 512, cols: 512, availableWidth: 900 });
    expect(layout.width).toBeLessThanOrEqual(900);
    expect(layout.grid.w).toBeCloseTo(512 * layout.cellW);
    expect(layout.rowLabelStep).toBeGreaterThan(1);
    expect(layout.cellW).toBe(layout.cellH);
  });

  it("caps the cell size for short inputs", () => {
    const layout = heatmapLayout({ ...input, rows: 5, cols: 5, availableWidth: 2000 });
    expect(layout.cellW).toBe(MAX_CELL_PX);
  });

  it("never draws a cell under one device pixel", () => {
    const layout = heatmapLayout({ ...input, rows: 4000, cols: 4000, availableWidth: 500, pixelRatio: 2 });
    expect(layout.cellW).toBe(0.5);
  });

  it("places the colour bar right of the grid and inside the canvas", () => {
    const layout = heatmapLayout({ ...input, rows: 3, cols: 40, availableWidth: 800 });
    expect(layout.colorbar.x).toBeGreaterThan(layout.grid.x + layout.grid.w);
    expect(layout.colorbar.x + layout.colorbar.w).toBeLessThanOrEqual(layout.width);
    expect(layout.colorbar.y + layout.colorbar.h).toBeLessThanOrEqual(layout.height);
    expect(layout.grid.y + layout.grid.h).toBeLessThanOrEqual(layout.height);
  });

  it("leaves room for labels, capped", () => {
    const wide = heatmapLayout({ rows: 3, cols: 3, availableWidth: 800, rowLabelWidth: 500, colLabelWidth: 20 });
    expect(wide.grid.x).toBeLessThan(140);
    expect(wide.grid.y).toBeLessThan(wide.grid.x);
  });
});

describe("cellSize", () => {
  it("snaps cells of 3+ device pixels to whole device pixels", () => {
    expect(cellSize(7.6, 500, 1)).toBe(7);
    expect(cellSize(7.6, 500, 2)).toBe(7.5);
    expect(cellSize(1.7, 500, 1)).toBe(1.7); // too small to snap without shrinking a lot
    expect(cellSize(0.2, 500, 1)).toBe(1);
  });
});

describe("overviewLayout", () => {
  const layout = overviewLayout({ layers: 12, heads: 12, aggregates: 3, targetWidth: 560 });

  it("fits 12 × 15 thumbnails to the target width", () => {
    expect(layout.columns).toBe(15);
    expect(layout.width).toBeLessThanOrEqual(560);
    expect(layout.thumb).toBeGreaterThanOrEqual(28);
    const last = thumbRect(layout, 11, 14);
    expect(last.x + last.w).toBeLessThanOrEqual(layout.width);
    expect(last.y + last.h).toBeLessThanOrEqual(layout.height);
  });

  it("separates aggregates from heads by an extra gap", () => {
    const head = thumbRect(layout, 0, 11);
    const mean = thumbRect(layout, 0, 12);
    expect(mean.x - (head.x + head.w)).toBe(layout.gap + layout.aggregateGap);
  });

  it("keeps thumbnails at least 14 px for big models", () => {
    const big = overviewLayout({ layers: 32, heads: 32, aggregates: 3, targetWidth: 560 });
    expect(big.thumb).toBe(14);
    expect(big.rotateAggregateLabels).toBe(true);
  });
});

describe("fitting a height cap", () => {
  it("leaves the canvases what the chrome does not take", () => {
    expect(canvasHeight(DEFAULT_MAX_HEIGHT_PX)).toBe(DEFAULT_MAX_HEIGHT_PX - CHROME_PX);
    expect(canvasHeight(100)).toBe(200); // never below the minimum
    expect(canvasHeight(NaN)).toBe(Infinity); // no cap (max-height: none)
  });

  it("fits the heatmap's cells to the height as well as the width", () => {
    const labels = { rowLabelWidth: 40, colLabelWidth: 40 };
    const free = heatmapLayout({ rows: 14, cols: 14, availableWidth: 900, ...labels });
    const capped = heatmapLayout({ rows: 14, cols: 14, availableWidth: 900, availableHeight: 300, ...labels });
    expect(free.height).toBeGreaterThan(300);
    expect(capped.height).toBeLessThanOrEqual(300);
    expect(capped.cellH).toBeGreaterThanOrEqual(12);
    // 100 tokens stay readable (12 px cells): taller than the cap, the panel scrolls
    const long = heatmapLayout({ rows: 100, cols: 100, availableWidth: 1600, availableHeight: 300, ...labels });
    expect(long.cellH).toBe(12);
  });

  it("fits the overview's thumbnails to the height, down to 14 px", () => {
    const capped = overviewLayout({ layers: 12, heads: 12, aggregates: 3, targetWidth: 560, targetHeight: 364 });
    expect(capped.height).toBeLessThanOrEqual(364);
    const free = overviewLayout({ layers: 12, heads: 12, aggregates: 3, targetWidth: 560 });
    expect(free.height).toBeGreaterThan(364);
    expect(capped.thumb).toBeLessThan(free.thumb);
    const deep = overviewLayout({ layers: 48, heads: 12, aggregates: 3, targetWidth: 560, targetHeight: 364 });
    expect(deep.thumb).toBe(14);
  });
});

describe("pooledIndex", () => {
  it("maps queries onto pooled thumbnail rows", () => {
    expect(pooledIndex(0, 512, 64)).toBe(0);
    expect(pooledIndex(7, 512, 64)).toBe(0);
    expect(pooledIndex(8, 512, 64)).toBe(1);
    expect(pooledIndex(511, 512, 64)).toBe(63);
    expect(pooledIndex(9, 10, 10)).toBe(9);
    expect(pooledIndex(99, 10, 10)).toBe(9);
  });

  it("agrees with Python's block edges when blocks are uneven", () => {
    // 100 queries into 64 rows: blocks start at floor(r * 100 / 64) = 0, 1, 3, 4, 6, ...
    const starts = Array.from({ length: 64 }, (_, r) => Math.floor((r * 100) / 64));
    for (let q = 0; q < 100; q++) {
      const expected = starts.filter((s) => s <= q).length - 1;
      expect(pooledIndex(q, 100, 64)).toBe(expected);
    }
    expect(blockRange(0, 100, 64)).toEqual([0, 0]);
    expect(blockRange(1, 100, 64)).toEqual([1, 2]);
    expect(blockRange(63, 100, 64)).toEqual([98, 99]);
  });
});

describe("placeTooltip", () => {
  it("sits below-right of the pointer and flips at the edges", () => {
    expect(placeTooltip(10, 10, 100, 40, 800, 600)).toEqual({ x: 24, y: 24 });
    expect(placeTooltip(780, 590, 100, 40, 800, 600)).toEqual({ x: 666, y: 536 });
    expect(placeTooltip(5, 5, 1000, 40, 800, 600).x).toBe(0); // too wide either way: clamped
  });
});
