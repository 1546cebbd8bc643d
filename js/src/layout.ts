/**
 * Geometry of the canvases, in CSS pixels: heatmap cell sizes, label margins and thinning,
 * the colour bar, the overview grid, and tooltip placement. Pure functions: measured label
 * widths come in as numbers, so everything here is testable without a canvas.
 */

/** An axis-aligned rectangle. */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The widget's default height cap (CSS `--attnviz-max-height`): marimo caps a cell's output near 610 px. */
export const DEFAULT_MAX_HEIGHT_PX = 600;
/**
 * Height the widget needs besides its canvases: header, control bar (two lines when narrow),
 * panel titles, the heatmap's status line and the token panel (its row scrolls past 96 px).
 */
export const CHROME_PX = 236;
/** The canvases never get less than this, however low the cap. */
const MIN_CANVAS_HEIGHT_PX = 200;

/** Height the overview and heatmap canvases may take under a widget height cap of `maxHeight`. */
export function canvasHeight(maxHeight: number): number {
  if (!(maxHeight > 0) || !Number.isFinite(maxHeight)) return Infinity;
  return Math.max(MIN_CANVAS_HEIGHT_PX, Math.floor(maxHeight - CHROME_PX));
}

/** Below this many tokens per axis every label is drawn, so cells are at least this tall/wide. */
export const READABLE_TOKENS = 128;
/** Cell size that fits one label line of `LABEL_FONT_PX`. */
export const READABLE_CELL_PX = 12;
export const MAX_CELL_PX = 28;
export const LABEL_FONT_PX = 10;
/** Labels are never drawn closer than this (centre to centre). */
export const LABEL_PITCH_PX = 12;
/** Labels longer than this are cut with an ellipsis. */
export const MAX_LABEL_CHARS = 16;
export const MAX_LABEL_PX = 110;
const LABEL_PAD = 6;
const COLORBAR_GAP = 16;
/** Room under the colour bar for the causal-mask legend. */
const COLORBAR_LEGEND = 24;
const COLORBAR_WIDTH = 12;
const COLORBAR_LABELS = 46;
const MIN_COLORBAR_HEIGHT = 96;
const MAX_COLORBAR_HEIGHT = 320;

/** Input of {@link heatmapLayout}. */
export interface HeatmapLayoutInput {
  rows: number;
  cols: number;
  /** Width the whole canvas should fit in, if the readable minimum allows. */
  availableWidth: number;
  /** Height the whole canvas should fit in, if the readable minimum allows (default: any). */
  availableHeight?: number;
  /** Widest row (query) label, measured. */
  rowLabelWidth: number;
  /** Widest column (key) label, measured (drawn vertically). */
  colLabelWidth: number;
  /** Device pixel ratio; cells are snapped to whole device pixels. */
  pixelRatio?: number;
  /** A zoomed view: cells of this size (CSS px), no fitting and no readable minimum. */
  cellPx?: number;
  /** Fit the whole matrix into the available size, cells below a device pixel included (tiled). */
  fitAll?: boolean;
}

/** Where everything of the focused heatmap goes. */
export interface HeatmapLayout {
  width: number;
  height: number;
  rows: number;
  cols: number;
  /** The cell grid. */
  grid: Rect;
  cellW: number;
  cellH: number;
  /** Draw every `rowLabelStep`-th row label (1 = all). */
  rowLabelStep: number;
  colLabelStep: number;
  colorbar: Rect;
}

/** Smallest of 1, 2, 5, 10, 20, 50, … that is at least `x`. */
export function niceCeil(x: number): number {
  if (x <= 1) return 1;
  let power = 1;
  for (;;) {
    for (const m of [1, 2, 5]) if (m * power >= x) return m * power;
    power *= 10;
  }
}

/** Show every `labelStep(...)`-th label so that labels are at least `pitch` apart. */
export function labelStep(cellPx: number, pitch = LABEL_PITCH_PX): number {
  if (!(cellPx > 0)) return 1;
  return niceCeil(pitch / cellPx - 1e-9);
}

/** Indices `0..n-1` whose label is drawn at a given step. */
export function labelIndices(n: number, step: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}

/** A label cut to `max` characters with an ellipsis; whitespace made visible enough to read. */
export function truncateLabel(label: string, max = MAX_LABEL_CHARS): string {
  const chars = Array.from(label);
  return chars.length <= max ? label : chars.slice(0, max - 1).join("") + "\u2026";
}

