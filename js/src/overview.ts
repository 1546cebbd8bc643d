/**
 * The overview grid: one thumbnail per layer × head, then the mean / max / rollout columns.
 * All thumbnails are rasterised into one atlas image; the visible canvas copies each one to
 * its place. The focus outline is a box over it (a head switch moves it; no canvas redrawn),
 * the selected query's row goes on an overlay canvas (hidden while there is none).
 */
import { PRINT_THEME, canvasPoint, font, hatchPattern, pixelCanvas, pixelRatioOf, sizeCanvas, themeOf, type Theme } from "./canvas";
import { setHidden, setStyle } from "./domwrite";
import { thumbAt } from "./hittest";
import { overviewLayout, pooledIndex, thumbRect, type OverviewLayout } from "./layout";
import { rasterizeOverview } from "./raster";
import { formatValue } from "./scale";
import type { ColorScale, HeadChoice, Overview } from "./types";
import type { AggregateInfo, Vocabulary } from "./vocabulary";

/** What the overview shows besides the thumbnails. */
export interface OverviewContent {
  overview: Overview;
  /** Model layer index of each overview row. */
  layerIndices: readonly number[];
  numHeads: number;
  /** Full-matrix size, for mapping queries to pooled rows and for the causal mask. */
  numQueries: number;
  numKeys: number;
  causal: boolean;
  /** Why rollout is undefined (cross-attention, or not every layer kept); null where defined. */
  rolloutProblem: string | null;
  /** Aggregate columns Python left empty (not pooled, e.g. the mean at length) and why; still focusable. */
  emptyColumns?: Readonly<Record<string, string>>;
  scale: ColorScale;
  /** Aggregate columns (names, labels) and the log scale's depth. */
  vocabulary: Vocabulary;
}

export interface OverviewCallbacks {
  /** A thumbnail was chosen (click or arrow keys). */
  pick(layer: number, head: HeadChoice): void;
  tooltip(lines: string[] | null, clientX: number, clientY: number): void;
}

/** Overview column of a head choice (-1 for an unknown aggregate). */
export function columnOf(head: HeadChoice, numHeads: number, aggregates: readonly AggregateInfo[]): number {
  if (typeof head === "number") return head;
  const i = aggregates.findIndex((a) => a.name === head);
  return i < 0 ? -1 : numHeads + i;
}

/** Head choice of an overview column. */
export function headOfColumn(column: number, numHeads: number, aggregates: readonly AggregateInfo[]): HeadChoice {
  return column < numHeads ? column : (aggregates[column - numHeads]?.name ?? column);
}

/** Whether `head` is the rollout column while rollout is undefined. */
function unavailable(content: OverviewContent, head: HeadChoice): boolean {
  return head === "rollout" && content.rolloutProblem !== null;
}

export class OverviewView {
  /** The visible canvas (class `attnviz-overview`). */
  readonly canvas: HTMLCanvasElement;
  private readonly overlay: HTMLCanvasElement;
  /** The outline of the focused thumbnail. */
  private readonly focusBox: HTMLDivElement;
  private readonly abort = new AbortController();
  private content: OverviewContent | null = null;
  private atlas: HTMLCanvasElement | null = null;
  private layout: OverviewLayout | null = null;
  private focus: { row: number; col: number } | null = null;
  private query: number | null = null;
  private locked = false;
  private hovered: string | null = null;
  /** Read from CSS at each full paint; the overlay reuses it (no style reads while hovering). */
  private theme: Theme = PRINT_THEME;
  private targetHeight = Infinity;

  constructor(
    host: HTMLElement,
    private readonly callbacks: OverviewCallbacks,
    private readonly targetWidth = 560,
  ) {
    const doc = host.ownerDocument;
    const wrap = doc.createElement("div");
    wrap.className = "attnviz-canvas-wrap";
    this.canvas = doc.createElement("canvas");
    this.canvas.className = "attnviz-overview";
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("role", "grid");
    this.canvas.setAttribute("aria-label", "attention of every layer and head; arrow keys move the focus");
    this.overlay = doc.createElement("canvas");
    this.overlay.className = "attnviz-overlay";
    this.overlay.setAttribute("aria-hidden", "true");
    this.overlay.hidden = true;
    this.focusBox = doc.createElement("div");
    this.focusBox.className = "attnviz-overview-focus";
    this.focusBox.hidden = true;
    wrap.append(this.canvas, this.overlay, this.focusBox);
    host.appendChild(wrap);
    const signal = this.abort.signal;
    this.canvas.addEventListener("click", (e) => this.onClick(e), { signal });
    this.canvas.addEventListener("mousemove", (e) => this.onMove(e), { signal });
    this.canvas.addEventListener("mouseleave", () => this.onLeave(), { signal });
    this.canvas.addEventListener("keydown", (e) => this.onKey(e), { signal });
  }

