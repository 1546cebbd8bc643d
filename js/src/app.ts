/**
 * The widget controller. It keeps one {@link AppState} (data, view, focus), turns user
 * intents and model events into a new state, and draws every state with one render pass
 * (`render.ts`) over the DOM the builder made (`builder.ts`). Data flow: traits →
 * {@link ModelAdapter} → state → render; user actions → state (→ adapter → Python). Every
 * instance is independent: nothing is shared between widgets on a page, and
 * {@link App.destroy} removes every listener.
 */
import { buildDom, type Dom, type Intents } from "./builder";
import { downloadPng, exportFileName } from "./export";
import { loadFocusedMatrix, loadedFocusedMatrix, shapeProblem } from "./focus";
import type { ModelAdapter } from "./model";
import { isAbandoned } from "./protocol";
import { Renderer } from "./render";
import {
  NO_FOCUS,
  NO_ROW,
  addLayer,
  currentStepQuery,
  fitView,
  focusKey,
  hasData,
  headAvailable,
  headName,
  headTitle,
  isCross,
  isTiled,
  rowKey,
  scaleCaption,
  stepRowsKey,
  vocabularyOf,
  type AppState,
  type FocusState,
} from "./state";
import { stepQuery } from "./generation";
import { NO_STEP_ROWS, StepRowsLoader, checkedRows } from "./steprows";
import { overviewPool } from "./zoom";
import type { Axis } from "./tokens";
import type { ViewState } from "./types";

export { headAvailable, headName, headTitle, isCross, scaleCaption } from "./state";

/** Device pixels the pooled picture of a long matrix is fetched for (zooming in fetches tiles). */
const BASE_PIXELS = 768;

export class App {
  readonly root: HTMLDivElement;
  private readonly dom: Dom;
  private readonly renderer: Renderer;
  private state: AppState;
  /** Cancels the `row` request of the previous selection (long inputs). */
  private rowRequest: AbortController | null = null;
  /** The `rows` requests of a generation's steps (the layer × head grid). */
  private readonly stepRows: StepRowsLoader;
  private destroyed = false;

  constructor(
    host: HTMLElement,
    private readonly adapter: ModelAdapter,
  ) {
    this.dom = buildDom(host, this.intents());
    this.root = this.dom.root;
    this.renderer = new Renderer(this.dom, adapter);
    this.stepRows = new StepRowsLoader(
      (query, signal) =>
        adapter.requestRows(query, signal).then((rows) => {
          const { meta, keyTokens } = this.state.data;
          return checkedRows(rows, meta?.layer_indices.length ?? 0, meta?.num_heads ?? 0, keyTokens.length);
        }),
      (rows) => {
        if (this.state.stepRows.key === rows.key) this.setState({ stepRows: rows }); // else a stale reply: dropped
      },
    );
    adapter.onData(() => this.loadData());
    adapter.onStatus(() => {
      const status = adapter.readStatus();
      const starts = status.status === "loading" && this.state.status.status !== "loading";
      this.setState({ status, ...(starts ? { progress: null } : {}) }); // a new run paints anew
    });
    adapter.onOverviewLayer((layer) => {
      if (this.state.status.status === "loading") this.setState({ progress: addLayer(this.state.progress, layer) });
    });
    adapter.onView((patch) => this.update(patch, false), () => this.state.data.meta);
    const data = adapter.readData();
    this.state = {
      data,
      status: adapter.readStatus(),
      view: fitView(adapter.readView(data.meta), data),
      focus: NO_FOCUS,
      hoverKey: null,
      exportError: null,
      row: NO_ROW,
      progress: null,
      stepRows: NO_STEP_ROWS,
    };
    this.setState({});
  }

  /** The current state (for tests and automation; never mutate it). */
  get current(): AppState {
    return this.state;
  }

  /** Remove the widget's DOM and every listener it added. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.rowRequest?.abort();
    this.stepRows.dispose();
    this.dom.destroy();
  }

  /** Replace part of the state, load the focused matrix if it changed, and render. */
  private setState(patch: Partial<AppState>): void {
    if (this.destroyed) return;
    let next: AppState = { ...this.state, ...patch };
    const key = hasData(next.data) ? focusKey(next) : "";
    if (key !== next.focus.key) {
      // a loaded layer paints in this pass; otherwise "Loading…" until the answer comes
      const loaded = key === "" ? NO_FOCUS : this.loadedFocus(next, key);
      next = { ...next, focus: loaded ?? { key, matrix: null, error: null } };
      if (!loaded) this.load(next, key);
    }
    const row = rowKey(next);
    if (row !== next.row.key) {
      next = { ...next, row: { key: row, values: null } };
      this.loadRow(next, row);
    }
    const steps = stepRowsKey(next);
    if (steps !== next.stepRows.key) next = { ...next, stepRows: this.stepRows.load(steps, next.data.version, currentStepQuery(next)) };
    this.state = next;
    this.renderer.render(next);
  }

  /** The focus of `state` if its matrix is already here (a dense input's loaded layer), else null. */
  private loadedFocus(state: AppState, key: string): FocusState | null {
    const meta = state.data.meta;
    if (!meta || isTiled(meta)) return null;
    try {
      const matrix = loadedFocusedMatrix(this.adapter, meta.layer_indices, state.view.layer, state.view.head);
      const fits = matrix !== null && shapeProblem(matrix, state.data.tokens.length, state.data.keyTokens.length) === null;
      return fits ? { key, matrix, error: null } : null;
    } catch {
      return null; // the request path reports what is wrong
    }
  }