/** Below this many device pixels a cell keeps its fractional size (bigger beats uniform). */
const SNAP_FROM_DEVICE_PX = 3;

/**
 * Cell size along one axis of `n` cells given the fitted size: at least the readable size
 * for up to {@link READABLE_TOKENS} cells, at most {@link MAX_CELL_PX}, never under one
 * device pixel. Cells of 3+ device pixels are snapped to whole device pixels so every cell
 * is drawn the same size.
 */
export function cellSize(fitted: number, n: number, ratio: number): number {
  let size = Math.min(fitted, MAX_CELL_PX);
  if (n <= READABLE_TOKENS) size = Math.max(size, READABLE_CELL_PX);
  const device = size * ratio;
  if (!(device >= 1)) return 1 / ratio;
  return device >= SNAP_FROM_DEVICE_PX ? Math.floor(device) / ratio : size;
}

/** Largest cell (CSS px) of a zoomed view. */
const MAX_ZOOM_CELL_PX = 64;

/**
 * The layout of the window `view` (displayed rows `r0…r1`, columns `c0…c1`; null: the whole
 * matrix) of `input`: a zoomed view fills the grid of the whole matrix with fewer, bigger cells.
 */
export function viewLayout(input: HeatmapLayoutInput, view: { r0: number; r1: number; c0: number; c1: number } | null): HeatmapLayout {
  const full = heatmapLayout(input);
  if (!view) return full;
  const rows = view.r1 - view.r0;
  const cols = view.c1 - view.c0;
  const cellPx = Math.min(full.grid.w / cols, full.grid.h / rows, MAX_ZOOM_CELL_PX);
  return heatmapLayout({ ...input, rows, cols, cellPx });
}

/** Lay out the focused heatmap: labels left and top, cells, colour bar at the right. */
export function heatmapLayout(input: HeatmapLayoutInput): HeatmapLayout {
  const ratio = input.pixelRatio && input.pixelRatio > 0 ? input.pixelRatio : 1;
  const rows = Math.max(0, input.rows);
  const cols = Math.max(0, input.cols);
  const left = Math.ceil(Math.min(input.rowLabelWidth, MAX_LABEL_PX) + LABEL_PAD * 2);
  const top = Math.ceil(Math.min(input.colLabelWidth, MAX_LABEL_PX) + LABEL_PAD * 2);
  const right = COLORBAR_GAP + COLORBAR_WIDTH + COLORBAR_LABELS;
  const fitW = (input.availableWidth - left - right) / Math.max(cols, 1);
  const fitH = ((input.availableHeight ?? Infinity) - top - LABEL_PAD - COLORBAR_LEGEND) / Math.max(rows, 1);
  const zoomed = input.cellPx !== undefined && input.cellPx > 0;
  const snap = (px: number): number => (px * ratio >= SNAP_FROM_DEVICE_PX ? Math.floor(px * ratio) / ratio : px);
  const fitted = Math.min(fitW, fitH, MAX_CELL_PX);
  const cellW = zoomed ? snap(input.cellPx as number) : input.fitAll ? snap(fitted) : cellSize(fitted, cols, ratio);
  const cellH = zoomed || input.fitAll ? cellW : cellSize(cellW, rows, ratio);
  const grid: Rect = { x: left, y: top, w: cols * cellW, h: rows * cellH };
  const barH = Math.min(Math.max(grid.h, MIN_COLORBAR_HEIGHT), MAX_COLORBAR_HEIGHT);
  const colorbar: Rect = { x: grid.x + grid.w + COLORBAR_GAP, y: top, w: COLORBAR_WIDTH, h: barH };
  return {
    width: Math.ceil(colorbar.x + COLORBAR_WIDTH + COLORBAR_LABELS),
    height: Math.ceil(top + Math.max(grid.h, barH + COLORBAR_LEGEND) + LABEL_PAD),
    rows,
    cols,
    grid,
    cellW,
    cellH,
    rowLabelStep: labelStep(cellH),
    colLabelStep: labelStep(cellW),
    colorbar,
  };
}

