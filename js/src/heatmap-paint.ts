/**
 * Drawing of the focused heatmap on a 2D context: labels, cells (scaled from the rasterised
 * backing canvas), colour bar, and the selection overlay. Stateless: the view in
 * `heatmap.ts` decides when to call these.
 */
import { PRINT_THEME, font, hatchPattern, renderChip, sizeCanvas, type Theme } from "./canvas";
import { GENERATED_COLOR, displayedBoundary, generated, paintBoundary, type Boundary } from "./boundary";
import { fillGradient, type GradientCache } from "./colorbar";
import type { Cell } from "./hittest";
import { sameIndex, type LabelExtent, type LabelWidthCache } from "./labelwidths";
import { LABEL_FONT_PX, labelIndices, truncateLabel, type HeatmapLayout } from "./layout";
import { causalOffset } from "./raster";
import { colorbarTicks, formatValue, type DisplayMatrix } from "./scale";
import type { ColorScale, Matrix } from "./types";
import type { Picture, TiledSource } from "./picture";
import type { Viewport } from "./zoom";

/** What the heatmap shows. Token indices are original (before hiding special tokens). */
export interface HeatmapContent {
  display: DisplayMatrix;
  /** The matrix before hiding and normalisation, for raw values in the tooltip. */
  source: Matrix;
  rowLabels: readonly string[];
  colLabels: readonly string[];
  rowSpecial: readonly boolean[];
  colSpecial: readonly boolean[];
  /** Draw the causal mask (keys after the query) as hatched, empty cells. */
  causal: boolean;
  scale: ColorScale;
  /** Depth of the log scale (`meta.vocabulary.log_decades`). */
  logDecades: number;
  /** Caption of the colour bar, e.g. "sqrt" or "sqrt, row max". */
  scaleCaption: string;
  /** A long matrix drawn from tiles (no dense data in `display`); null for a dense one. */
  tiled?: TiledSource | null;
  /** A generation: the first generated query and key (dashed line before them); absent: none. */
  boundary?: Boundary | null;
}

/** What draws the cells, with the maps from token indices to displayed rows and columns. */
export interface Raster {
  picture: Picture;
  rowOfQuery: Int32Array;
  colOfKey: Int32Array;
}

export function quote(token: string | undefined): string {
  return `\u201c${token ?? ""}\u201d`;
}

/**
 * One paint of the focused heatmap: `view` is the window of displayed rows and columns on
 * screen (the layout has its size); `fetch` false (an export) draws what is loaded and asks
 * for no tile; `gradient` keeps the colour bar's gradient between paints (a view's; none for
 * an export).
 */
export interface HeatmapPaint {
  layout: HeatmapLayout;
  content: HeatmapContent;
  raster: Raster;
  theme: Theme;
  view: Viewport;
  fetch?: boolean;
  gradient?: GradientCache | null;
}

/** Draw labels, the (hatched-under) heatmap and the colour bar. */
export function paintHeatmap(ctx: CanvasRenderingContext2D, paint: HeatmapPaint): void {
  paintLabels(ctx, paint.layout, paint.content, paint.theme, paint.view);
  paintCells(ctx, paint);
}

/** CSS px between the grid and its labels; {@link clearCells} leaves all but 2 of them alone. */
const LABEL_GAP = 6;

/** The row labels (left of the grid) and column labels (above it), in the label font. */
export function paintLabels(ctx: CanvasRenderingContext2D, layout: HeatmapLayout, content: HeatmapContent, theme: Theme, view: Viewport): void {
  const { grid } = layout;
  const { rowIndex, colIndex } = content.display;
  ctx.font = font(LABEL_FONT_PX, theme.fontFamily);
  ctx.textBaseline = "middle";

  // row (query) labels, right-aligned left of the grid
  ctx.textAlign = "right";
  for (const r of labelIndices(layout.rows, layout.rowLabelStep)) {
    const q = rowIndex[view.r0 + r];
    ctx.fillStyle = content.rowSpecial[q] ? theme.muted : generated(q, content.boundary?.query) ? GENERATED_COLOR : theme.fg;
    ctx.fillText(truncateLabel(content.rowLabels[q] ?? ""), grid.x - LABEL_GAP, grid.y + (r + 0.5) * layout.cellH);
  }
  // column (key) labels, vertical above the grid
  ctx.textAlign = "left";
  for (const c of labelIndices(layout.cols, layout.colLabelStep)) {
    const k = colIndex[view.c0 + c];
    ctx.save();
    ctx.translate(grid.x + (c + 0.5) * layout.cellW, grid.y - LABEL_GAP);
    ctx.rotate(-Math.PI / 2);
    ctx.fillStyle = content.colSpecial[k] ? theme.muted : generated(k, content.boundary?.key) ? GENERATED_COLOR : theme.fg;
    ctx.fillText(truncateLabel(content.colLabels[k] ?? ""), 0, 0);
    ctx.restore();
  }
}

