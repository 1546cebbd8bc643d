/**
 * The visible canvas of the focused heatmap. A paint whose labels are those already on it (a
 * head switch, a new colour scale, a tile that arrived) clears and redraws only the cells and
 * the colour bar, and copies the colour bar's gradient from the last paint; any other paint
 * sizes the canvas and draws it whole.
 */
import { context2d, pixelRatioOf, sizeCanvas } from "./canvas";
import { GradientCache } from "./colorbar";
import { clearCells, labelInputs, paintCells, paintHeatmap, sameLabels, type HeatmapPaint, type LabelInputs } from "./heatmap-paint";

export class HeatmapCanvas {
  /** What the labels on the canvas were painted from (null: paint them). */
  private labels: LabelInputs | null = null;
  private readonly gradient: GradientCache;

  constructor(readonly canvas: HTMLCanvasElement) {
    this.gradient = new GradientCache(() => canvas.ownerDocument.createElement("canvas"));
  }

  /** Paint `shown` (the view's own paint: tiles are fetched, the gradient is kept). */
  paint(shown: Omit<HeatmapPaint, "fetch" | "gradient">): void {
    const ratio = pixelRatioOf(this.canvas);
    const paint = { ...shown, gradient: this.gradient };
    const labels = labelInputs(shown.layout, shown.content, shown.view, shown.theme, ratio);
    if (sameLabels(this.labels, labels)) {
      const ctx = context2d(this.canvas);
      if (!ctx) return;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      clearCells(ctx, shown.layout, ratio);
      paintCells(ctx, paint);
      return;
    }
    const ctx = sizeCanvas(this.canvas, shown.layout.width, shown.layout.height, ratio);
    if (ctx) paintHeatmap(ctx, paint);
    this.labels = ctx ? labels : null;
    this.canvas.dataset.labelPaints = String(Number(this.canvas.dataset.labelPaints ?? 0) + 1); // for tests
  }

  /** Blank the canvas (1 × 1); the next paint draws it whole. */
  clear(): void {
    sizeCanvas(this.canvas, 1, 1, 1);
    this.labels = null;
  }
}
