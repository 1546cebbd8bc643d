/**
 * The focused heatmap: query tokens down, key tokens across, a colour bar, a tooltip.
 *
 * Three layers keep it fast at 512 tokens: the matrix is rasterised once (one pixel per
 * cell, `putImageData`) into an offscreen backing canvas; the visible canvas scales it with
 * `drawImage` (no smoothing) and draws labels; selection highlights go on a transparent
 * overlay canvas, the only thing redrawn while the pointer moves.
 */
import {
  PRINT_THEME,
  canvasPoint,
  font,
  hatchPattern,
  pixelCanvas,
  pixelRatioOf,
  renderChip,
  sizeCanvas,
  themeOf,
  type Theme,
} from "./canvas";
import { COLORMAP_SIZE, VIRIDIS } from "./colormap";
import { cellAt, colLabelAt, rowLabelAt, type Cell } from "./hittest";
import {
  LABEL_FONT_PX,
  heatmapLayout,
  labelIndices,
  truncateLabel,
  type HeatmapLayout,
} from "./layout";
import { causalOffset, rasterize } from "./raster";
import { colorbarTicks, formatValue, inverseIndex, makeMapper, type DisplayMatrix } from "./scale";
import type { ColorScale, Matrix } from "./types";

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
  /** Caption of the colour bar, e.g. "sqrt" or "sqrt, row max". */
  scaleCaption: string;
}

/** The highlighted query row and key column (original indices). */
export interface HeatmapSelection {
  query: number | null;
  key: number | null;
  locked: boolean;
}

export interface HeatmapCallbacks {
  /** The pointer is over query `query` (and key `key`, null over a label), or left (null). */
  hover(query: number | null, key: number | null): void;
  click(query: number): void;
  tooltip(lines: string[] | null, clientX: number, clientY: number): void;
}

/** Canvas of one rasterised matrix with the index maps that go with it. */
interface Raster {
  backing: HTMLCanvasElement;
  rowOfQuery: Int32Array;
  colOfKey: Int32Array;
}

export class HeatmapView {
  /** The visible canvas (class `attnviz-heatmap`). */
  readonly canvas: HTMLCanvasElement;
  private readonly overlay: HTMLCanvasElement;
  private readonly abort = new AbortController();
  private content: HeatmapContent | null = null;
  private raster: Raster | null = null;
  private layout: HeatmapLayout | null = null;
  private labelWidths = { rows: 0, cols: 0 };
  private availableWidth = 640;
  private selection: HeatmapSelection = { query: null, key: null, locked: false };
  private hoverCell: Cell | null = null;
  /** Read from CSS at each full paint; overlays reuse it (no style reads while hovering). */
  private theme: Theme = PRINT_THEME;
  /** Out-of-document canvas for label chips on the overlay (see {@link renderChip}). */
  private readonly chip: HTMLCanvasElement;

