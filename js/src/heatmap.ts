/**
 * The focused heatmap: query tokens down, key tokens across, a colour bar, a tooltip. The
 * matrix is rasterised (one pixel per cell) into an offscreen backing canvas that the visible
 * canvas scales with `drawImage` (no smoothing) and labels; selection highlights go on a
 * transparent overlay, the only thing redrawn while the pointer moves (hidden while blank). A
 * head switch reuses the pixel buffer and label widths, and keeps the labels on the canvas
 * (`heatmap-canvas.ts` redraws only the cells and the colour bar).
 * Zoom and pan (`zoomctl.ts`) show a window of the matrix: the backing canvas, cropped.
 */
import { ThemeWatch, canvasPoint, pixelRatioOf, sizeCanvas } from "./canvas";
import { setHidden } from "./domwrite";
import { HeatmapCanvas } from "./heatmap-canvas";
import {
  cellTooltip,
  measureLabels,
  paintSelection,
  quote,
  renderSnapshot,
  type HeatmapContent,
  type Raster,
} from "./heatmap-paint";
import { cellAt, colLabelAt, rowLabelAt, type Cell } from "./hittest";
import { LabelWidthCache } from "./labelwidths";
import { heatmapLayout, viewLayout, type HeatmapLayout } from "./layout";
import { TiledPicture, makePicture } from "./picture";
import { inverseIndex } from "./scale";
import type { ColorScale } from "./types";
import { clampView, fullView, isFull, keptView, type Viewport } from "./zoom";
import { ZoomControl } from "./zoomctl";

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
  private readonly labelCache = new LabelWidthCache();
  /** Paints the visible canvas (whole, or the cells and colour bar when the labels stay). */
  private readonly surface: HeatmapCanvas;
  private availableWidth = 640;
  private availableHeight = Infinity;
  private selection: HeatmapSelection = { query: null, key: null, locked: false };
  private hoverCell: Cell | null = null;
  /** Read from CSS once, re-checked when idle (no style reads in a head switch's or a hover's frame). */
  private readonly theme: ThemeWatch;
  /** Out-of-document canvas for label chips on the overlay (see {@link renderChip}). */
  private readonly chip: HTMLCanvasElement;
  /** The displayed rows and columns on screen (zoom and pan; the whole matrix by default). */
  private view: Viewport = fullView(0, 0);
  private readonly zoom: ZoomControl;

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
    this.surface = new HeatmapCanvas(this.canvas);
    this.overlay = doc.createElement("canvas");
    this.overlay.className = "attnviz-overlay";
    this.overlay.setAttribute("aria-hidden", "true");
    this.overlay.hidden = true; // until there is a selection or a hovered cell to show
    this.chip = doc.createElement("canvas");
    this.theme = new ThemeWatch(this.canvas, () => {
      // a new font measures the labels anew; new colours repaint
      if (this.content) this.labelWidths = measureLabels(this.canvas, this.content, this.labelCache, this.theme.current.fontFamily);
      this.relayout();
    });
    wrap.append(this.canvas, this.overlay);
    host.appendChild(wrap);
    const signal = this.abort.signal;
    this.canvas.addEventListener("mousemove", (e) => this.onMove(e), { signal });
    this.canvas.addEventListener("mouseleave", () => this.onLeave(), { signal });
    this.canvas.addEventListener("click", (e) => this.onClick(e), { signal });
    this.zoom = new ZoomControl(this.canvas, host, {
      geometry: () => {
        const { layout, content } = this;
        if (!layout || !content) return null;
        const { rows, cols } = content.display.matrix;
        return { grid: layout.grid, width: layout.width, height: layout.height, view: this.view, rows, cols };
      },
      setView: (view) => this.setView(view),
    }, signal);
  }

  /** The zoom label and reset button (the builder places them in the panel's title row). */
  get zoomBar(): HTMLElement {
    return this.zoom.bar;
  }

  /** The window of displayed rows and columns on screen. */
  get viewport(): Viewport {
    return this.view;
  }

  /** Zoom or pan to `view` (displayed indices; clamped to the matrix). */
  setView(view: Viewport): void {
    if (!this.content) return;
    const { rows, cols } = this.content.display.matrix;
    const next = clampView(view, rows, cols);
    const v = this.view;
    if (next.r0 === v.r0 && next.r1 === v.r1 && next.c0 === v.c0 && next.c1 === v.c1) return;
    this.view = next;
    this.hoverCell = null;
    this.relayout();
  }

  /** Show new content: rasterise, lay out, paint. */
  setContent(content: HeatmapContent): void {
    const before = this.content?.display.matrix;
    const { rows, cols } = content.display.matrix;
    this.view = keptView(before, this.view, rows, cols); // a grown matrix (streaming) keeps its zoom
    this.content = content;
    this.raster = this.rasterize(content);
    this.labelWidths = measureLabels(this.canvas, content, this.labelCache, this.theme.current.fontFamily);
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
    const { rows, cols } = this.content.display.matrix;
    const { rows: rowLabelWidth, cols: colLabelWidth } = this.labelWidths;
    return heatmapLayout({ rows, cols, availableWidth: 0, rowLabelWidth, colLabelWidth, pixelRatio: pixelRatioOf(this.canvas) }).width;
  }

  /** Where the row of `query` is on the canvas (CSS px), or null when it is not on screen. */
  rowBand(query: number): { top: number; bottom: number } | null {
    const { layout, raster } = this;
    const row = layout && raster ? (raster.rowOfQuery[query] ?? -1) - this.view.r0 : -1;
    if (!layout || row < 0 || row >= layout.rows) return null;
    const top = layout.grid.y + row * layout.cellH;
    return { top, bottom: top + layout.cellH };
  }

  /** Whether content is painted. */
  get painted(): boolean {
    return this.content !== null && this.layout !== null;
  }

  /** Forget the content (blank canvas). */
  clear(): void {
    this.content = null;
    this.raster?.picture.dispose();
    this.raster = null;
    this.layout = null;
    this.surface.clear();
    setHidden(this.overlay, true);
  }

  /**
   * A new canvas with the heatmap, its labels, colour bar and a title, on white, at
   * `ratio` device pixels per CSS pixel (for PNG export). Null when nothing is shown.
   */
  snapshot(title: string, subtitle: string, ratio = 2): HTMLCanvasElement | null {
    const { content, raster } = this;
    if (!content || !raster) return null;
    const layout = this.computeLayout(content, ratio);
    const fontFamily = this.theme.current.fontFamily;
    return renderSnapshot(this.canvas.ownerDocument, { layout, content, raster, view: this.view }, fontFamily, title, subtitle, ratio);
  }

  destroy(): void {
    this.abort.abort();
    this.theme.dispose();
    this.raster?.picture.dispose();
    this.canvas.parentElement?.remove();
  }

  private rasterize(content: HeatmapContent): Raster {
    const picture = makePicture(this.canvas.ownerDocument, content, this.raster?.picture ?? null, () => this.paint());
    return {
      picture,
      rowOfQuery: inverseIndex(content.display.rowIndex, content.source.rows),
      colOfKey: inverseIndex(content.display.colIndex, content.source.cols),
    };
  }

  private computeLayout(content: HeatmapContent, ratio: number): HeatmapLayout {
    const { rows, cols } = content.display.matrix;
    const input = {
      rows,
      cols,
      availableWidth: this.availableWidth,
      availableHeight: this.availableHeight,
      rowLabelWidth: this.labelWidths.rows,
      colLabelWidth: this.labelWidths.cols,
      pixelRatio: ratio,
      fitAll: Boolean(content.tiled), // a long matrix fits the box, pooled; zooming shows more
    };
    return viewLayout(input, isFull(this.view, rows, cols) ? null : this.view);
  }

  private relayout(): void {
    if (!this.content) return;
    const layout = this.computeLayout(this.content, pixelRatioOf(this.canvas));
    this.layout = layout;
    // geometry for automation and tests (CSS pixels of the canvas)
    const { grid, rows, cols } = layout;
    const v = this.view;
    this.canvas.dataset.grid = JSON.stringify({ ...grid, rows, cols, r0: v.r0, c0: v.c0 });
    this.canvas.dataset.view = JSON.stringify(v);
    const matrix = this.content.display.matrix;
    this.zoom.update(v, matrix.rows, matrix.cols);
    this.paint();
  }

  private paint(): void {
    const { content, raster, layout } = this;
    if (!content || !raster || !layout) return;
    this.surface.paint({ layout, content, raster, theme: this.theme.current, view: this.view });
    // tile traffic, for automation and tests
    if (raster.picture instanceof TiledPicture) this.canvas.dataset.tiles = raster.picture.traffic;
    else delete this.canvas.dataset.tiles;
    this.paintOverlay();
  }

  private paintOverlay(): void {
    const { content, raster, layout } = this;
    if (!content || !raster || !layout) return;
    const row = this.selection.query === null ? -1 : (raster.rowOfQuery[this.selection.query] ?? -1);
    const col = this.selection.key === null ? -1 : (raster.colOfKey[this.selection.key] ?? -1);
    // a blank overlay is hidden: the browser copies every canvas on the page into each frame it
    // commits (software compositing), drawn on or not
    const blank = row < 0 && col < 0 && this.hoverCell === null;
    setHidden(this.overlay, blank);
    if (blank) return;
    const ctx = sizeCanvas(this.overlay, layout.width, layout.height, pixelRatioOf(this.canvas));
    if (!ctx) return;
    const selection = { row, col, locked: this.selection.locked, hover: this.hoverCell };
    paintSelection(ctx, layout, content, selection, this.theme.current, this.chip, pixelRatioOf(this.canvas), this.view);
  }

  private onMove(event: MouseEvent): void {
    const { content, layout } = this;
    if (!content || !layout) return;
    if (this.zoom.dragging) return;
    const { x, y } = canvasPoint(this.canvas, event, layout.width, layout.height);
    const cell = this.cellAt(x, y);
    const { rowIndex, colIndex } = content.display;
    if (cell) {
      const query = rowIndex[cell.row];
      const key = colIndex[cell.col];
      const moved = !this.hoverCell || this.hoverCell.row !== cell.row || this.hoverCell.col !== cell.col;
      this.hoverCell = cell;
      this.callbacks.tooltip(cellTooltip(content, this.raster!.picture, query, key, cell), event.clientX, event.clientY);
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
    const row = this.rowLabelAt(x, y);
    if (row !== null) {
      const query = rowIndex[row];
      this.callbacks.tooltip([`query ${query}: ${quote(content.rowLabels[query])}`], event.clientX, event.clientY);
      this.callbacks.hover(query, null);
      return;
    }
    const label = colLabelAt(layout, x, y);
    if (label !== null) {
      const key = colIndex[label + this.view.c0];
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
    if (!content || !layout || this.zoom.takeClickSuppression()) return;
    const { x, y } = canvasPoint(this.canvas, event, layout.width, layout.height);
    const cell = this.cellAt(x, y);
    const row = cell ? cell.row : this.rowLabelAt(x, y);
    if (row !== null) this.callbacks.click(content.display.rowIndex[row]);
  }

  /** The displayed cell (whole-matrix indices) under a canvas point, or null. */
  private cellAt(x: number, y: number): Cell | null {
    const cell = this.layout ? cellAt(this.layout, x, y) : null;
    return cell && { row: cell.row + this.view.r0, col: cell.col + this.view.c0 };
  }

  /** The displayed row whose label is under a canvas point, or null. */
  private rowLabelAt(x: number, y: number): number | null {
    const row = this.layout ? rowLabelAt(this.layout, x, y) : null;
    return row === null ? null : row + this.view.r0;
  }
}