/**
 * Everything but the labels: the hatch under a causal mask, the cells, the grid's border, a
 * generation's boundary and the colour bar; all of it lies right of and below the labels.
 */
export function paintCells(ctx: CanvasRenderingContext2D, paint: HeatmapPaint): void {
  const { layout, content, raster, theme, view, fetch = true, gradient = null } = paint;
  const { grid } = layout;
  const { rowIndex, colIndex } = content.display;
  // the hatch tile is scaled by the pixel ratio smoothly, as on a fresh canvas (a repaint that
  // keeps the labels finds the last paint's state)
  ctx.imageSmoothingEnabled = true;
  if (content.causal) {
    ctx.fillStyle = hatchPattern(ctx);
    ctx.fillRect(grid.x, grid.y, grid.w, grid.h);
  }
  ctx.imageSmoothingEnabled = false;
  raster.picture.draw(ctx, view, grid, ctx.getTransform?.().a || 1, fetch);
  ctx.strokeStyle = theme.muted;
  ctx.globalAlpha = 0.5;
  ctx.lineWidth = 1;
  ctx.strokeRect(grid.x - 0.5, grid.y - 0.5, grid.w + 1, grid.h + 1);
  ctx.globalAlpha = 1;
  const { boundary } = content;
  if (boundary) paintBoundary(ctx, layout, view, displayedBoundary(rowIndex, boundary.query), displayedBoundary(colIndex, boundary.key));

  paintColorbar(ctx, layout, content, theme, gradient);
}

/**
 * Clear what {@link paintCells} draws, keeping the labels: the canvas from 2 CSS px left of and
 * above the grid to its right and bottom edges, snapped outwards to device pixels (`ratio`), so
 * no half-cleared pixel is left for the next paint to blend with.
 */
export function clearCells(ctx: CanvasRenderingContext2D, layout: HeatmapLayout, ratio: number): void {
  const x = Math.floor((layout.grid.x - 2) * ratio) / ratio;
  const y = Math.floor((layout.grid.y - 2) * ratio) / ratio;
  ctx.clearRect(x, y, layout.width - x + 1, layout.height - y + 1);
}

/** What the labels of a paint are drawn from, to tell whether the next paint can keep them. */
export interface LabelInputs {
  /** Geometry, window, theme and pixel ratio, as text. */
  readonly key: string;
  /** Label texts, special flags and boundary, compared by identity. */
  readonly refs: readonly unknown[];
  /** Displayed rows and columns (original indices), compared by value: each display makes new arrays. */
  readonly rowIndex: Int32Array;
  readonly colIndex: Int32Array;
}

/** The inputs of {@link paintLabels} for this layout, content, window, theme and ratio. */
export function labelInputs(layout: HeatmapLayout, content: HeatmapContent, view: Viewport, theme: Theme, ratio: number): LabelInputs {
  const { grid } = layout;
  const key = [
    layout.width, layout.height, grid.x, grid.y, grid.w, grid.h, layout.rows, layout.cols, layout.cellW, layout.cellH,
    layout.rowLabelStep, layout.colLabelStep, view.r0, view.c0, theme.fg, theme.muted, theme.fontFamily, ratio,
  ].join("|");
  const b = content.boundary;
  const refs = [content.rowLabels, content.colLabels, content.rowSpecial, content.colSpecial, b?.query, b?.key];
  return { key, refs, rowIndex: content.display.rowIndex, colIndex: content.display.colIndex };
}

/** Whether labels painted from `a` are those `b` would paint. */
export function sameLabels(a: LabelInputs | null, b: LabelInputs): boolean {
  return (
    a !== null &&
    a.key === b.key &&
    a.refs.every((ref, i) => Object.is(ref, b.refs[i])) &&
    sameIndex(a.rowIndex, b.rowIndex) &&
    sameIndex(a.colIndex, b.colIndex)
  );
}

