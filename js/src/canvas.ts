/**
 * Small canvas helpers shared by the views: HiDPI sizing, the theme read from CSS, and the
 * hatch pattern that marks causally masked cells.
 */

/** Colours and font for drawing text on a canvas. */
export interface Theme {
  fg: string;
  muted: string;
  accent: string;
  /** Background of exports (views draw on a transparent canvas). */
  background: string;
  fontFamily: string;
}

/** The look of exported images: dark text on white, whatever the notebook theme. */
export const PRINT_THEME: Theme = {
  fg: "#1f2328",
  muted: "#6e7781",
  accent: "#e8590c",
  background: "#ffffff",
  fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif",
};

/** The theme of `el` from its computed style (falls back to {@link PRINT_THEME}). */
export function themeOf(el: Element): Theme {
  const view = el.ownerDocument.defaultView;
  if (!view) return PRINT_THEME;
  const style = view.getComputedStyle(el);
  const get = (name: string, fallback: string): string => style.getPropertyValue(name).trim() || fallback;
  return {
    fg: style.color || PRINT_THEME.fg,
    muted: get("--attnviz-muted", PRINT_THEME.muted),
    accent: get("--attnviz-accent", PRINT_THEME.accent),
    background: PRINT_THEME.background,
    fontFamily: style.fontFamily || PRINT_THEME.fontFamily,
  };
}

function sameTheme(a: Theme, b: Theme): boolean {
  return a.fg === b.fg && a.muted === b.muted && a.accent === b.accent && a.fontFamily === b.fontFamily;
}

/**
 * The theme of one element, read from CSS once and read again when the browser is next idle
 * after each use. A paint in a busy frame (a head switch) so forces no style recalculation
 * (half a millisecond a heatmap at 512 tokens), and a theme change (JupyterLab's light to
 * dark) still reaches the canvas: `changed` is called to repaint with the new theme.
 */
export class ThemeWatch {
  private theme: Theme | null = null;
  private pending = false;
  private stopped = false;

  constructor(
    private readonly el: Element,
    private readonly changed: () => void,
  ) {}

  /** The theme to paint with now. */
  get current(): Theme {
    this.theme ??= themeOf(this.el);
    this.checkWhenIdle();
    return this.theme;
  }

  /** Stop checking (the view is gone). */
  dispose(): void {
    this.stopped = true;
  }

  private checkWhenIdle(): void {
    if (this.pending || this.stopped) return;
    this.pending = true;
    const check = (): void => {
      this.pending = false;
      if (this.stopped || !this.el.isConnected) return;
      const now = themeOf(this.el);
      if (this.theme && sameTheme(now, this.theme)) return;
      this.theme = now;
      this.changed();
    };
    const view = this.el.ownerDocument.defaultView;
    if (view && typeof view.requestIdleCallback === "function") view.requestIdleCallback(check, { timeout: 1000 });
    else setTimeout(check, 200);
  }
}

/** The device pixel ratio of `el`'s window (at least 1). */
export function pixelRatioOf(el: Element): number {
  return Math.max(1, el.ownerDocument.defaultView?.devicePixelRatio ?? 1);
}

/**
 * Size `canvas` to `width × height` CSS pixels at `ratio` device pixels each and return its
 * 2D context scaled to CSS pixels (null where canvas is unavailable, as in jsdom/happy-dom).
 */
