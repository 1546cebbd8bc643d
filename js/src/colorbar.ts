/**
 * The colour bar's gradient: one `fillRect` per CSS pixel of its height (about 400 at 512
 * tokens, each parsing a colour), the same on every head. {@link GradientCache} keeps the
 * device pixels of the last one drawn and copies them back when the bar has the same place,
 * size and pixel ratio: the same premultiplied pixels, blitted 1:1 onto the transparent
 * canvas, so the picture does not change.
 */
import { COLORMAP_SIZE, VIRIDIS } from "./colormap";
import type { Rect } from "./layout";

/** A device-pixel rectangle of a canvas. */
export interface DeviceRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Fill `bar` (CSS px, under the context's transform) with the viridis gradient, top = 1. */
export function fillGradient(ctx: CanvasRenderingContext2D, bar: Rect): void {
  const steps = Math.max(1, Math.round(bar.h));
  for (let i = 0; i < steps; i++) {
    const t = 1 - (i + 0.5) / steps;
    const k = 4 * Math.min(COLORMAP_SIZE - 1, Math.floor(t * COLORMAP_SIZE));
    ctx.fillStyle = `rgb(${VIRIDIS[k]}, ${VIRIDIS[k + 1]}, ${VIRIDIS[k + 2]})`;
    ctx.fillRect(bar.x, bar.y + (i * bar.h) / steps, bar.w, bar.h / steps + 0.5);
  }
}

/**
 * The device pixels {@link fillGradient} can touch under `transform` (a scale and a
 * translation), with a pixel of margin; null for a rotated or skewed transform.
 */
export function gradientPixels(bar: Rect, transform: DOMMatrix2DInit): DeviceRect | null {
  const { a = 1, b = 0, c = 0, d = 1, e = 0, f = 0 } = transform;
  if (b !== 0 || c !== 0 || !(a > 0) || !(d > 0)) return null;
  const x = Math.floor(a * bar.x + e) - 1;
  const y = Math.floor(d * bar.y + f) - 1;
  const right = Math.ceil(a * (bar.x + bar.w) + e) + 1;
  const bottom = Math.ceil(d * (bar.y + bar.h + 0.5) + f) + 1; // the last step overlaps by half a pixel
  return { x, y, w: right - x, h: bottom - y };
}

/** One view's last gradient, as device pixels. */
export class GradientCache {
  private key = "";
  private copy: HTMLCanvasElement | null = null;
  /** How many times the gradient was drawn with `fillRect` (for tests and profiling). */
  drawn = 0;

  /** `make` makes the out-of-document canvas the pixels are kept in. */
  constructor(private readonly make: () => HTMLCanvasElement) {}

  /**
   * Draw the gradient of `bar` on `ctx`, whose pixels under it must be transparent (the
   * bar's place is drawn first): copied from the last one when its key is the same, else
   * filled and kept.
   */
  paint(ctx: CanvasRenderingContext2D, bar: Rect): void {
    const transform = ctx.getTransform?.();
    const region = transform ? gradientPixels(bar, transform) : null;
    const canvas = ctx.canvas;
    const inside = region !== null && region.x >= 0 && region.y >= 0 && region.x + region.w <= canvas.width && region.y + region.h <= canvas.height;
    const key = inside && transform ? [transform.a, transform.d, transform.e, transform.f, bar.x, bar.y, bar.w, bar.h].join() : "";
    if (key !== "" && key === this.key && this.copy && region) {
      ctx.save();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(this.copy, region.x, region.y);
      ctx.restore();
      return;
    }
    fillGradient(ctx, bar);
    this.drawn += 1;
    this.key = "";
    if (key === "" || !region) return;
    const copy = this.copy ?? this.make();
    copy.width = region.w;
    copy.height = region.h;
    const target = copy.getContext("2d");
    if (!target) return;
    target.globalCompositeOperation = "copy";
    target.imageSmoothingEnabled = false;
    target.drawImage(canvas, region.x, region.y, region.w, region.h, 0, 0, region.w, region.h);
    this.copy = copy;
    this.key = key;
  }
}