  constructor(
    host: HTMLElement,
    private readonly callbacks: HeatmapCallbacks,
  ) {
    const doc = host.ownerDocument;
    const wrap = doc.createElement("div");
    wrap.className = "attnviz-canvas-wrap";
    this.canvas = doc.createElement("canvas");
    this.canvas.className = "attnviz-heatmap";
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "attention heatmap: query tokens down, key tokens across");
    this.overlay = doc.createElement("canvas");
    this.overlay.className = "attnviz-overlay";
    this.overlay.setAttribute("aria-hidden", "true");
    this.chip = doc.createElement("canvas");
    wrap.append(this.canvas, this.overlay);
    host.appendChild(wrap);
    const signal = this.abort.signal;
    this.canvas.addEventListener("mousemove", (e) => this.onMove(e), { signal });
    this.canvas.addEventListener("mouseleave", () => this.onLeave(), { signal });
    this.canvas.addEventListener("click", (e) => this.onClick(e), { signal });
  }

  /** Show new content: rasterise, lay out, paint. */
  setContent(content: HeatmapContent): void {
    this.content = content;
    this.raster = this.rasterize(content);
    this.labelWidths = this.measureLabels(content);
    this.hoverCell = null;
    this.relayout();
  }

  /** Change only the colour scale (re-rasterises; labels and layout stay). */
  setScale(scale: ColorScale, caption: string): void {
    if (!this.content) return;
    this.content = { ...this.content, scale, scaleCaption: caption };
    this.raster = this.rasterize(this.content);
    this.paint();
  }

  /** Fit the canvas to a new width (repaints; does not re-rasterise). */
  setAvailableWidth(width: number): void {
    const w = Math.max(240, Math.floor(width));
    if (w === this.availableWidth) return;
    this.availableWidth = w;
    if (this.content) this.relayout();
  }

  /** Highlight a query row and key column; redraws only the overlay. */
  setSelection(selection: HeatmapSelection): void {
    const s = this.selection;
    if (s.query === selection.query && s.key === selection.key && s.locked === selection.locked) return;
    this.selection = { ...selection };
    this.paintOverlay();
  }

  /** The narrowest the heatmap can be drawn (at its smallest cells), in CSS pixels. */
  get minimalWidth(): number {
    if (!this.content) return 0;
    return heatmapLayout({
      rows: this.content.display.matrix.rows,
      cols: this.content.display.matrix.cols,
      availableWidth: 0,
      rowLabelWidth: this.labelWidths.rows,
      colLabelWidth: this.labelWidths.cols,
      pixelRatio: pixelRatioOf(this.canvas),
    }).width;
  }

  /** Whether content is painted. */
  get painted(): boolean {
    return this.content !== null && this.layout !== null;
  }

  /** Forget the content (blank canvas). */
  clear(): void {
    this.content = null;
    this.raster = null;
    this.layout = null;
    sizeCanvas(this.canvas, 1, 1, 1);
    sizeCanvas(this.overlay, 1, 1, 1);
  }

  /**
   * A new canvas with the heatmap, its labels, colour bar and a title, on white, at
   * `ratio` device pixels per CSS pixel (for PNG export). Null when nothing is shown.
   */
  snapshot(title: string, subtitle: string, ratio = 2): HTMLCanvasElement | null {
    const { content, raster } = this;
    if (!content || !raster) return null;
    const layout = this.computeLayout(content, ratio);
    const pad = 16;
    const titleHeight = subtitle ? 44 : 28;
    const width = Math.max(layout.width + 2 * pad, 320);
    const height = layout.height + titleHeight + 2 * pad;
    const canvas = this.canvas.ownerDocument.createElement("canvas");
    const ctx = sizeCanvas(canvas, width, height, ratio);
    if (!ctx) return null;
    const theme: Theme = { ...PRINT_THEME, fontFamily: themeOf(this.canvas).fontFamily };
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
    paintHeatmap(ctx, layout, content, raster, theme);
    return canvas;
  }

  destroy(): void {
    this.abort.abort();
    this.canvas.parentElement?.remove();
  }

  private rasterize(content: HeatmapContent): Raster {
    const { display } = content;
    const { matrix, rowIndex, colIndex } = display;
    const causal = content.causal
      ? { rowIndex, colIndex, offset: causalOffset(content.source.rows, content.source.cols) }
      : null;
    const pixels = rasterize(matrix, { mapper: makeMapper(content.scale, display.vmax), causal });
    const backing = pixelCanvas(this.canvas.ownerDocument, pixels, matrix.cols, matrix.rows, this.raster?.backing);
    return {
      backing,
      rowOfQuery: inverseIndex(rowIndex, content.source.rows),
      colOfKey: inverseIndex(colIndex, content.source.cols),
    };
  }

  private measureLabels(content: HeatmapContent): { rows: number; cols: number } {
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return { rows: 60, cols: 60 };
    ctx.font = font(LABEL_FONT_PX, themeOf(this.canvas).fontFamily);
    const widest = (labels: readonly string[], index: Int32Array): number => {
      let max = 0;
      for (let i = 0; i < index.length; i++) {
        max = Math.max(max, ctx.measureText(truncateLabel(labels[index[i]] ?? "")).width);
      }
      return max;
    };
    return {
      rows: widest(content.rowLabels, content.display.rowIndex),
      cols: widest(content.colLabels, content.display.colIndex),
    };
  }

  private computeLayout(content: HeatmapContent, ratio: number): HeatmapLayout {
    return heatmapLayout({
      rows: content.display.matrix.rows,
      cols: content.display.matrix.cols,
      availableWidth: this.availableWidth,
      rowLabelWidth: this.labelWidths.rows,
      colLabelWidth: this.labelWidths.cols,
      pixelRatio: ratio,
    });
  }

  private relayout(): void {
    if (!this.content) return;
    const layout = this.computeLayout(this.content, pixelRatioOf(this.canvas));
    this.layout = layout;
    // geometry for automation and tests (CSS pixels of the canvas)
    const { grid, rows, cols } = layout;
    this.canvas.dataset.grid = JSON.stringify({ ...grid, rows, cols });
    this.paint();
  }

  private paint(): void {
    const { content, raster, layout } = this;
    if (!content || !raster || !layout) return;
    this.theme = themeOf(this.canvas);
    const ctx = sizeCanvas(this.canvas, layout.width, layout.height, pixelRatioOf(this.canvas));
    if (ctx) paintHeatmap(ctx, layout, content, raster, this.theme);
    this.paintOverlay();
  }

  private paintOverlay(): void {
    const { content, raster, layout } = this;
    if (!content || !raster || !layout) return;
    const ctx = sizeCanvas(this.overlay, layout.width, layout.height, pixelRatioOf(this.canvas));
    if (!ctx) return;
    const row = this.selection.query === null ? -1 : (raster.rowOfQuery[this.selection.query] ?? -1);
    const col = this.selection.key === null ? -1 : (raster.colOfKey[this.selection.key] ?? -1);
    const selection = { row, col, locked: this.selection.locked, hover: this.hoverCell };
    paintSelection(ctx, layout, content, selection, this.theme, this.chip, pixelRatioOf(this.canvas));
  }

  private onMove(event: MouseEvent): void {
    const { content, layout } = this;
    if (!content || !layout) return;
    const { x, y } = canvasPoint(this.canvas, event, layout.width, layout.height);
    const cell = cellAt(layout, x, y);
    const { rowIndex, colIndex } = content.display;
    if (cell) {
      const query = rowIndex[cell.row];
      const key = colIndex[cell.col];
      const moved = !this.hoverCell || this.hoverCell.row !== cell.row || this.hoverCell.col !== cell.col;
      this.hoverCell = cell;
      this.callbacks.tooltip(this.cellTooltip(query, key, cell), event.clientX, event.clientY);
      if (moved) {
        this.callbacks.hover(query, null);
        this.paintOverlay();
      }
      return;
    }
    if (this.hoverCell) {
      this.hoverCell = null;
      this.paintOverlay();
    }
    const row = rowLabelAt(layout, x, y);
    if (row !== null) {
      const query = rowIndex[row];
      this.callbacks.tooltip([`query ${query}: ${quote(content.rowLabels[query])}`], event.clientX, event.clientY);
      this.callbacks.hover(query, null);
      return;
    }
    const col = colLabelAt(layout, x, y);
    if (col !== null) {
      const key = colIndex[col];
      this.callbacks.tooltip([`key ${key}: ${quote(content.colLabels[key])}`], event.clientX, event.clientY);
      return;
    }
    this.callbacks.tooltip(null, 0, 0);
    this.callbacks.hover(null, null);
  }

  private onLeave(): void {
    this.callbacks.tooltip(null, 0, 0);
    this.callbacks.hover(null, null);
    if (this.hoverCell) {
      this.hoverCell = null;
      this.paintOverlay();
    }
  }

  private onClick(event: MouseEvent): void {
    const { content, layout } = this;
    if (!content || !layout) return;
    const { x, y } = canvasPoint(this.canvas, event, layout.width, layout.height);
    const cell = cellAt(layout, x, y);
    const row = cell ? cell.row : rowLabelAt(layout, x, y);
    if (row !== null) this.callbacks.click(content.display.rowIndex[row]);
  }

  private cellTooltip(query: number, key: number, cell: Cell): string[] {
    const content = this.content as HeatmapContent;
    const lines = [`${quote(content.rowLabels[query])} \u2192 ${quote(content.colLabels[key])}`];
    lines.push(`query ${query}, key ${key}`);
    if (content.causal && key > query + causalOffset(content.source.rows, content.source.cols)) {
      lines.push("masked (causal): this query cannot see this key");
      return lines;
    }
    const shown = content.display.matrix.data[cell.row * content.display.matrix.cols + cell.col];
    const raw = content.source.data[query * content.source.cols + key];
    lines.push(`attention ${formatValue(shown, 3)}`);
    if (Math.abs(shown - raw) > 1e-6 * Math.max(1, Math.abs(raw))) lines.push(`as extracted ${formatValue(raw, 3)}`);
    return lines;
  }
}