  /**
   * Fetch the focused matrix of `state` (long inputs: the whole matrix pooled, one tile);
   * the answer lands only if it is still the focus.
   */
  private load(state: AppState, key: string): void {
    const { data, view } = state;
    const meta = data.meta;
    if (!meta) return;
    const vocabulary = vocabularyOf(meta);
    const rows = data.tokens.length;
    const cols = data.keyTokens.length;
    const request = isTiled(meta)
      ? this.adapter
          .requestTile(view.layer, view.head, { q0: 0, q1: rows, k0: 0, k1: cols, pool: overviewPool(rows, cols, BASE_PIXELS) })
          .then((base) => ({ key, matrix: null, base, error: null }))
      : loadFocusedMatrix(this.adapter, meta.layer_indices, view.layer, view.head).then((matrix) => {
          const problem = shapeProblem(matrix, rows, cols);
          if (problem) throw new Error(problem);
          return { key, matrix, error: null };
        });
    request
      .then((focus) => {
        if (this.state.focus.key === key) this.setState({ focus });
      })
      .catch((error: unknown) => {
        if (this.destroyed || this.state.focus.key !== key || isAbandoned(error)) return;
        const what = `${headName(view.head, vocabulary)} of layer ${view.layer}`;
        // a failed focus is retried on the next change of layer or head
        this.setState({ focus: { key, matrix: null, error: `Could not load ${what}: ${(error as Error).message}` } });
      });
  }

  /** Fetch the selected query's full row (long inputs), cancelling the previous one. */
  private loadRow(state: AppState, key: string): void {
    this.rowRequest?.abort();
    this.rowRequest = null;
    const query = state.view.selectedToken;
    if (key === "" || query === null) return;
    const controller = new AbortController();
    this.rowRequest = controller;
    this.adapter
      .requestRow(state.view.layer, state.view.head, query, controller.signal)
      .then((values) => {
        if (this.state.row.key === key) this.setState({ row: { key, values } });
      })
      .catch(() => undefined); // cancelled or failed: that token stays unshaded
  }

  /** A new extraction arrived: re-read every data trait and the view. */
  private loadData(): void {
    const data = this.adapter.readData();
    this.setState({ data, view: fitView(this.adapter.readView(data.meta), data), hoverKey: null, progress: null });
  }

  /** Apply a change of view state, from the user (`local`) or from the other side. */
  private update(patch: Partial<ViewState>, local: boolean): void {
    const meta = this.state.data.meta;
    if (local && patch.head !== undefined && meta && !headAvailable(patch.head, meta)) {
      // Python would reject it (and keep its value): do not send it, and put the control back
      this.renderer.invalidate("controls");
      this.setState({});
      return;
    }
    if (local && patch.step !== undefined && patch.step !== null && meta?.generation) {
      // a step locks the selection on the row that chose its token, as Python does
      patch = { ...patch, selectedToken: stepQuery(meta.generation, patch.step), tokenLocked: true };
    }
    if (local) this.adapter.setView(patch);
    const next = { ...this.state.view, ...patch };
    // a failed focus is tried again when asked for again
    const retry = this.state.focus.error !== null && (patch.layer !== undefined || patch.head !== undefined);
    this.setState({ view: next, ...(retry ? { focus: NO_FOCUS } : {}) });
  }

  private intents(): Intents {
    return {
      change: (patch) => this.update(patch, true),
      hoverQuery: (query) => this.hoverQuery(query),
      clickQuery: (query) => this.clickQuery(query),
      hoverToken: (index, axis) => this.hoverToken(index, axis),
      clickToken: (index, axis) => {
        if (axis === "query" || !isCross(this.state.data)) this.clickQuery(index);
      },
      key: (event) => this.onKey(event),
      exportPng: () => void this.exportPng(),
    };
  }

  private hoverQuery(query: number | null): void {
    const { view } = this.state;
    if (view.tokenLocked || query === view.selectedToken) return;
    this.adapter.setView({ selectedToken: query }, { defer: true });
    this.setState({ view: { ...view, selectedToken: query } });
  }

  private clickQuery(query: number): void {
    const { selectedToken, tokenLocked } = this.state.view;
    const unlock = tokenLocked && selectedToken === query;
    this.adapter.setView({ selectedToken: query, tokenLocked: !unlock });
    this.root.focus({ preventScroll: true }); // so Escape reaches this widget
    this.setState({ view: { ...this.state.view, selectedToken: query, tokenLocked: !unlock } });
  }

  private hoverToken(index: number | null, axis: Axis): void {
    if (axis === "key" && isCross(this.state.data)) {
      if (index !== this.state.hoverKey) this.setState({ hoverKey: index });
      return;
    }
    this.hoverQuery(index);
  }

  private onKey(event: KeyboardEvent): void {
    if (event.key !== "Escape" || !this.state.view.tokenLocked) return;
    event.preventDefault();
    event.stopPropagation();
    this.adapter.setView({ selectedToken: null, tokenLocked: false });
    this.setState({ view: { ...this.state.view, selectedToken: null, tokenLocked: false } });
  }

  private async exportPng(): Promise<void> {
    const { data, view } = this.state;
    const meta = data.meta;
    const title = headTitle(view.layer, view.head, vocabularyOf(meta));
    const model = meta?.model?.name || meta?.model?.architecture || "";
    const text = meta?.text ? `\u201c${meta.text}\u201d` : "";
    const details = [model, text, `${scaleCaption(view)} colour scale`];
    if (this.renderer.derived?.display?.hidden) details.push("special tokens hidden, rows renormalised");
    const canvas = this.dom.heatmap.snapshot(title, details.filter(Boolean).join(" \u00b7 "));
    if (!canvas) return;
    try {
      await downloadPng(canvas, exportFileName(model, view.layer, view.head));
      if (this.state.exportError) this.setState({ exportError: null });
    } catch (error) {
      this.setState({ exportError: `Export failed: ${(error as Error).message}` });
    }
  }
}