/** Input of {@link overviewLayout}. */
export interface OverviewLayoutInput {
  layers: number;
  heads: number;
  /** Number of aggregate columns after the heads (mean, max, rollout). */
  aggregates: number;
  /** Width the grid should fill. */
  targetWidth: number;
  /** Height the grid should fit in, if thumbnails stay at least {@link MIN_THUMB_PX} (default: any). */
  targetHeight?: number;
}

/** Where the overview's thumbnails and labels go. */
export interface OverviewLayout {
  width: number;
  height: number;
  layers: number;
  heads: number;
  /** heads + aggregates. */
  columns: number;
  /** Side of one (square) thumbnail. */
  thumb: number;
  gap: number;
  /** Extra space between the last head and the first aggregate column. */
  aggregateGap: number;
  /** Top-left of the thumbnail grid. */
  left: number;
  top: number;
  /** Aggregate column labels are drawn vertically (thumbnails too narrow for them). */
  rotateAggregateLabels: boolean;
}

export const MIN_THUMB_PX = 14;
export const MAX_THUMB_PX = 48;
const OVERVIEW_LEFT = 40;

/** Lay out the overview grid: rows = layers, columns = heads then aggregates. */
export function overviewLayout(input: OverviewLayoutInput): OverviewLayout {
  const columns = input.heads + input.aggregates;
  const gap = 2;
  const aggregateGap = input.aggregates > 0 ? 8 : 0;
  const fitW = Math.floor((input.targetWidth - OVERVIEW_LEFT - aggregateGap) / Math.max(columns, 1)) - gap;
  // the column labels take 30 px above the grid, or 46 px when rotated (thumbnails under 28 px)
  const fitH = (top: number): number => Math.floor(((input.targetHeight ?? Infinity) - top) / Math.max(input.layers, 1)) - gap;
  const fit = Math.min(fitW, fitH(30) >= 28 ? fitH(30) : fitH(46));
  const thumb = Math.min(Math.max(fit, MIN_THUMB_PX), MAX_THUMB_PX);
  const rotateAggregateLabels = thumb < 28;
  const top = rotateAggregateLabels ? 46 : 30;
  const width = OVERVIEW_LEFT + columns * (thumb + gap) + aggregateGap;
  const height = top + input.layers * (thumb + gap);
  return {
    width,
    height,
    layers: input.layers,
    heads: input.heads,
    columns,
    thumb,
    gap,
    aggregateGap,
    left: OVERVIEW_LEFT,
    top,
    rotateAggregateLabels,
  };
}

/** The rectangle of thumbnail (`row` = layer position, `col` = column). */
export function thumbRect(layout: OverviewLayout, row: number, col: number): Rect {
  const step = layout.thumb + layout.gap;
  const x = layout.left + col * step + (col >= layout.heads ? layout.aggregateGap : 0);
  return { x, y: layout.top + row * step, w: layout.thumb, h: layout.thumb };
}

/**
 * The pooled thumbnail row (of `rows`) holding query `query` of `n` queries. Blocks start at
 * `floor(r · n / rows)` (as `wire.block_edges` in Python), so the block of `query` is the
 * last one starting at or before it: `ceil((query + 1) · rows / n) - 1`.
 */
export function pooledIndex(query: number, n: number, rows: number): number {
  if (n <= 0 || rows <= 0) return 0;
  const q = Math.min(Math.max(0, Math.floor(query)), n - 1);
  return Math.min(rows - 1, Math.floor(((q + 1) * rows - 1) / n));
}

/** First and last index (inclusive) of pooled block `block` of `rows` blocks over `n`. */
export function blockRange(block: number, n: number, rows: number): [number, number] {
  const start = Math.floor((block * n) / rows);
  const end = block >= rows - 1 ? n - 1 : Math.floor(((block + 1) * n) / rows) - 1;
  return [start, end];
}

/** Top-left of a tooltip of size `w × h` near the pointer, kept inside `bounds`. */
export function placeTooltip(
  pointerX: number,
  pointerY: number,
  w: number,
  h: number,
  boundsW: number,
  boundsH: number,
  offset = 14,
): { x: number; y: number } {
  let x = pointerX + offset;
  let y = pointerY + offset;
  if (x + w > boundsW) x = pointerX - offset - w;
  if (y + h > boundsH) y = pointerY - offset - h;
  return { x: Math.max(0, x), y: Math.max(0, y) };
}