function quote(token: string | undefined): string {
  return `\u201c${token ?? ""}\u201d`;
}

/** Draw labels, the (hatched-under) heatmap and the colour bar for `layout`. */
function paintHeatmap(
  ctx: CanvasRenderingContext2D,
  layout: HeatmapLayout,
  content: HeatmapContent,
  raster: Raster,
  theme: Theme,
): void {
  const { grid } = layout;
  const { rowIndex, colIndex } = content.display;
  ctx.font = font(LABEL_FONT_PX, theme.fontFamily);
  ctx.textBaseline = "middle";

  // row (query) labels, right-aligned left of the grid
  ctx.textAlign = "right";
  for (const r of labelIndices(layout.rows, layout.rowLabelStep)) {
    const q = rowIndex[r];
    ctx.fillStyle = content.rowSpecial[q] ? theme.muted : theme.fg;
    ctx.fillText(truncateLabel(content.rowLabels[q] ?? ""), grid.x - 6, grid.y + (r + 0.5) * layout.cellH);
  }
  // column (key) labels, vertical above the grid
  ctx.textAlign = "left";
  for (const c of labelIndices(layout.cols, layout.colLabelStep)) {
    const k = colIndex[c];
    ctx.save();
    ctx.translate(grid.x + (c + 0.5) * layout.cellW, grid.y - 6);
    ctx.rotate(-Math.PI / 2);
    ctx.fillStyle = content.colSpecial[k] ? theme.muted : theme.fg;
    ctx.fillText(truncateLabel(content.colLabels[k] ?? ""), 0, 0);
    ctx.restore();
  }

  if (content.causal) {
    ctx.fillStyle = hatchPattern(ctx);
    ctx.fillRect(grid.x, grid.y, grid.w, grid.h);
  }
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(raster.backing, 0, 0, layout.cols, layout.rows, grid.x, grid.y, grid.w, grid.h);
  ctx.strokeStyle = theme.muted;
  ctx.globalAlpha = 0.5;
  ctx.lineWidth = 1;
  ctx.strokeRect(grid.x - 0.5, grid.y - 0.5, grid.w + 1, grid.h + 1);
  ctx.globalAlpha = 1;

  paintColorbar(ctx, layout, content, theme);
}

