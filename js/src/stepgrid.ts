/**
 * The layer × head grid of one query row (a generation step's "where it looked"): one cell
 * per kept layer (down) and head (across), each a strip drawing the row over the keys,
 * max-pooled to the strip's device-pixel width, on the current colour scale (one scale for
 * the grid; each cell its own maximum with row normalisation). Hover names the layer, head
 * and strongest key; a click focuses that layer and head. The row comes from one `rows`
 * request (`[layers, heads, K]`, see `steprows.ts`).
 */
import { context2d, font, pixelRatioOf, sizeCanvas, themeOf } from "./canvas";
import { VIRIDIS, colorIndex } from "./colormap";
import { formatValue, makeMapper, maxValue, type ValueMapper } from "./scale";
import { displayToken } from "./tokenstyle";
import type { ColorScale, HeadChoice, Stack } from "./types";

/** Strip size and spacing, CSS px. */
const CELL_H = 10;
const GAP = 2;
const MIN_CELL_W = 32;
const MAX_CELL_W = 72;
const LEFT = 26;
const TOP = 14;

export interface StepGridCallbacks {
  pick(layer: number, head: number): void;
  tooltip(lines: string[] | null, clientX: number, clientY: number): void;
}

/** What the grid shows: the row of `query` in every layer and head (null while it loads). */
export interface StepGridContent {
  /** `[layers, heads, K]` (`n` layers, `rows` heads, `cols` keys). */
  rows: Stack | null;
  query: number | null;
  /** The query token (its text). */
  queryLabel: string;
  layerIndices: readonly number[];
  keyTokens: readonly string[];
  scale: ColorScale;
  rowNormalize: boolean;
  logDecades: number;
  focus: { layer: number; head: HeadChoice };
  /** "loading…" or why the row could not be loaded ("" when shown). */
  status: string;
}

/** Max of `values[offset … offset + k)` pooled into `width` bins (keys spread evenly; fewer keys than bins repeat). */
export function poolStrip(values: Float32Array, offset: number, k: number, width: number): Float32Array {
  const out = new Float32Array(width);
  if (k <= 0) return out;
  for (let b = 0; b < width; b++) {
    const k0 = Math.floor((b * k) / width);
    const k1 = Math.max(k0 + 1, Math.floor(((b + 1) * k) / width));
    let max = 0;
    for (let i = k0; i < k1; i++) {
      const v = values[offset + i];
      if (v > max) max = v;
    }
    out[b] = max;
  }
  return out;
}

/** Per cell (layer-major) the mapper of its values: one scale for all, or each cell's own maximum. */
export function cellMappers(rows: Stack, scale: ColorScale, rowNormalize: boolean, logDecades: number): ValueMapper[] {
  const cells = rows.n * rows.rows;
  if (!rowNormalize) return new Array<ValueMapper>(cells).fill(makeMapper(scale, maxValue(rows.data), logDecades));
  return Array.from({ length: cells }, (_, c) => makeMapper(scale, maxValue(rows.data.subarray(c * rows.cols, (c + 1) * rows.cols)), logDecades));
}

/**
 * RGBA pixels of the cells of `rows`: `heads` strips across, `layers` down, each `cellW × cellH`
 * device px, `gap` px apart (transparent).
 */
export function gridImage(rows: Stack, mappers: readonly ValueMapper[], cellW: number, cellH: number, gap: number): { width: number; height: number; data: Uint8ClampedArray } {
  const width = rows.rows * cellW + Math.max(0, rows.rows - 1) * gap;
  const height = rows.n * cellH + Math.max(0, rows.n - 1) * gap;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let layer = 0; layer < rows.n; layer++) {
    for (let head = 0; head < rows.rows; head++) {
      const cell = layer * rows.rows + head;
      const strip = poolStrip(rows.data, cell * rows.cols, rows.cols, cellW);
      const x0 = head * (cellW + gap);
      const y0 = layer * (cellH + gap);
      for (let x = 0; x < cellW; x++) {
        const c = 4 * colorIndex(mappers[cell](strip[x]));
        for (let y = 0; y < cellH; y++) {
          const p = 4 * ((y0 + y) * width + x0 + x);
          data[p] = VIRIDIS[c];
          data[p + 1] = VIRIDIS[c + 1];
          data[p + 2] = VIRIDIS[c + 2];
          data[p + 3] = 255;
        }
      }
    }
  }
  return { width, height, data };
}

/** The strongest key of cell (`layer` position, `head`) of `rows`: its index and value. */
export function strongestKey(rows: Stack, layer: number, head: number): { key: number; value: number } {
  const offset = (layer * rows.rows + head) * rows.cols;
  let key = 0;
  for (let k = 1; k < rows.cols; k++) if (rows.data[offset + k] > rows.data[offset + key]) key = k;
  return { key, value: rows.data[offset + key] ?? 0 };
}

/** Width of a strip for `k` keys, CSS px. */
export function stripWidth(k: number): number {
  return Math.min(MAX_CELL_W, Math.max(MIN_CELL_W, 2 * k));
}

export class StepGrid {
  readonly canvas: HTMLCanvasElement;
  private readonly caption: HTMLDivElement;
  private readonly abort = new AbortController();
  private content: StepGridContent | null = null;
  private readonly scratch: HTMLCanvasElement;

