/**
 * The parts of the render pass (`render.ts`) that show a generation: the step panel, the
 * outline of the current step's token, and the layer × head grid of the row that chose it.
 * Without `meta.generation` they hide the panel and draw nothing else.
 */
import type { Boundary } from "./boundary";
import type { Dom } from "./builder";
import { stepPosition } from "./generation";
import type { Part } from "./render";
import { currentStep, currentStepQuery, vocabularyOf } from "./state";
import type { Meta } from "./types";

export function generationParts(dom: Dom): Part[] {
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
      },
    },
    {
      name: "generation-grid",
      inputs: (s) => [s.data, s.stepRows, s.view.layer, s.view.head, s.view.colorScale, s.view.rowNormalize, s.view.step],
      draw: (s) => {
        const query = currentStepQuery(s);
        if (!s.data.meta?.generation || query === null) return dom.stepGrid.setContent(null);
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
      },
    },
  ];
}

/** The heatmap's boundary for `meta` (first generated query, and key where keys are the queries); null: none. */
export function generationBoundary(meta: Meta | null, cross: boolean): Boundary | null {
  const generation = meta?.generation;
  return generation ? { query: generation.promptTokens, key: cross ? null : generation.promptTokens } : null;
}
