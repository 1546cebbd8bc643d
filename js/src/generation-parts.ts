/**
 * The parts of the render pass (`render.ts`) that show a generation: the step panel, the
 * outline of the current step's token, and the layer × head grid of the row that chose it.
 * Without `meta.generation` they hide the panel and draw nothing else.
 */
import type { Boundary } from "./boundary";
import type { Dom } from "./builder";
import { stepPosition } from "./generation";
import { canvasHeight } from "./layout";
import type { Part } from "./render";
import { currentStep, currentStepQuery, vocabularyOf } from "./state";
import type { Meta } from "./types";

export { tokenMarks } from "./generation";

/**
 * The canvases' height under the widget's cap, less what the step panel takes (so the heatmap
 * stays in view beside the step control). While a generation is shown the panel keeps the most
 * room it has taken: a data set or step that briefly shortens it (each streamed token) must not
 * fit, and so re-rasterise, the canvases again.
 */
function canvasFitter(dom: Dom): () => void {
  let taken = 0;
  return () => {
    const panel = dom.steps.el.hidden ? 0 : Math.max(taken, dom.steps.el.offsetHeight);
    if (panel === taken || !Number.isFinite(canvasHeight(dom.heightCap))) return;
    taken = panel;
    const budget = canvasHeight(dom.heightCap - panel);
    dom.root.style.setProperty("--attnviz-canvas-height", `${budget}px`);
    dom.heatmap.setAvailableHeight(budget);
    dom.overview.setTargetHeight(budget);
  };
}

export function generationParts(dom: Dom): Part[] {
  const fit = canvasFitter(dom);
  return [
    {
      name: "generation-panel",
      inputs: (s) => [s.data, s.view.step],
      draw: (s) => {
        const generation = s.data.meta?.generation ?? null;
        const step = currentStep(s);
        dom.steps.update({ generation, step });
        dom.tokens.setStepToken(generation && step !== null ? stepPosition(generation, step) : null);
        dom.root.dataset.step = step === null ? "" : String(step);
        fit();
      },
    },
    {
      name: "generation-grid",
      inputs: (s) => [s.data, s.stepRows, s.view.layer, s.view.head, s.view.colorScale, s.view.rowNormalize, s.view.step],
      draw: (s) => {
        const query = currentStepQuery(s);
        if (!s.data.meta?.generation || query === null) {
          dom.stepGrid.setContent(null);
          return fit();
        }
        const { rows, error } = s.stepRows;
        dom.stepGrid.setContent({
          rows,
          query,
          queryLabel: s.data.tokens[query] ?? "",
          layerIndices: s.data.meta.layer_indices,
          keyTokens: s.data.keyTokens,
          scale: s.view.colorScale,
          rowNormalize: s.view.rowNormalize,
          logDecades: vocabularyOf(s.data.meta).logDecades,
          focus: { layer: s.view.layer, head: s.view.head },
          status: error ? `Could not load the row of query ${query}: ${error}` : rows ? "" : `Loading the row of query ${query}\u2026`,
        });
        fit();
      },
    },
    {
      // the row that chose the step's token scrolls into the heatmap's view (streaming: the newest)
      name: "generation-reveal",
      inputs: (s, d) => [currentStepQuery(s), s.data.version, d.display !== null],
      draw: (s) => {
        const query = currentStepQuery(s);
        const band = query === null ? null : dom.heatmap.rowBand(query);
        const scroll = dom.heatmap.canvas.closest<HTMLElement>(".attnviz-scroll");
        if (!band || !scroll || !(scroll.clientHeight > 0)) return;
        const top = dom.heatmap.canvas.getBoundingClientRect().top - scroll.getBoundingClientRect().top + scroll.scrollTop;
        if (top + band.top < scroll.scrollTop || top + band.bottom > scroll.scrollTop + scroll.clientHeight) {
          scroll.scrollTop = Math.max(0, top + (band.top + band.bottom) / 2 - scroll.clientHeight / 2);
        }
      },
    },
  ];
}

/** The heatmap's boundary for `meta` (first generated query, and key where keys are the queries); null: none. */
export function generationBoundary(meta: Meta | null, cross: boolean): Boundary | null {
  const generation = meta?.generation;
  return generation ? { query: generation.promptTokens, key: cross ? null : generation.promptTokens } : null;
}