  constructor(
    host: HTMLElement,
    private readonly callbacks: StepGridCallbacks,
  ) {
    const doc = host.ownerDocument;
    this.caption = doc.createElement("div");
    this.caption.className = "attnviz-step-grid-caption";
    this.canvas = doc.createElement("canvas");
    this.canvas.className = "attnviz-step-grid";
    this.canvas.setAttribute("role", "img");
    this.scratch = doc.createElement("canvas");
    host.append(this.caption, this.canvas);
    const signal = this.abort.signal;
    this.canvas.addEventListener("mousemove", (e) => this.onMove(e), { signal });
    this.canvas.addEventListener("mouseleave", () => this.callbacks.tooltip(null, 0, 0), { signal });
    this.canvas.addEventListener("click", (e) => this.onClick(e), { signal });
  }

  /** Show `content`; null hides the grid. */
  setContent(content: StepGridContent | null): void {
    this.content = content;
    const host = this.canvas.parentElement;
    if (host) host.hidden = content === null;
    if (!content) return;
    const { rows, query } = content;
    const label = displayToken(content.queryLabel);
    this.caption.textContent = content.status || (query === null ? "" : `row of \u201c${label}\u201d (query ${query}), every layer \u00d7 head`);
    this.caption.classList.toggle("attnviz-failed", content.status !== "" && !content.status.endsWith("\u2026"));
    this.canvas.dataset.query = query === null ? "" : String(query);
    this.canvas.dataset.cells = rows ? `${rows.n}x${rows.rows}` : "";
    this.canvas.classList.toggle("attnviz-stale", rows === null); // the last row stays, dimmed, until the next lands
    this.canvas.setAttribute("aria-label", rows ? `attention of query ${query} in ${rows.n} layers \u00d7 ${rows.rows} heads` : "loading");
    if (rows) this.paint(rows, content);
  }

  destroy(): void {
    this.abort.abort();
    this.canvas.parentElement?.remove();
  }

  private geometry(rows: Stack): { cellW: number; width: number; height: number } {
    const cellW = stripWidth(rows.cols);
    return { cellW, width: LEFT + rows.rows * (cellW + GAP), height: TOP + rows.n * (CELL_H + GAP) };
  }

  private paint(rows: Stack, content: StepGridContent): void {
    const ratio = pixelRatioOf(this.canvas);
    const { cellW, width, height } = this.geometry(rows);
    const ctx = sizeCanvas(this.canvas, width, height, ratio);
    if (!ctx) return;
    const theme = themeOf(this.canvas);
    const image = gridImage(rows, cellMappers(rows, content.scale, content.rowNormalize, content.logDecades), Math.round(cellW * ratio), Math.round(CELL_H * ratio), Math.round(GAP * ratio));
    const pixels = ctx.createImageData(image.width, image.height);
    pixels.data.set(image.data);
    // the strips go through an offscreen canvas: putImageData ignores the HiDPI transform
    const scratch = this.scratch;
    scratch.width = image.width;
    scratch.height = image.height;
    const scratchCtx = context2d(scratch);
    if (!scratchCtx) return;
    scratchCtx.putImageData(pixels, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(scratch, LEFT, TOP, width - LEFT - GAP, height - TOP - GAP);
    ctx.font = font(9, theme.fontFamily);
    ctx.fillStyle = theme.muted;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    content.layerIndices.forEach((layer, l) => ctx.fillText(`L${layer}`, LEFT - 4, TOP + l * (CELL_H + GAP) + CELL_H / 2));
    ctx.textAlign = "center";
    for (let h = 0; h < rows.rows; h++) ctx.fillText(`h${h}`, LEFT + h * (cellW + GAP) + cellW / 2, TOP / 2);
    const { layer, head } = content.focus;
    const l = content.layerIndices.indexOf(layer);
    if (l >= 0 && typeof head === "number" && head < rows.rows) {
      ctx.strokeStyle = theme.accent;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(LEFT + head * (cellW + GAP) - 1, TOP + l * (CELL_H + GAP) - 1, cellW + 2, CELL_H + 2);
    }
  }

  /** Layer position and head under a pointer event, or null. */
  private cellAt(event: MouseEvent): { l: number; head: number } | null {
    const rows = this.content?.rows;
    if (!rows) return null;
    const rect = this.canvas.getBoundingClientRect();
    const { cellW } = this.geometry(rows);
    const x = event.clientX - rect.left - LEFT;
    const y = event.clientY - rect.top - TOP;
    const head = Math.floor(x / (cellW + GAP));
    const l = Math.floor(y / (CELL_H + GAP));
    return x >= 0 && y >= 0 && head < rows.rows && l < rows.n ? { l, head } : null;
  }

  private onMove(event: MouseEvent): void {
    const cell = this.cellAt(event);
    const content = this.content;
    if (!cell || !content?.rows) return this.callbacks.tooltip(null, 0, 0);
    const { key, value } = strongestKey(content.rows, cell.l, cell.head);
    const layer = content.layerIndices[cell.l];
    const token = displayToken(content.keyTokens[key] ?? "");
    this.callbacks.tooltip([`layer ${layer}, head ${cell.head}`, `strongest key: \u201c${token}\u201d (key ${key}), ${formatValue(value, 3)}`, "click to focus this head"], event.clientX, event.clientY);
  }

  private onClick(event: MouseEvent): void {
    const cell = this.cellAt(event);
    const content = this.content;
    if (cell && content) this.callbacks.pick(content.layerIndices[cell.l], cell.head);
  }
}
