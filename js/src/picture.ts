/**
 * What draws the cells of the focused heatmap: a window (`Viewport`) of the displayed
 * matrix into the grid rectangle. {@link DensePicture} holds the whole matrix rasterised
 * (inputs up to about a thousand tokens); {@link TiledPicture} draws long inputs from tiles:
 * a pooled picture of the whole matrix first, then, as you zoom in, tiles at the pooling
 * the screen needs (down to full resolution), requested through a {@link TileStore}.
 */
import { pixelCanvas } from "./canvas";
import type { Tile } from "./decode";
import type { Rect } from "./layout";
import { causalOffset, rasterize } from "./raster";
import { makeMapper, type DisplayMatrix, type ValueMapper } from "./scale";
import { TileStore, type TileFocus, type TileSource } from "./tiles";
import type { ColorScale, Matrix } from "./types";
import { poolFor, tileBlock, tilesFor, TILE_CELLS, type Viewport } from "./zoom";

export interface Picture {
  /**
   * Draw the cells of `view` into `grid` (CSS px) at `ratio` device pixels per CSS pixel.
   * With `fetch` false (a PNG export), draw what is loaded and ask for nothing.
   */
  draw(ctx: CanvasRenderingContext2D, view: Viewport, grid: Rect, ratio: number, fetch?: boolean): void;
  /** The value shown at a displayed cell and the pooling it comes from; null while unknown. */
  value(row: number, col: number): { value: number; pool: number } | null;
  /** Stop loading (tiles in flight are cancelled). */
  dispose(): void;
}

/** The whole displayed matrix, one pixel per cell, cropped and scaled when drawn. */
export class DensePicture implements Picture {
  constructor(
    readonly backing: HTMLCanvasElement,
    private readonly data: Float32Array,
    private readonly cols: number,
    /** The RGBA pixels put into `backing` (reused by the next picture of the same size). */
    readonly pixels: Uint8ClampedArray | null = null,
  ) {}

  draw(ctx: CanvasRenderingContext2D, view: Viewport, grid: Rect): void {
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.backing, view.c0, view.r0, view.c1 - view.c0, view.r1 - view.r0, grid.x, grid.y, grid.w, grid.h);
  }

  value(row: number, col: number): { value: number; pool: number } {
    return { value: this.data[row * this.cols + col], pool: 1 };
  }

  dispose(): void {}
}

/** How a long matrix is drawn: where tiles come from, which matrix, and its pooled picture. */
export interface TiledSource {
  source: TileSource;
  focus: TileFocus;
  /** The whole matrix pooled (one `tile` reply with `q0 = k0 = 0`). */
  base: Tile;
  rows: number;
  cols: number;
  /** Causal self-attention: pooled blocks wholly after their queries are left transparent. */
  causal: boolean;
}

/** Pooled cells of `tile` that lie wholly above the causal diagonal. */
export function maskedCells(tile: Tile): Uint8Array {
  const out = new Uint8Array(tile.rows * tile.cols);
  for (let a = 0; a < tile.rows; a++) {
    const lastQuery = Math.min(tile.q0 + (a + 1) * tile.pool, tile.q1) - 1;
    for (let b = 0; b < tile.cols; b++) if (tile.k0 + b * tile.pool > lastQuery) out[a * tile.cols + b] = 1;
  }
  return out;
}

/** A long matrix drawn from tiles. */
export class TiledPicture implements Picture {
  private readonly store: TileStore;
  private readonly canvases = new WeakMap<Tile, HTMLCanvasElement>();
  /** Pooling of the tiles the last draw wanted (1 = full resolution). */
  pool: number;

  constructor(
    private readonly doc: Document,
    readonly source: TiledSource,
    private readonly mapper: ValueMapper,
    onTile: () => void,
    store?: TileStore,
  ) {
    this.store = store ?? new TileStore(source.source, onTile);
    this.pool = source.base.pool;
  }

  /** Tile traffic as JSON: the pooling drawn, requests sent, cancelled and pending. */
  get traffic(): string {
    const { requested, cancelled, pending } = this.store;
    return JSON.stringify({ pool: this.pool, requested, cancelled, pending });
  }

  /** The store (kept when only the colours change). */
  get tiles(): TileStore {
    return this.store;
  }

