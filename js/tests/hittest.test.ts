import { describe, expect, it } from "vitest";
import { cellAt, colLabelAt, rowLabelAt, thumbAt } from "../src/hittest";
import { heatmapLayout, overviewLayout, thumbRect } from "../src/layout";

describe("cellAt", () => {
  const layout = heatmapLayout({ rows: 10, cols: 20, availableWidth: 800, rowLabelWidth: 40, colLabelWidth: 40 });
  const { grid, cellW, cellH } = layout;

  it("maps the grid's corners and cell boundaries", () => {
    expect(cellAt(layout, grid.x, grid.y)).toEqual({ row: 0, col: 0 });
    expect(cellAt(layout, grid.x + cellW - 0.01, grid.y + cellH - 0.01)).toEqual({ row: 0, col: 0 });
    expect(cellAt(layout, grid.x + cellW, grid.y + cellH)).toEqual({ row: 1, col: 1 });
    expect(cellAt(layout, grid.x + grid.w - 0.01, grid.y + grid.h - 0.01)).toEqual({ row: 9, col: 19 });
  });

  it("returns null outside the grid (the far edges are exclusive)", () => {
    expect(cellAt(layout, grid.x - 0.01, grid.y)).toBeNull();
    expect(cellAt(layout, grid.x, grid.y - 0.01)).toBeNull();
    expect(cellAt(layout, grid.x + grid.w, grid.y)).toBeNull();
    expect(cellAt(layout, grid.x, grid.y + grid.h)).toBeNull();
  });

  it("finds rows and columns by their labels", () => {
    expect(rowLabelAt(layout, 5, grid.y + 2.5 * cellH)).toBe(2);
    expect(rowLabelAt(layout, grid.x + 1, grid.y)).toBeNull();
    expect(colLabelAt(layout, grid.x + 3.5 * cellW, 4)).toBe(3);
    expect(colLabelAt(layout, grid.x + 3.5 * cellW, grid.y)).toBeNull();
  });
});

describe("thumbAt", () => {
  const layout = overviewLayout({ layers: 12, heads: 12, aggregates: 3, targetWidth: 560 });

  it("finds thumbnails of heads and aggregates", () => {
    const r = thumbRect(layout, 3, 5);
    expect(thumbAt(layout, r.x, r.y)).toEqual({ row: 3, col: 5 });
    expect(thumbAt(layout, r.x + r.w - 0.01, r.y + r.h - 0.01)).toEqual({ row: 3, col: 5 });
    const mean = thumbRect(layout, 11, 12);
    expect(thumbAt(layout, mean.x + 1, mean.y + 1)).toEqual({ row: 11, col: 12 });
    const rollout = thumbRect(layout, 0, 14);
    expect(thumbAt(layout, rollout.x + rollout.w / 2, rollout.y + 2)).toEqual({ row: 0, col: 14 });
  });

  it("returns null in gaps, labels and outside", () => {
    const r = thumbRect(layout, 3, 5);
    expect(thumbAt(layout, r.x + r.w + 0.5, r.y + 1)).toBeNull(); // gap between heads
    const head = thumbRect(layout, 0, 11);
    expect(thumbAt(layout, head.x + head.w + layout.gap + 2, head.y + 1)).toBeNull(); // aggregate gap
    expect(thumbAt(layout, 2, r.y + 1)).toBeNull(); // row labels
    expect(thumbAt(layout, r.x + 1, 2)).toBeNull(); // column labels
    expect(thumbAt(layout, layout.width + 5, r.y + 1)).toBeNull();
    expect(thumbAt(layout, r.x + 1, layout.height + 5)).toBeNull();
  });
});