function paintColorbar(
  ctx: CanvasRenderingContext2D,
  layout: HeatmapLayout,
  content: HeatmapContent,
  theme: Theme,
  gradient: GradientCache | null,
): void {
  const bar = layout.colorbar;
  if (gradient) gradient.paint(ctx, bar);
  else fillGradient(ctx, bar);
  ctx.strokeStyle = theme.muted;
  ctx.lineWidth = 1;
  ctx.strokeRect(bar.x - 0.5, bar.y - 0.5, bar.w + 1, bar.h + 1);
  ctx.fillStyle = theme.fg;
  ctx.font = font(LABEL_FONT_PX, theme.fontFamily);
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  let lastY = Infinity;
  const ticks = colorbarTicks(content.scale, content.display.vmax, content.logDecades).sort((a, b) => b.t - a.t);
  for (const tick of ticks) {
    const y = bar.y + (1 - tick.t) * bar.h;
    if (Math.abs(lastY - y) < LABEL_FONT_PX + 1 && tick.t !== 1) continue;
    ctx.fillRect(bar.x + bar.w, Math.round(y) - 0.5, 3, 1);
    ctx.fillText(formatValue(tick.value), bar.x + bar.w + 5, Math.min(Math.max(y, bar.y + 4), bar.y + bar.h - 4));
    lastY = y;
  }
  if (content.causal) {
    const y = bar.y + bar.h + 8;
    ctx.fillStyle = hatchPattern(ctx);
    ctx.fillRect(bar.x, y, bar.w, 10);
    ctx.fillStyle = theme.muted;
    ctx.fillText("masked", bar.x + bar.w + 5, y + 5);
  }
  ctx.fillStyle = theme.muted;
  ctx.textBaseline = "alphabetic";
  ctx.save();
  ctx.translate(bar.x - 3, bar.y + bar.h);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(content.scaleCaption, 0, 0);
  ctx.restore();
}

/**
 * Draw the selection overlay: row and column outlines with their label chips, hovered cell.
 * Rows, columns and the hovered cell are displayed indices (-1: none); those outside `view`
 * are not drawn.
 */
export function paintSelection(
  ctx: CanvasRenderingContext2D,
  layout: HeatmapLayout,
  content: HeatmapContent,
  sel: { row: number; col: number; locked: boolean; hover: Cell | null },
  theme: Theme,
  scratch: HTMLCanvasElement,
  ratio: number,
  view: Viewport,
): void {
  const { grid } = layout;
  const row = sel.row >= view.r0 && sel.row < view.r1 ? sel.row - view.r0 : -1;
  const col = sel.col >= view.c0 && sel.col < view.c1 ? sel.col - view.c0 : -1;
  const chipFont = font(LABEL_FONT_PX, theme.fontFamily, 600);
  const chip = (text: string): { w: number; h: number } => renderChip(scratch, text, chipFont, theme.accent, "#fff", ratio);
  const lineWidth = sel.locked ? 2 : 1.5;
  if (row >= 0) {
    const y = grid.y + row * layout.cellH;
    ctx.fillStyle = "rgba(255, 255, 255, 0.12)";
    ctx.fillRect(grid.x, y, grid.w, layout.cellH);
    ctx.strokeStyle = theme.accent;
    ctx.lineWidth = lineWidth;
    ctx.strokeRect(grid.x - lineWidth / 2, y - lineWidth / 2, grid.w + lineWidth, layout.cellH + lineWidth);
    const { w, h } = chip(truncateLabel(content.rowLabels[content.display.rowIndex[sel.row]] ?? ""));
    const top = Math.min(Math.max(y + layout.cellH / 2 - h / 2, 0), layout.height - h);
    ctx.drawImage(scratch, 0, 0, scratch.width, scratch.height, Math.max(0, grid.x - 4 - w), top, w, h);
  }
  if (col >= 0) {
    const x = grid.x + col * layout.cellW;
    ctx.strokeStyle = theme.accent;
    ctx.lineWidth = 1.5;
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(x - 0.75, grid.y - 0.75, layout.cellW + 1.5, grid.h + 1.5);
    ctx.setLineDash([]);
    const { w, h } = chip(truncateLabel(content.colLabels[content.display.colIndex[sel.col]] ?? ""));
    ctx.save();
    ctx.translate(x + layout.cellW / 2, grid.y - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.drawImage(scratch, 0, 0, scratch.width, scratch.height, 0, -h / 2, w, h);
    ctx.restore();
  }
  const hover = sel.hover && { row: sel.hover.row - view.r0, col: sel.hover.col - view.c0 };
  if (hover && layout.cellW >= 3 && layout.cellH >= 3) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1;
    ctx.strokeRect(grid.x + hover.col * layout.cellW + 0.5, grid.y + hover.row * layout.cellH + 0.5, layout.cellW - 1, layout.cellH - 1);
  }
}

