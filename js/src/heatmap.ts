/**
 * The focused heatmap: query tokens down, key tokens across, a colour bar, a tooltip.
 *
 * Three layers keep it fast at 512 tokens: the matrix is rasterised once (one pixel per
 * cell, `putImageData`) into an offscreen backing canvas; the visible canvas scales it with
 * `drawImage` (no smoothing) and draws labels; selection highlights go on a transparent
 * overlay canvas, the only thing redrawn while the pointer moves.
 */
import { PRINT_THEME, canvasPoint, font, pixelCanvas, pixelRatioOf, sizeCanvas, themeOf, type Theme } from "./canvas";
import { paintHeatmap, paintSelection, quote, type HeatmapContent, type Raster } from "./heatmap-paint";
import { cellAt, colLabelAt, rowLabelAt, type Cell } from "./hittest";
import { LABEL_FONT_PX, heatmapLayout, truncateLabel, type HeatmapLayout } from "./layout";
import { causalOffset, rasterize } from "./raster";
import { formatValue, inverseIndex, makeMapper } from "./scale";
import type { ColorScale } from "./types";

export type { HeatmapContent } from "./heatmap-paint";

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
  private availableHeight = Infinity;
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
    if (!this.content || (this.content.scale === scale && this.content.scaleCaption === caption)) return;
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

  /** Fit the canvas to a height, where the readable minimum allows (repaints). */
  setAvailableHeight(height: number): void {
    if (height === this.availableHeight) return;
    this.availableHeight = height;
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
    const pixels = rasterize(matrix, { mapper: makeMapper(content.scale, display.vmax, content.logDecades), causal });
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
      availableHeight: this.availableHeight,
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