export function sizeCanvas(
  canvas: HTMLCanvasElement,
  width: number,
  height: number,
  ratio: number,
): CanvasRenderingContext2D | null {
  const w = Math.max(1, Math.round(width * ratio));
  const h = Math.max(1, Math.round(height * ratio));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const cssW = `${width}px`;
  const cssH = `${height}px`;
  if (canvas.style.width !== cssW) canvas.style.width = cssW; // unchanged: no style invalidation
  if (canvas.style.height !== cssH) canvas.style.height = cssH;
  const ctx = context2d(canvas);
  if (!ctx) return null;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

/** The 2D context of `canvas`, or null when the environment has none. */
export function context2d(canvas: HTMLCanvasElement): CanvasRenderingContext2D | null {
  try {
    return canvas.getContext("2d");
  } catch {
    return null;
  }
}

/** Diagonal grey hatch for cells a causal mask hides: neutral on light and dark themes. */
export function hatchPattern(ctx: CanvasRenderingContext2D): CanvasPattern | string {
  const fallback = "rgba(128, 128, 128, 0.3)";
  const tile = ctx.canvas.ownerDocument.createElement("canvas");
  tile.width = tile.height = 6;
  const t = context2d(tile);
  if (!t) return fallback;
  t.fillStyle = "rgba(128, 128, 128, 0.18)";
  t.fillRect(0, 0, 6, 6);
  t.strokeStyle = "rgba(128, 128, 128, 0.6)";
  t.lineWidth = 1;
  t.beginPath();
  t.moveTo(0, 6);
  t.lineTo(6, 0);
  t.moveTo(-1, 1);
  t.lineTo(1, -1);
  t.moveTo(5, 7);
  t.lineTo(7, 5);
  t.stroke();
  return ctx.createPattern(tile, "repeat") ?? fallback;
}

/** A canvas holding `pixels` (`width × height` RGBA) at one pixel per value. */
export function pixelCanvas(
  doc: Document,
  pixels: Uint8ClampedArray,
  width: number,
  height: number,
  reuse?: HTMLCanvasElement | null,
): HTMLCanvasElement {
  const canvas = reuse ?? doc.createElement("canvas");
  // the same size is kept: setting it would clear and reallocate the bitmap (putImageData replaces every pixel)
  if (canvas.width !== Math.max(1, width)) canvas.width = Math.max(1, width);
  if (canvas.height !== Math.max(1, height)) canvas.height = Math.max(1, height);
  const ctx = context2d(canvas);
  if (ctx && width > 0 && height > 0 && typeof ImageData !== "undefined") {
    const image = new ImageData(pixels.subarray(0, width * height * 4) as Uint8ClampedArray<ArrayBuffer>, width, height);
    ctx.putImageData(image, 0, 0);
  }
  return canvas;
}

/** A CSS font shorthand. */
export function font(sizePx: number, family: string, weight = 400): string {
  return `${weight} ${sizePx}px ${family}`;
}

/** Pointer position in CSS pixels of a canvas laid out `cssWidth` wide. */
export function canvasPoint(
  canvas: HTMLCanvasElement,
  event: MouseEvent,
  cssWidth: number,
  cssHeight: number,
): { x: number; y: number } {
  const rect = canvas.getBoundingClientRect();
  const sx = rect.width > 0 ? cssWidth / rect.width : 1;
  const sy = rect.height > 0 ? cssHeight / rect.height : 1;
  return { x: (event.clientX - rect.left) * sx, y: (event.clientY - rect.top) * sy };
}

/**
 * Draw `text` as a filled label chip into `scratch` (a canvas kept out of the document) and
 * return its size in CSS pixels. Text drawn on a connected canvas makes the browser update
 * the document's style first; drawing it here and copying it with `drawImage` keeps
 * hover redraws free of style work.
 */
export function renderChip(
  scratch: HTMLCanvasElement,
  text: string,
  fontSpec: string,
  background: string,
  color: string,
  ratio: number,
): { w: number; h: number } {
  const ctx = context2d(scratch);
  if (!ctx) return { w: 0, h: 0 };
  ctx.font = fontSpec;
  const h = 14;
  const w = Math.ceil(ctx.measureText(text).width + 8);
  scratch.width = Math.max(1, Math.ceil(w * ratio));
  scratch.height = Math.ceil(h * ratio);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, w, h);
  ctx.font = fontSpec; // resizing reset the state
  ctx.fillStyle = color;
  ctx.textBaseline = "middle";
  ctx.textAlign = "left";
  ctx.fillText(text, 4, h / 2 + 0.5);
  return { w, h };
}
