/**
 * The zoom and pan gestures of the focused heatmap: the wheel zooms around the pointer,
 * dragging pans, `+` / `-` zoom around the centre, arrow keys pan, `0` and the reset button
 * return to the whole matrix. The arithmetic is `zoom.ts`; this module only reads events
 * and asks its target for a new view.
 */
import { setHidden, setText } from "./domwrite";
import { canvasPoint } from "./canvas";
import type { Rect } from "./layout";
import { ZOOM_STEP, fullView, isFull, panBy, pointAt, zoomAt, type Viewport } from "./zoom";

/** What the gestures act on: the heatmap view. */
export interface ZoomTarget {
  /** The grid on the canvas (CSS px), the view shown and the matrix size; null when empty. */
  geometry(): { grid: Rect; width: number; height: number; view: Viewport; rows: number; cols: number } | null;
  /** Show `view` (already inside the matrix). */
  setView(view: Viewport): void;
}

/** Pointer travel (CSS px) after which a press is a drag, not a click. */
const DRAG_PX = 3;

export class ZoomControl {
  readonly bar: HTMLDivElement;
  private readonly reset: HTMLButtonElement;
  private readonly label: HTMLSpanElement;
  private drag: { x: number; y: number; view: Viewport; moved: boolean } | null = null;
  /** The last press was a drag: its click must not lock a row. */
  private suppressClick = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    host: HTMLElement,
    private readonly target: ZoomTarget,
    signal: AbortSignal,
  ) {
    const doc = canvas.ownerDocument;
    this.bar = doc.createElement("div");
    this.bar.className = "attnviz-zoombar";
    this.label = doc.createElement("span");
    this.label.className = "attnviz-zoom-label";
    this.reset = doc.createElement("button");
    this.reset.type = "button";
    this.reset.className = "attnviz-zoom-reset";
    this.reset.textContent = "reset zoom";
    this.reset.title = "show the whole matrix again (key 0)";
    this.bar.append(this.label, this.reset);
    host.prepend(this.bar);
    canvas.tabIndex = 0;
    canvas.addEventListener("wheel", (e) => this.onWheel(e), { signal, passive: false });
    canvas.addEventListener("mousedown", (e) => this.onDown(e), { signal });
    const view = doc.defaultView;
    view?.addEventListener("mousemove", (e) => this.onDrag(e), { signal });
    view?.addEventListener("mouseup", () => this.onUp(), { signal });
    canvas.addEventListener("keydown", (e) => this.onKey(e), { signal });
    this.reset.addEventListener("click", () => this.resetView(), { signal });
    this.update(null, 0, 0);
  }

  /** Whether the click that just happened ended a drag (and is to be ignored). */
  takeClickSuppression(): boolean {
    const suppress = this.suppressClick;
    this.suppressClick = false;
    return suppress;
  }

  /** Whether a drag is in progress (hover effects wait). */
  get dragging(): boolean {
    return this.drag?.moved === true;
  }

  /** Reflect the view: the reset button and the visible range. */
  update(view: Viewport | null, rows: number, cols: number): void {
    const zoomed = view !== null && !isFull(view, rows, cols);
    setHidden(this.reset, !zoomed);
    const label =
      view && zoomed
        ? `queries ${view.r0}\u2013${view.r1 - 1}, keys ${view.c0}\u2013${view.c1 - 1} of ${rows} \u00d7 ${cols}`
        : view && rows > 0
          ? "wheel or +/\u2212 to zoom, drag to pan"
          : "";
    setText(this.label, label);
  }

  private resetView(): void {
    const g = this.target.geometry();
    if (g) this.target.setView(fullView(g.rows, g.cols));
  }

  private onWheel(event: WheelEvent): void {
    const g = this.target.geometry();
    if (!g) return;
    const { x, y } = canvasPoint(this.canvas, event, g.width, g.height);
    const { grid } = g;
    if (x < grid.x || y < grid.y || x >= grid.x + grid.w || y >= grid.y + grid.h) return;
    event.preventDefault();
    const notches = Math.max(-5, Math.min(5, -event.deltaY / (event.deltaMode === 1 ? 3 : 100)));
    const { row, col } = pointAt(g.view, grid.w, grid.h, x - grid.x, y - grid.y);
    this.target.setView(zoomAt(g.view, ZOOM_STEP ** notches, row, col, g.rows, g.cols));
  }

  private onDown(event: MouseEvent): void {
    const g = this.target.geometry();
    if (!g || event.button !== 0) return;
    this.drag = { x: event.clientX, y: event.clientY, view: g.view, moved: false };
  }

  private onDrag(event: MouseEvent): void {
    const drag = this.drag;
    const g = this.target.geometry();
    if (!drag || !g) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < DRAG_PX) return;
    drag.moved = true;
    const cellW = g.grid.w / (g.view.c1 - g.view.c0);
    const cellH = g.grid.h / (g.view.r1 - g.view.r0);
    this.target.setView(panBy(drag.view, -dy / cellH, -dx / cellW, g.rows, g.cols));
  }

  private onUp(): void {
    if (this.drag?.moved) this.suppressClick = true;
    this.drag = null;
  }

  private onKey(event: KeyboardEvent): void {
    const g = this.target.geometry();
    if (!g || event.altKey || event.ctrlKey || event.metaKey) return;
    const { view } = g;
    const centre = { row: (view.r0 + view.r1) / 2, col: (view.c0 + view.c1) / 2 };
    const stepR = Math.max(1, Math.round((view.r1 - view.r0) / 8));
    const stepC = Math.max(1, Math.round((view.c1 - view.c0) / 8));
    let next: Viewport | null = null;
    if (event.key === "+" || event.key === "=") next = zoomAt(view, ZOOM_STEP, centre.row, centre.col, g.rows, g.cols);
    else if (event.key === "-" || event.key === "_") next = zoomAt(view, 1 / ZOOM_STEP, centre.row, centre.col, g.rows, g.cols);
    else if (event.key === "0") next = fullView(g.rows, g.cols);
    else if (event.key === "ArrowUp") next = panBy(view, -stepR, 0, g.rows, g.cols);
    else if (event.key === "ArrowDown") next = panBy(view, stepR, 0, g.rows, g.cols);
    else if (event.key === "ArrowLeft") next = panBy(view, 0, -stepC, g.rows, g.cols);
    else if (event.key === "ArrowRight") next = panBy(view, 0, stepC, g.rows, g.cols);
    if (!next) return;
    event.preventDefault();
    event.stopPropagation();
    this.target.setView(next);
  }
}
