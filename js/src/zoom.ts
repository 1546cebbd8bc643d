/**
 * Zoom and pan of the focused heatmap, and which tiles a view needs. Pure arithmetic on
 * matrix indices: a {@link Viewport} is the window of rows (queries) and columns (keys)
 * shown; zooming keeps the cell under the pointer in place; panning never leaves the
 * matrix. At length the heatmap is drawn from tiles (`tile` requests, PROTOCOL.md): a pooled
 * view of the whole matrix, then tiles at the pooling the screen resolution needs, on a
 * fixed grid so that tiles are reused while panning.
 */
import type { Block } from "./types";

/** Rows `[r0, r1)` and columns `[c0, c1)` of the matrix on screen. */
export interface Viewport {
  readonly r0: number;
  readonly r1: number;
  readonly c0: number;
  readonly c1: number;
}

/** Fewest rows or columns a zoomed view shows. */
export const MIN_SPAN = 4;
/** Zoom factor of one wheel notch or key press. */
export const ZOOM_STEP = 1.5;
/** A tile holds at most this many pooled cells a side. */
export const TILE_CELLS = 256;

/** The whole `rows × cols` matrix. */
export function fullView(rows: number, cols: number): Viewport {
  return { r0: 0, r1: rows, c0: 0, c1: cols };
}

/**
 * The view to keep when the matrix `before` (null: none) becomes `rows × cols`: the same
 * shape keeps `view`; a grown matrix (streaming generation) keeps a zoomed view where it
 * was; anything else, or a view of the whole matrix, shows the whole new matrix.
 */
export function keptView(before: { rows: number; cols: number } | undefined, v: Viewport, rows: number, cols: number): Viewport {
  if (!before) return fullView(rows, cols);
  const same = before.rows === rows && before.cols === cols;
  const grown = rows >= before.rows && cols >= before.cols && !isFull(v, before.rows, before.cols);
  return same || grown ? clampView(v, rows, cols) : fullView(rows, cols);
}

/** Whether `v` shows the whole matrix. */
export function isFull(v: Viewport, rows: number, cols: number): boolean {
  return v.r0 <= 0 && v.c0 <= 0 && v.r1 >= rows && v.c1 >= cols;
}

/** One axis of a zoom: a span of `span'` around `anchor` kept at the same fraction, inside `[0, n)`. */
function zoomAxis(lo: number, hi: number, factor: number, anchor: number, n: number): [number, number] {
  const span = hi - lo;
  const next = Math.min(n, Math.max(Math.min(MIN_SPAN, n), Math.round(span / factor)));
  const fraction = span > 0 ? (anchor - lo) / span : 0.5;
  const start = Math.round(anchor - fraction * next);
  const clamped = Math.min(Math.max(0, start), n - next);
  return [clamped, clamped + next];
}

/**
 * Zoom by `factor` (> 1 in, < 1 out) around the matrix point (`row`, `col`), which stays
 * under the pointer. Spans never go below {@link MIN_SPAN} nor beyond the matrix.
 */
export function zoomAt(v: Viewport, factor: number, row: number, col: number, rows: number, cols: number): Viewport {
  if (!(factor > 0) || !Number.isFinite(factor)) return v;
  const [r0, r1] = zoomAxis(v.r0, v.r1, factor, row, rows);
  const [c0, c1] = zoomAxis(v.c0, v.c1, factor, col, cols);
  return { r0, r1, c0, c1 };
}

/** Move the view by whole rows and columns, stopping at the edges. */
export function panBy(v: Viewport, dRows: number, dCols: number, rows: number, cols: number): Viewport {
  const shift = (lo: number, hi: number, d: number, n: number): [number, number] => {
    const moved = Math.min(Math.max(0, lo + Math.round(d)), n - (hi - lo));
    return [moved, moved + (hi - lo)];
  };
  const [r0, r1] = shift(v.r0, v.r1, dRows, rows);
  const [c0, c1] = shift(v.c0, v.c1, dCols, cols);
  return { r0, r1, c0, c1 };
}

/** `v` fitted into a `rows × cols` matrix (after the data changed); the full view when it no longer fits. */
export function clampView(v: Viewport, rows: number, cols: number): Viewport {
  if (v.r1 - v.r0 > rows || v.c1 - v.c0 > cols || v.r1 <= v.r0 || v.c1 <= v.c0) return fullView(rows, cols);
  return panBy(v, 0, 0, rows, cols);
}

/**
 * Pooling for showing `span` matrix cells on `pixels` device pixels: the largest power of
 * two at most `span / pixels`, so the pooled picture has at least screen resolution.
 */
export function poolFor(span: number, pixels: number): number {
  const ratio = span / Math.max(1, pixels);
  if (!(ratio >= 2)) return 1;
  return 2 ** Math.floor(Math.log2(ratio));
}

/** A tile of the fixed grid at one pooling: tile (`i`, `j`) and the block it covers. */
export interface TileKey {
  readonly pool: number;
  readonly i: number;
  readonly j: number;
  readonly block: Block;
}

/** The block of tile (`i`, `j`) at `pool` in a `rows × cols` matrix. */
export function tileBlock(pool: number, i: number, j: number, rows: number, cols: number): Block {
  const side = TILE_CELLS * pool;
  return { q0: i * side, q1: Math.min(rows, (i + 1) * side), k0: j * side, k1: Math.min(cols, (j + 1) * side), pool };
}

/** The tiles at `pool` that cover viewport `v`, row by row. */
export function tilesFor(v: Viewport, pool: number, rows: number, cols: number): TileKey[] {
  const side = TILE_CELLS * pool;
  const out: TileKey[] = [];
  for (let i = Math.floor(v.r0 / side); i * side < Math.min(v.r1, rows); i++) {
    for (let j = Math.floor(v.c0 / side); j * side < Math.min(v.c1, cols); j++) {
      out.push({ pool, i, j, block: tileBlock(pool, i, j, rows, cols) });
    }
  }
  return out;
}

/**
 * Pooling of the picture of the whole matrix (one request): screen resolution on
 * `pixels` device pixels, coarser when that would exceed four tiles' worth of cells.
 */
export function overviewPool(rows: number, cols: number, pixels: number): number {
  const pool = Math.max(poolFor(Math.max(rows, cols), pixels), 1);
  // the whole matrix in one reply: keep it within a few tiles' worth of cells
  let p = pool;
  while (Math.ceil(rows / p) * Math.ceil(cols / p) > 4 * TILE_CELLS * TILE_CELLS) p *= 2;
  return p;
}

/** The matrix point under a grid point (`x`, `y` from the grid's top-left, in CSS px). */
export function pointAt(v: Viewport, gridW: number, gridH: number, x: number, y: number): { row: number; col: number } {
  return {
    row: v.r0 + (y / Math.max(gridH, 1e-9)) * (v.r1 - v.r0),
    col: v.c0 + (x / Math.max(gridW, 1e-9)) * (v.c1 - v.c0),
  };
}
