/**
 * Pointer position (CSS pixels, relative to the canvas) → what is under it. Cells cover
 * half-open intervals `[x0, x0 + w)`, so a boundary pixel belongs to the cell it starts.
 */
import type { HeatmapLayout, OverviewLayout } from "./layout";
import { thumbRect } from "./layout";

/** A cell of the focused heatmap (displayed row and column). */
export interface Cell {
  row: number;
  col: number;
}

/** The heatmap cell under `(x, y)`, or null outside the grid. */
export function cellAt(layout: HeatmapLayout, x: number, y: number): Cell | null {
  const { grid } = layout;
  if (x < grid.x || y < grid.y || x >= grid.x + grid.w || y >= grid.y + grid.h) return null;
  const col = Math.min(layout.cols - 1, Math.floor((x - grid.x) / layout.cellW));
  const row = Math.min(layout.rows - 1, Math.floor((y - grid.y) / layout.cellH));
  return { row, col };
}

/** The row whose label (left of the grid) is under `(x, y)`, or null. */
export function rowLabelAt(layout: HeatmapLayout, x: number, y: number): number | null {
  const { grid } = layout;
  if (x < 0 || x >= grid.x || y < grid.y || y >= grid.y + grid.h) return null;
  return Math.min(layout.rows - 1, Math.floor((y - grid.y) / layout.cellH));
}

/** The column whose label (above the grid) is under `(x, y)`, or null. */
export function colLabelAt(layout: HeatmapLayout, x: number, y: number): number | null {
  const { grid } = layout;
  if (y < 0 || y >= grid.y || x < grid.x || x >= grid.x + grid.w) return null;
  return Math.min(layout.cols - 1, Math.floor((x - grid.x) / layout.cellW));
}

/** A thumbnail of the overview: layer position (row) and column (head or aggregate). */
export interface Thumb {
  row: number;
  col: number;
}

/** The thumbnail under `(x, y)`, or null over labels and gaps. */
export function thumbAt(layout: OverviewLayout, x: number, y: number): Thumb | null {
  const step = layout.thumb + layout.gap;
  const row = Math.floor((y - layout.top) / step);
  if (row < 0 || row >= layout.layers) return null;
  let col = Math.floor((x - layout.left) / step);
  if (x - layout.left >= layout.heads * step) {
    col = layout.heads + Math.floor((x - layout.left - layout.heads * step - layout.aggregateGap) / step);
  }
  if (col < 0 || col >= layout.columns) return null;
  const r = thumbRect(layout, row, col);
  if (x < r.x || x >= r.x + r.w || y < r.y || y >= r.y + r.h) return null;
  return { row, col };
}