  /** Show new thumbnails: rasterise, lay out, paint. */
  setContent(content: OverviewContent): void {
    this.content = content;
    this.layout = overviewLayout({
      layers: content.overview.layers,
      heads: content.numHeads,
      aggregates: content.overview.columns - content.numHeads,
      targetWidth: this.targetWidth,
      targetHeight: this.targetHeight,
    });
    const { left, top, thumb, gap, aggregateGap, heads, columns, layers } = this.layout;
    // geometry for automation and tests (CSS pixels of the canvas)
    this.canvas.dataset.layout = JSON.stringify({ left, top, thumb, gap, aggregateGap, heads, columns, layers });
    this.rasterize();
    this.paint();
  }

  /** Fit the grid to a height, where thumbnails stay readable (lays out again). */
  setTargetHeight(height: number): void {
    if (height === this.targetHeight) return;
    this.targetHeight = height;
    if (this.content) this.setContent(this.content);
  }

  /** Recolour for a new colour scale. */
  setScale(scale: ColorScale): void {
    if (!this.content || this.content.scale === scale) return;
    this.content = { ...this.content, scale };
    this.rasterize();
    this.paint();
  }

  /** Outline the focused thumbnail (model layer index and head choice). */
  setFocus(layer: number, head: HeadChoice): void {
    if (!this.content) return;
    const row = this.content.layerIndices.indexOf(layer);
    const col = columnOf(head, this.content.numHeads, this.content.vocabulary.aggregates);
    const focus = row >= 0 && col >= 0 ? { row, col } : null;
    if (focus?.row === this.focus?.row && focus?.col === this.focus?.col) return;
    this.focus = focus;
    this.placeFocus();
  }

  /** Mark the pooled row of query `query` in every thumbnail. */
  setSelection(query: number | null, locked: boolean): void {
    if (query === this.query && locked === this.locked) return;
    this.query = query;
    this.locked = locked;
    this.paintOverlay();
  }

  get painted(): boolean {
    return this.content !== null;
  }

  clear(): void {
    this.content = null;
    this.layout = null;
    sizeCanvas(this.canvas, 1, 1, 1);
    this.paintOverlay();
    this.placeFocus();
  }

  destroy(): void {
    this.abort.abort();
    this.canvas.parentElement?.remove();
  }

  private rasterize(): void {
    const content = this.content as OverviewContent;
    const atlas = rasterizeOverview(content.overview, {
      scale: content.scale,
      logDecades: content.vocabulary.logDecades,
      causal: content.causal ? { numQueries: content.numQueries, numKeys: content.numKeys } : null,
    });
    this.atlas = pixelCanvas(this.canvas.ownerDocument, atlas.pixels, atlas.width, atlas.height, this.atlas);
  }

  private paint(): void {
    const { content, layout, atlas } = this;
    if (!content || !layout || !atlas) return;
    this.theme = themeOf(this.canvas);
    const ctx = sizeCanvas(this.canvas, layout.width, layout.height, pixelRatioOf(this.canvas));
    if (ctx) paintOverview(ctx, layout, content, atlas, this.theme);
    this.paintOverlay();
    this.placeFocus();
  }

  /** Put the focus box around the focused thumbnail (hidden when nothing is focused). */
  private placeFocus(): void {
    const { layout, focus } = this;
    setHidden(this.focusBox, !layout || !focus);
    if (!layout || !focus) return;
    // the 2 px outline just outside the thumbnail
    const rect = thumbRect(layout, focus.row, focus.col);
    setStyle(this.focusBox, "left", `${rect.x - 2}px`);
    setStyle(this.focusBox, "top", `${rect.y - 2}px`);
    setStyle(this.focusBox, "width", `${rect.w + 4}px`);
    setStyle(this.focusBox, "height", `${rect.h + 4}px`);
  }

  private paintOverlay(): void {
    const { content, layout, query } = this;
    const shown = content !== null && layout !== null && query !== null && query < content.numQueries;
    setHidden(this.overlay, !shown); // a canvas costs every committed frame, drawn on or not
    if (!shown) return;
    const ctx = sizeCanvas(this.overlay, layout.width, layout.height, pixelRatioOf(this.canvas));
    if (!ctx) return;
    const { tq } = content.overview;
    const r = pooledIndex(query, content.numQueries, tq);
    const band = layout.thumb / tq;
    ctx.strokeStyle = this.theme.accent;
    ctx.lineWidth = this.locked ? 1.5 : 1;
    for (let row = 0; row < layout.layers; row++) {
      for (let col = 0; col < layout.columns; col++) {
        const rect = thumbRect(layout, row, col);
        const y = rect.y + r * band;
        ctx.strokeRect(rect.x + 0.5, y - 0.5, rect.w - 1, Math.max(band, 1) + 1);
      }
    }
  }

  private thumbAtEvent(event: MouseEvent): { row: number; col: number } | null {
    if (!this.layout) return null;
    const { x, y } = canvasPoint(this.canvas, event, this.layout.width, this.layout.height);
    return thumbAt(this.layout, x, y);
  }

  private onClick(event: MouseEvent): void {
    const thumb = this.thumbAtEvent(event);
    if (thumb && this.content) this.pick(thumb.row, thumb.col);
  }

  private pick(row: number, col: number): void {
    const content = this.content as OverviewContent;
    const head = headOfColumn(col, content.numHeads, content.vocabulary.aggregates);
    if (unavailable(content, head)) return;
    this.callbacks.pick(content.layerIndices[row], head);
  }

