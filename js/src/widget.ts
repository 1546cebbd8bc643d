/**
 * The anywidget entry point (bundled to `attnviz_widget/static/widget.js`).
 *
 * The default export is anywidget's widget definition, `{ render }`, as anywidget ≥ 0.9
 * recommends (a bundle that exports `render` by name is the deprecated form).
 * `mountStandalone(el, state)` draws the same widget without Jupyter, from embedded data.
 */
import { App } from "./app";
import { ComparisonLocalModel, type ComparisonState } from "./compare-standalone";
import { renderComparison } from "./compare-view";
import { renderAtlas } from "./atlas-view";
import { ModelAdapter, type AdapterOptions, type AnyModelLike } from "./model";
import { LocalModel, type StandaloneState } from "./standalone";

/** anywidget's render hook: build the view in `el`; the returned function removes it. */
function render({ model, el }: { model: AnyModelLike; el: HTMLElement }, options?: AdapterOptions): () => void {
  if (model.get("view_kind") === "comparison") return renderComparison(model, el, options); // attnviz_widget.comparison.view
  if (model.get("view_kind") === "atlas") return renderAtlas(model, el); // attnviz_widget.stats.view
  const adapter = new ModelAdapter(model, options);
  const app = new App(el, adapter);
  return () => {
    app.destroy();
    adapter.dispose();
  };
}

/** Show the widget in `el` from trait values plus embedded layers, with no kernel. */
export function mountStandalone(el: HTMLElement, state: StandaloneState): { model: LocalModel; destroy: () => void } {
  const model = new LocalModel(state);
  const destroy = render({ model, el });
  return { model, destroy };
}

/** Show a comparison in `el` from embedded data, with no kernel (`save_html(comparison)`). */
export function mountComparison(el: HTMLElement, state: ComparisonState): { model: ComparisonLocalModel; destroy: () => void } {
  const model = new ComparisonLocalModel(state);
  const destroy = renderComparison(model, el);
  return { model, destroy };
}

export type { StandaloneState } from "./standalone";
export type { ComparisonState } from "./compare-standalone";
export type { AnyModelLike } from "./model";

export default { render };
