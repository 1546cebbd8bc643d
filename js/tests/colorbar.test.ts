import { describe, expect, it } from "vitest";
import { GradientCache, gradientPixels } from "../src/colorbar";

/** A 2D context double: counts fills, records blits; `ratio` is its scale (device pixels per CSS pixel). */
function fakeContext(ratio: number, width = 800, height = 700) {
  const log = { fills: 0, blits: [] as [number, number][], copies: 0 };
  const transform = { a: ratio, b: 0, c: 0, d: ratio, e: 0, f: 0 };
  const ctx = {
    canvas: { width, height },
    fillStyle: "",
    imageSmoothingEnabled: true,
    getTransform: () => ({ ...transform }),
    setTransform: () => undefined,
    save: () => undefined,
    restore: () => undefined,
    fillRect: () => void (log.fills += 1),
    drawImage: (_source: unknown, x: number, y: number) => void log.blits.push([x, y]),
  };
  return { ctx: ctx as unknown as CanvasRenderingContext2D, log, transform };
}

function fakeCanvasMaker(log: { copies: number }) {
  return () =>
    ({
      width: 0,
      height: 0,
      getContext: () => ({ globalCompositeOperation: "", imageSmoothingEnabled: true, drawImage: () => void (log.copies += 1) }),
    }) as unknown as HTMLCanvasElement;
}

const bar = { x: 540.5, y: 62, w: 12, h: 400 };

describe("gradientPixels", () => {
  it("covers the bar and its half-pixel overlap in device pixels, with a margin", () => {
    expect(gradientPixels(bar, { a: 1, d: 1, e: 0, f: 0 })).toEqual({ x: 539, y: 61, w: 15, h: 403 });
    expect(gradientPixels(bar, { a: 2, d: 2, e: 0, f: 0 })).toEqual({ x: 1080, y: 123, w: 26, h: 803 });
    expect(gradientPixels(bar, { a: 1, b: 1, c: 0, d: 1 })).toBeNull(); // skewed: not cached
  });
});

describe("GradientCache", () => {
  it("fills the gradient once and copies it back on the next paint of the same bar", () => {
    const { ctx, log } = fakeContext(1);
    const cache = new GradientCache(fakeCanvasMaker(log));
    cache.paint(ctx, bar);
    expect(log.fills).toBe(400); // one step per CSS pixel of height
    expect(log.copies).toBe(1);
    cache.paint(ctx, bar); // a head switch
    cache.paint(ctx, bar);
    expect(log.fills).toBe(400);
    expect(log.blits).toEqual([[539, 61], [539, 61]]);
    expect(cache.drawn).toBe(1);
  });

  it("fills again when the bar's size or place changes", () => {
    const { ctx, log } = fakeContext(1);
    const cache = new GradientCache(fakeCanvasMaker(log));
    cache.paint(ctx, bar);
    cache.paint(ctx, { ...bar, h: 300 }); // a shorter heatmap
    cache.paint(ctx, { ...bar, x: 600 }); // wider cells
    expect(cache.drawn).toBe(3);
    expect(log.fills).toBe(400 + 300 + 400);
    expect(log.blits).toEqual([]);
  });

  it("fills again when the device pixel ratio changes", () => {
    const { ctx, log, transform } = fakeContext(1, 1600, 1400); // the canvas at either ratio
    const cache = new GradientCache(fakeCanvasMaker(log));
    cache.paint(ctx, bar);
    transform.a = transform.d = 2;
    cache.paint(ctx, bar);
    expect(cache.drawn).toBe(2);
    cache.paint(ctx, bar);
    expect(cache.drawn).toBe(2);
    expect(log.blits).toEqual([[1080, 123]]);
  });

  it("does not keep a bar that reaches outside the canvas, or one it cannot copy", () => {
    const { ctx, log } = fakeContext(1, 545, 700);
    const cache = new GradientCache(fakeCanvasMaker(log));
    cache.paint(ctx, bar);
    cache.paint(ctx, bar);
    expect(cache.drawn).toBe(2);
    expect(log.copies).toBe(0);
    const noContext = new GradientCache(() => ({ getContext: () => null }) as unknown as HTMLCanvasElement);
    const other = fakeContext(1);
    noContext.paint(other.ctx, bar);
    noContext.paint(other.ctx, bar);
    expect(noContext.drawn).toBe(2);
  });
});