  private onMove(event: MouseEvent): void {
    const thumb = this.thumbAtEvent(event);
    const content = this.content;
    if (!thumb || !content) {
      this.onLeave();
      return;
    }
    const key = `${thumb.row}:${thumb.col}`;
    this.canvas.style.cursor = "pointer";
    if (key === this.hovered) return;
    this.hovered = key;
    const layer = content.layerIndices[thumb.row];
    const aggregates = content.vocabulary.aggregates;
    const head = headOfColumn(thumb.col, content.numHeads, aggregates);
    const name =
      typeof head === "number" ? `head ${head}` : (aggregates.find((a) => a.name === head)?.description ?? head);
    const max = content.overview.scale[thumb.row * content.overview.columns + thumb.col];
    const empty = typeof head === "string" ? content.emptyColumns?.[head] : undefined;
    const lines = unavailable(content, head)
      ? [`layer ${layer}, ${name}`, `not available: ${content.rolloutProblem}`]
      : empty
        ? [`layer ${layer}, ${name}`, `no thumbnail: ${empty}`, "click to focus"]
      : [`layer ${layer}, ${name}`, `max ${formatValue(max, 3)}`, "click to focus"];
    this.callbacks.tooltip(lines, event.clientX, event.clientY);
  }

  private onLeave(): void {
    this.canvas.style.cursor = "";
    if (this.hovered !== null) this.callbacks.tooltip(null, 0, 0);
    this.hovered = null;
  }

  private onKey(event: KeyboardEvent): void {
    const { content, layout } = this;
    if (!content || !layout) return;
    const moves: Record<string, [number, number]> = {
      ArrowUp: [-1, 0],
      ArrowDown: [1, 0],
      ArrowLeft: [0, -1],
      ArrowRight: [0, 1],
    };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    const from = this.focus ?? { row: 0, col: 0 };
    const row = Math.min(layout.layers - 1, Math.max(0, from.row + move[0]));
    let col = Math.min(layout.columns - 1, Math.max(0, from.col + move[1]));
    if (unavailable(content, headOfColumn(col, content.numHeads, content.vocabulary.aggregates))) col = from.col;
    this.pick(row, col);
  }
}

/** Draw labels and every thumbnail (hatch beneath masked blocks). */
function paintOverview(
  ctx: CanvasRenderingContext2D,
  layout: OverviewLayout,
  content: OverviewContent,
  atlas: HTMLCanvasElement,
  theme: Theme,
): void {
  const { tq, tk } = content.overview;
  ctx.fillStyle = theme.fg;
  ctx.font = font(10, theme.fontFamily);
  ctx.textBaseline = "middle";

  // axis captions
  ctx.fillStyle = theme.muted;
  ctx.textAlign = "left";
  ctx.fillText("head \u2192", layout.left, 7);
  ctx.save();
  ctx.translate(8, layout.top);
  ctx.rotate(Math.PI / 2);
  ctx.fillText("layer \u2192", 0, 0);
  ctx.restore();

  // column labels
  ctx.fillStyle = theme.fg;
  ctx.textAlign = "center";
  const labelY = layout.top - 8;
  for (let col = 0; col < layout.columns; col++) {
    const rect = thumbRect(layout, 0, col);
    const cx = rect.x + rect.w / 2;
    if (col < layout.heads) {
      ctx.fillText(String(col), cx, labelY);
      continue;
    }
    const label = content.vocabulary.aggregates[col - layout.heads]?.label ?? "";
    if (layout.rotateAggregateLabels) {
      ctx.save();
      ctx.translate(cx, layout.top - 4);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "left";
      ctx.fillText(label, 0, 0);
      ctx.restore();
    } else {
      ctx.fillText(label, cx, labelY);
    }
  }
  // row labels: model layer indices
  ctx.textAlign = "right";
  for (let row = 0; row < layout.layers; row++) {
    const rect = thumbRect(layout, row, 0);
    ctx.fillText(String(content.layerIndices[row] ?? row), layout.left - 5, rect.y + rect.h / 2);
  }

  const hatch = hatchPattern(ctx);
  const aggregates = content.vocabulary.aggregates;
  const rolloutColumn = content.rolloutProblem === null ? -1 : columnOf("rollout", content.numHeads, aggregates);
  const empty = new Set(Object.keys(content.emptyColumns ?? {}).map((name) => columnOf(name, content.numHeads, aggregates)));
  if (rolloutColumn >= 0) empty.add(rolloutColumn);
  ctx.imageSmoothingEnabled = false;
  for (let row = 0; row < layout.layers; row++) {
    for (let col = 0; col < layout.columns; col++) {
      const rect = thumbRect(layout, row, col);
      if (content.causal || empty.has(col)) {
        ctx.fillStyle = hatch;
        ctx.fillRect(rect.x, rect.y, rect.w, rect.h);
      }
      if (empty.has(col)) continue; // no data: left hatched, not drawn as zeros
      ctx.drawImage(atlas, col * tk, row * tq, tk, tq, rect.x, rect.y, rect.w, rect.h);
    }
  }
}
