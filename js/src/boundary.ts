/**
 * The prompt | generated boundary on the focused heatmap: a dashed orange line before the
 * first generated query row (and key column, where keys are the same tokens), and the labels
 * of generated tokens in orange, as the static plots draw them (`attnviz_widget/generation/axes.py`,
 * colour `#d9480f`).
 */
import type { HeatmapLayout } from "./layout";
import type { Viewport } from "./zoom";

/** Colour of generated tokens and their boundary, shared with the plots. */
export const GENERATED_COLOR = "#d9480f";

/** First generated token on each axis (original indices; null: that axis holds none). */
export interface Boundary {
  query: number | null;
  key: number | null;
}

/** Whether token `index` is generated on an axis whose first generated token is `first` (null/undefined: none). */
export function generated(index: number, first: number | null | undefined): boolean {
  return first !== null && first !== undefined && index >= first;
}

/**
 * Displayed position of the boundary before original index `first`: the first displayed
 * row whose original index is at least `first` (`index` maps displayed → original). Null
 * when no displayed row is generated or none precedes them.
 */
export function displayedBoundary(index: Int32Array, first: number | null): number | null {
  if (first === null) return null;
  for (let r = 0; r < index.length; r++) if (index[r] >= first) return r > 0 ? r : null;
  return null;
}

/** Draw the boundary lines (displayed positions, null for none) inside the grid of `layout`, as far as `view` shows them. */
export function paintBoundary(
  ctx: CanvasRenderingContext2D,
  layout: HeatmapLayout,
  view: Viewport,
  row: number | null,
  col: number | null,
): void {
  const { grid } = layout;
  ctx.save();
  ctx.strokeStyle = GENERATED_COLOR;
  ctx.lineWidth = 1.5;
  ctx.setLineDash([5, 3]);
  ctx.beginPath();
  if (row !== null && row >= view.r0 && row <= view.r1) {
    const y = grid.y + (row - view.r0) * layout.cellH;
    ctx.moveTo(grid.x, y);
    ctx.lineTo(grid.x + grid.w, y);
  }
  if (col !== null && col >= view.c0 && col <= view.c1) {
    const x = grid.x + (col - view.c0) * layout.cellW;
    ctx.moveTo(x, grid.y);
    ctx.lineTo(x, grid.y + grid.h);
  }
  ctx.stroke();
  ctx.restore();
}