  draw(ctx: CanvasRenderingContext2D, view: Viewport, grid: Rect, ratio: number, fetch = true): void {
    const { base, rows, cols, focus } = this.source;
    const span = Math.max(view.r1 - view.r0, view.c1 - view.c0);
    const pool = fetch ? poolFor(span, Math.max(grid.w, grid.h) * ratio) : this.pool;
    const wanted = pool < base.pool ? tilesFor(view, pool, rows, cols) : [];
    if (fetch) {
      this.pool = wanted.length > 0 ? pool : base.pool;
      this.store.want(focus, wanted); // cancels the tiles of the previous view
    }
    ctx.save();
    ctx.beginPath();
    ctx.rect(grid.x, grid.y, grid.w, grid.h);
    ctx.clip();
    ctx.imageSmoothingEnabled = false;
    this.drawTile(ctx, base, view, grid);
    for (const key of wanted) {
      const tile = this.store.get(focus, key);
      if (tile) this.drawTile(ctx, tile, view, grid);
    }
    ctx.restore();
  }

  value(row: number, col: number): { value: number; pool: number } | null {
    const { base, rows, cols, focus } = this.source;
    const side = TILE_CELLS * this.pool;
    const tile =
      this.pool < base.pool
        ? this.store.get(focus, { pool: this.pool, block: tileBlock(this.pool, Math.floor(row / side), Math.floor(col / side), rows, cols) })
        : base;
    const from = tile ?? base;
    const a = Math.floor((row - from.q0) / from.pool);
    const b = Math.floor((col - from.k0) / from.pool);
    if (a < 0 || b < 0 || a >= from.rows || b >= from.cols) return null;
    return { value: from.data[a * from.cols + b], pool: from.pool };
  }

  dispose(): void {
    this.store.dispose();
  }

  private drawTile(ctx: CanvasRenderingContext2D, tile: Tile, view: Viewport, grid: Rect): void {
    const cellW = grid.w / (view.c1 - view.c0);
    const cellH = grid.h / (view.r1 - view.r0);
    const x = grid.x + (tile.k0 - view.c0) * cellW;
    const y = grid.y + (tile.q0 - view.r0) * cellH;
    ctx.drawImage(this.canvasOf(tile), x, y, tile.cols * tile.pool * cellW, tile.rows * tile.pool * cellH);
  }

  private canvasOf(tile: Tile): HTMLCanvasElement {
    let canvas = this.canvases.get(tile);
    if (!canvas) {
      const pixels = rasterize({ rows: tile.rows, cols: tile.cols, data: tile.data }, { mapper: this.mapper });
      if (this.source.causal) {
        const masked = maskedCells(tile);
        for (let i = 0; i < masked.length; i++) if (masked[i]) pixels[4 * i + 3] = 0;
      }
      canvas = pixelCanvas(this.doc, pixels, tile.cols, tile.rows);
      this.canvases.set(tile, canvas);
    }
    return canvas;
  }
}

/** What the heatmap of `content` draws; `old` (the previous picture) is reused or disposed. */
export function makePicture(
  doc: Document,
  content: { display: DisplayMatrix; source: Matrix; tiled?: TiledSource | null; causal: boolean; scale: ColorScale; logDecades: number },
  old: Picture | null,
  onTile: () => void,
): Picture {
  const { display, tiled } = content;
  const { matrix, rowIndex, colIndex } = display;
  const mapper = makeMapper(content.scale, display.vmax, content.logDecades);
  if (tiled) {
    // the same matrix in other colours keeps its tiles; another matrix cancels them
    const same = old instanceof TiledPicture && old.source === tiled;
    if (old && !same) old.dispose();
    return new TiledPicture(doc, tiled, mapper, onTile, same ? old.tiles : undefined);
  }
  old?.dispose();
  const causal = content.causal
    ? { rowIndex, colIndex, offset: causalOffset(content.source.rows, content.source.cols) }
    : null;
  // a head switch at the same size reuses the old picture's pixel buffer and backing canvas
  const dense = old instanceof DensePicture ? old : null;
  const pixels = rasterize(matrix, { mapper, causal }, dense?.pixels ?? undefined);
  return new DensePicture(pixelCanvas(doc, pixels, matrix.cols, matrix.rows, dense?.backing), matrix.data, matrix.cols, pixels);
}

/**
 * What the app shows of a long matrix from its pooled `base` tile: a display matrix without
 * data (identity index maps; `vmax` is the base's maximum, which max-pooling keeps) and the
 * tiled source the heatmap draws from.
 */
export function tiledView(base: Tile, source: TileSource, version: number, rows: number, cols: number, causal: boolean) {
  const empty: Matrix = { rows, cols, data: new Float32Array(0) };
  const index = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);
  const display: DisplayMatrix = {
    matrix: empty,
    rowIndex: index(rows),
    colIndex: index(cols),
    vmax: base.data.reduce((m, v) => (v > m && v !== Infinity ? v : m), 0),
    hidden: false,
    hiddenRows: 0,
    hiddenCols: 0,
  };
  const tiled: TiledSource = { source, focus: { version, layer: base.layer, head: base.head }, base, rows, cols, causal };
  return { display, source: empty, tiled, rowOfQuery: display.rowIndex, colOfKey: display.colIndex };
}