/** Tooltip lines of the cell (`query`, `key`), displayed at `cell` (whole-matrix display indices). */
export function cellTooltip(content: HeatmapContent, picture: Picture, query: number, key: number, cell: Cell): string[] {
  const lines = [`${quote(content.rowLabels[query])} \u2192 ${quote(content.colLabels[key])}`];
  lines.push(`query ${query}, key ${key}`);
  if (content.causal && key > query + causalOffset(content.source.rows, content.source.cols)) {
    lines.push("masked (causal): this query cannot see this key");
    return lines;
  }
  const shown = picture.value(cell.row, cell.col);
  if (!shown) return [...lines, "loading\u2026"];
  if (shown.pool > 1) {
    lines.push(`max ${formatValue(shown.value, 3)} over ${shown.pool} \u00d7 ${shown.pool} cells (zoom in for each)`);
    return lines;
  }
  lines.push(`attention ${formatValue(shown.value, 3)}`);
  if (content.source.data.length === 0) return lines; // tiled: shown as extracted
  const raw = content.source.data[query * content.source.cols + key];
  const value = shown.value;
  if (Math.abs(value - raw) > 1e-6 * Math.max(1, Math.abs(raw))) lines.push(`as extracted ${formatValue(raw, 3)}`);
  return lines;
}

/**
 * A new canvas with the heatmap as shown, its labels, colour bar and a title, on white, at
 * `ratio` device pixels per CSS pixel (PNG export).
 */
export function renderSnapshot(
  doc: Document,
  shown: { layout: HeatmapLayout; content: HeatmapContent; raster: Raster; view: Viewport },
  fontFamily: string,
  title: string,
  subtitle: string,
  ratio: number,
): HTMLCanvasElement | null {
  const { layout } = shown;
  const pad = 16;
  const titleHeight = subtitle ? 44 : 28;
  const width = Math.max(layout.width + 2 * pad, 320);
  const height = layout.height + titleHeight + 2 * pad;
  const canvas = doc.createElement("canvas");
  const ctx = sizeCanvas(canvas, width, height, ratio);
  if (!ctx) return null;
  const theme: Theme = { ...PRINT_THEME, fontFamily };
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = theme.fg;
  ctx.textBaseline = "alphabetic";
  ctx.textAlign = "left";
  ctx.font = font(15, theme.fontFamily, 600);
  ctx.fillText(title, pad, pad + 14);
  if (subtitle) {
    ctx.fillStyle = theme.muted;
    ctx.font = font(11, theme.fontFamily);
    ctx.fillText(truncateLabel(subtitle, 120), pad, pad + 32);
  }
  ctx.translate(pad, pad + titleHeight);
  paintHeatmap(ctx, { layout, content: shown.content, raster: shown.raster, theme, view: shown.view, fetch: false }); // what is on screen, no new tiles
  return canvas;
}

/**
 * Widest row and column label of `content` in `fontFamily`, in CSS px (a sample of them at
 * length), from `cache` when the labels, the displayed tokens and the font are those it last measured.
 */
export function measureLabels(canvas: HTMLCanvasElement, content: HeatmapContent, cache: LabelWidthCache, fontFamily: string): LabelExtent {
  const ctx = canvas.getContext("2d");
  if (!ctx) return { rows: 60, cols: 60 };
  const labelFont = font(LABEL_FONT_PX, fontFamily);
  const { rowLabels, colLabels, display } = content;
  const source = { rowLabels, colLabels, rowIndex: display.rowIndex, colIndex: display.colIndex };
  let fontSet = false; // set only on a miss: a hit touches the context not at all
  return cache.extent(source, labelFont, (text) => {
    if (!fontSet) ctx.font = labelFont;
    fontSet = true;
    return ctx.measureText(text).width;
  });
}