function paintColorbar(ctx: CanvasRenderingContext2D, layout: HeatmapLayout, content: HeatmapContent, theme: Theme): void {
  const bar = layout.colorbar;
  const steps = Math.max(1, Math.round(bar.h));
  for (let i = 0; i < steps; i++) {
    const t = 1 - (i + 0.5) / steps;
    const k = 4 * Math.min(COLORMAP_SIZE - 1, Math.floor(t * COLORMAP_SIZE));
    ctx.fillStyle = `rgb(${VIRIDIS[k]}, ${VIRIDIS[k + 1]}, ${VIRIDIS[k + 2]})`;
    ctx.fillRect(bar.x, bar.y + (i * bar.h) / steps, bar.w, bar.h / steps + 0.5);
  }
  ctx.strokeStyle = theme.muted;
  ctx.lineWidth = 1;
  ctx.strokeRect(bar.x - 0.5, bar.y - 0.5, bar.w + 1, bar.h + 1);
  ctx.fillStyle = theme.fg;
  ctx.font = font(LABEL_FONT_PX, theme.fontFamily);
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  let lastY = Infinity;
  const ticks = colorbarTicks(content.scale, content.display.vmax).sort((a, b) => b.t - a.t);
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

/** Draw the selection overlay: row and column outlines with their label chips, hovered cell. */
function paintSelection(
  ctx: CanvasRenderingContext2D,
  layout: HeatmapLayout,
  content: HeatmapContent,
  sel: { row: number; col: number; locked: boolean; hover: Cell | null },
  theme: Theme,
  scratch: HTMLCanvasElement,
  ratio: number,
): void {
  const { grid } = layout;
  const chipFont = font(LABEL_FONT_PX, theme.fontFamily, 600);
  const chip = (text: string): { w: number; h: number } => renderChip(scratch, text, chipFont, theme.accent, "#fff", ratio);
  const lineWidth = sel.locked ? 2 : 1.5;
  if (sel.row >= 0) {
    const y = grid.y + sel.row * layout.cellH;
    ctx.fillStyle = "rgba(255, 255, 255, 0.12)";
    ctx.fillRect(grid.x, y, grid.w, layout.cellH);
    ctx.strokeStyle = theme.accent;
    ctx.lineWidth = lineWidth;
    ctx.strokeRect(grid.x - lineWidth / 2, y - lineWidth / 2, grid.w + lineWidth, layout.cellH + lineWidth);
    const { w, h } = chip(truncateLabel(content.rowLabels[content.display.rowIndex[sel.row]] ?? ""));
    const top = Math.min(Math.max(y + layout.cellH / 2 - h / 2, 0), layout.height - h);
    ctx.drawImage(scratch, 0, 0, scratch.width, scratch.height, Math.max(0, grid.x - 4 - w), top, w, h);
  }
  if (sel.col >= 0) {
    const x = grid.x + sel.col * layout.cellW;
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
  const hover = sel.hover;
  if (hover && layout.cellW >= 3 && layout.cellH >= 3) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1;
    ctx.strokeRect(grid.x + hover.col * layout.cellW + 0.5, grid.y + hover.row * layout.cellH + 0.5, layout.cellW - 1, layout.cellH - 1);
  }
}
