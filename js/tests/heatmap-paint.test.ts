import { describe, expect, it } from "vitest";
import { PRINT_THEME } from "../src/canvas";
import { labelInputs, sameLabels, type HeatmapContent } from "../src/heatmap-paint";
import { heatmapLayout } from "../src/layout";
import { identityIndex, prepareDisplay } from "../src/scale";
import { fullView } from "../src/zoom";

const labels = ["[CLS]", "the", "movie", "[SEP]"];
const special = [true, false, false, true];

function content(data: number[], extra: Partial<HeatmapContent> = {}): HeatmapContent {
  const source = { rows: 4, cols: 4, data: Float32Array.from(data) };
  return {
    display: prepareDisplay(source, { hideSpecial: false, rowNormalize: false, specialRows: special, specialCols: special }),
    source,
    rowLabels: labels,
    colLabels: labels,
    rowSpecial: special,
    colSpecial: special,
    causal: false,
    scale: "sqrt",
    logDecades: 3,
    scaleCaption: "sqrt",
    ...extra,
  };
}

describe("whether a repaint can keep the labels", () => {
  const layout = heatmapLayout({ rows: 4, cols: 4, availableWidth: 500, rowLabelWidth: 30, colLabelWidth: 30, pixelRatio: 1 });
  const view = fullView(4, 4);
  const first = labelInputs(layout, content(Array(16).fill(0.25)), view, PRINT_THEME, 1);

  it("keeps them for another head: other values, new but equal index arrays", () => {
    const next = content(Array.from({ length: 16 }, (_, i) => i / 16));
    expect(next.display.rowIndex).not.toBe(first.rowIndex);
    expect(sameLabels(first, labelInputs(layout, next, view, PRINT_THEME, 1))).toBe(true);
  });

  it("paints them anew for other tokens, a zoom, a theme, a pixel ratio, a layout or a generation boundary", () => {
    const base = content(Array(16).fill(0.25));
    const changed = [
      labelInputs(layout, { ...base, rowLabels: [...labels] }, view, PRINT_THEME, 1),
      labelInputs(layout, { ...base, display: { ...base.display, colIndex: Int32Array.from([0, 1, 2]) } }, view, PRINT_THEME, 1),
      labelInputs(layout, base, { ...view, r0: 1 }, PRINT_THEME, 1),
      labelInputs(layout, base, view, { ...PRINT_THEME, fg: "#eee" }, 1),
      labelInputs(layout, base, view, PRINT_THEME, 2),
      labelInputs({ ...layout, grid: { ...layout.grid, x: layout.grid.x + 1 } }, base, view, PRINT_THEME, 1),
      labelInputs(layout, { ...base, boundary: { query: 2, key: 2 } }, view, PRINT_THEME, 1),
    ];
    for (const inputs of changed) expect(sameLabels(first, inputs)).toBe(false);
    expect(sameLabels(null, first)).toBe(false);
    expect(identityIndex(4)).toEqual(first.rowIndex);
  });
});
