/**
 * The widget controller: builds the DOM of one widget, owns its view state, and wires the
 * views to the model adapter. Data flow: traits → {@link ModelAdapter} → this → views;
 * user actions → this → adapter (→ Python). Every instance is independent: nothing is
 * shared between widgets on a page, and {@link App.destroy} removes every listener.
 */
import { Controls } from "./controls";
import { downloadPng, exportFileName } from "./export";
import { loadFocusedMatrix, shapeProblem } from "./focus";
import { HeatmapView } from "./heatmap";
import { RequestError, type ModelAdapter } from "./model";
import { OverviewView } from "./overview";
import { PredictionView } from "./prediction";
import { inverseIndex, makeMapper, maxValue, prepareDisplay, specialFlags, type DisplayMatrix } from "./scale";
import { tokenWeights } from "./shading";
import { styleElement } from "./styles";
import { TokenView, type Axis } from "./tokens";
import { Tooltip } from "./tooltip";
import type { DataSet, HeadChoice, Matrix, Meta, ViewState } from "./types";

/** Human name of a head choice: "head 3", "mean over heads", … */
export function headName(head: HeadChoice): string {
  if (typeof head === "number") return `head ${head}`;
  return head === "rollout" ? "attention rollout" : `${head} over heads`;
}

/** Caption of the colour scale: "sqrt", "log, row max = 1", … */
export function scaleCaption(view: Pick<ViewState, "colorScale" | "rowNormalize">): string {
  return view.rowNormalize ? `${view.colorScale}, row max = 1` : view.colorScale;
}

/** The heatmap content currently shown, with index maps back to tokens. */
interface Focus {
  key: string;
  source: Matrix | null;
  display: DisplayMatrix | null;
  rowOfQuery: Int32Array;
  colOfKey: Int32Array;
}

export class App {
  readonly root: HTMLDivElement;
  private readonly abort = new AbortController();
  private readonly resize: ResizeObserver | null = null;
  private readonly title: HTMLDivElement;
  private readonly subtitle: HTMLDivElement;
  private readonly banner: HTMLDivElement;
  private readonly error: HTMLDivElement;
  private readonly issues: HTMLDivElement;
  private readonly note: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private readonly heatmapPanel: HTMLDivElement;
  private readonly heatmapTitle: HTMLSpanElement;
  private readonly heatmapStatus: HTMLDivElement;
  private readonly legend: HTMLSpanElement;
  private readonly lockHint: HTMLSpanElement;
  private readonly controls: Controls;
  private readonly overview: OverviewView;
  private readonly heatmap: HeatmapView;
  private readonly tokens: TokenView;
  private readonly prediction: PredictionView;
  private readonly tooltip: Tooltip;
  private data: DataSet;
  private view: ViewState;
  private specialQ: boolean[] = [];
  private specialK: boolean[] = [];
  private focus: Focus = emptyFocus();
  /** Key token under the pointer (cross-attention key row); local, not synced. */
  private hoverKey: number | null = null;
  /** Keys differ from queries (cross-attention). */
  private cross = false;
  private destroyed = false;

  constructor(
    host: HTMLElement,
    private readonly adapter: ModelAdapter,
  ) {
    const doc = host.ownerDocument;
    const div = (className: string, parent?: HTMLElement): HTMLDivElement => {
      const d = doc.createElement("div");
      d.className = className;
      parent?.appendChild(d);
      return d;
    };
    const span = (className: string, parent: HTMLElement): HTMLSpanElement => {
      const s = doc.createElement("span");
      s.className = className;
      parent.appendChild(s);
      return s;
    };

    this.root = div("attnviz-root");
    this.root.tabIndex = -1;
    this.root.dataset.attnvizReady = "false";
    this.root.appendChild(styleElement(doc));
    const header = div("attnviz-header", this.root);
    this.title = div("attnviz-title", header);
    this.subtitle = div("attnviz-subtitle", header);
    this.banner = div("attnviz-banner", this.root);
    this.error = div("attnviz-banner attnviz-error", this.root);
    this.error.setAttribute("role", "alert");
    this.issues = div("attnviz-issues", this.root);
    this.controls = new Controls(this.root, {
      change: (patch) => this.update(patch, true),
      exportPng: () => void this.exportPng(),
    });
    this.note = div("attnviz-note", this.root);
    this.note.setAttribute("role", "status");
    this.body = div("attnviz-body", this.root);

    const overviewPanel = div("attnviz-panel attnviz-panel-overview", this.body);
    const overviewTitle = div("attnviz-panel-title", overviewPanel);
    overviewTitle.textContent = "Layers \u00d7 heads";
    span("attnviz-panel-hint", overviewTitle).textContent = "click to focus";
    this.tooltip = new Tooltip(this.root);
    const tip = (lines: string[] | null, x: number, y: number): void =>
      lines ? this.tooltip.show(lines, x, y) : this.tooltip.hide();
    this.overview = new OverviewView(overviewPanel, {
      pick: (layer, head) => this.update({ layer, head }, true),
      tooltip: tip,
    });
    this.prediction = new PredictionView(overviewPanel);

    const heatmapPanel = div("attnviz-panel attnviz-panel-heatmap", this.body);
    this.heatmapPanel = heatmapPanel;
    const heatmapHeader = div("attnviz-panel-title", heatmapPanel);
    this.heatmapTitle = span("attnviz-heatmap-title", heatmapHeader);
    span("attnviz-panel-hint", heatmapHeader).textContent = "queries \u2193 keys \u2192 \u00b7 hover a row, click to lock";
    const scroll = div("attnviz-scroll", heatmapPanel);
    this.heatmap = new HeatmapView(scroll, {
      hover: (query) => this.hoverQuery(query),
      click: (query) => this.clickQuery(query),
      tooltip: tip,
    });
    this.heatmapStatus = div("attnviz-heatmap-status", heatmapPanel);

    const tokensPanel = div("attnviz-tokens-panel", this.root);
    const tokensHeader = div("attnviz-tokens-legend", tokensPanel);
    this.legend = span("attnviz-legend-text", tokensHeader);
    this.lockHint = span("attnviz-lock-hint", tokensHeader);
    this.tokens = new TokenView(tokensPanel, {
      hover: (index, axis) => this.hoverToken(index, axis),
      click: (index, axis) => this.clickToken(index, axis),
      tooltip: tip,
    });

    host.appendChild(this.root);

    const signal = this.abort.signal;
    this.root.addEventListener("keydown", (e) => this.onKey(e), { signal });
    const view = doc.defaultView;
    if (view && typeof view.ResizeObserver === "function") {
      this.resize = new view.ResizeObserver((entries) => {
        const width = entries[entries.length - 1]?.contentRect.width ?? 0;
        if (width > 0) this.heatmap.setAvailableWidth(width);
      });
      this.resize.observe(heatmapPanel);
    }
    if (heatmapPanel.clientWidth > 0) this.heatmap.setAvailableWidth(heatmapPanel.clientWidth);

    adapter.onData(() => this.loadData());
    adapter.onStatus(() => this.renderStatus());
    adapter.onView((patch) => this.update(patch, false), () => this.data.meta);

    this.data = adapter.readData();
    this.view = adapter.readView(this.data.meta);
    this.showData(this.data);
  }

  /** Remove the widget's DOM and every listener it added. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.abort.abort();
    this.resize?.disconnect();
    this.controls.destroy();
    this.overview.destroy();
    this.heatmap.destroy();
    this.tokens.destroy();
    this.prediction.destroy();
    this.tooltip.destroy();
    this.root.remove();
  }

  /** Re-read all data traits: a new extraction arrived. */
  private loadData(): void {
    this.showData(this.adapter.readData());
  }

  /** Rebuild every view for a new data set. */
  private showData(data: DataSet): void {
    this.data = data;
    this.cross = isCross(data);
    this.view = this.adapter.readView(data.meta);
    if (this.view.selectedToken !== null && this.view.selectedToken >= data.tokens.length) {
      this.view = { ...this.view, selectedToken: null, tokenLocked: false };
    }
    this.specialQ = specialFlags(data.tokens, data.special);
    this.specialK = specialFlags(data.keyTokens, data.keySpecial);
    this.focus = emptyFocus();
    this.hoverKey = null;
    this.root.dataset.version = String(data.version);

    const meta = data.meta;
    const cross = this.cross;
    this.renderHeader(meta);
    this.issues.textContent = data.issues.join("\n");
    this.issues.hidden = data.issues.length === 0;
    this.prediction.setPrediction(data.prediction);
    this.tokens.setContent({
      queries: data.tokens,
      keys: cross ? data.keyTokens : null,
      querySpecial: this.specialQ,
      keySpecial: this.specialK,
    });
    this.tokens.setHideSpecial(this.view.hideSpecial);
    if (meta && data.overview) {
      this.overview.setContent({
        overview: data.overview,
        layerIndices: meta.layer_indices,
        numHeads: meta.num_heads,
        numQueries: data.tokens.length,
        numKeys: data.keyTokens.length,
        causal: meta.causal && !cross,
        hasRollout: meta.has_rollout,
        scale: this.view.colorScale,
      });
      this.overview.setFocus(this.view.layer, this.view.head);
    } else {
      this.overview.clear();
    }
    this.renderStatus();
    this.renderControls();
    this.renderAttributes();
    this.renderSelection();
    this.refreshFocus();
  }

  /** Apply a change of view state, from the user (`local`) or from the other side. */
  private update(patch: Partial<ViewState>, local: boolean): void {
    if (this.destroyed) return;
    const prev = this.view;
    const meta = this.data.meta;
    if (local && patch.head !== undefined && meta && !headAvailable(patch.head, meta)) {
      // Python would reject it (and keep its value): do not send it
      this.renderControls();
      return;
    }
    const next: ViewState = { ...prev, ...patch };
    this.view = next;
    const changed = (key: keyof ViewState): boolean => prev[key] !== next[key];
    if (local) this.adapter.setView(patch);

    if (changed("layer") || changed("head")) {
      this.overview.setFocus(next.layer, next.head);
      this.refreshFocus();
    }
    if (changed("colorScale")) {
      this.overview.setScale(next.colorScale);
      this.heatmap.setScale(next.colorScale, scaleCaption(next));
    }
    if (changed("rowNormalize") || changed("hideSpecial")) {
      this.tokens.setHideSpecial(next.hideSpecial);
      this.updateDisplay();
    }
    this.renderControls();
    this.renderAttributes();
    this.renderSelection();
  }

  // ---- focused heatmap --------------------------------------------------------------------

  /** Request the focused layer (or rollout) if it is not what is shown. */
  private refreshFocus(): void {
    const { meta, tokens, keyTokens, version } = this.data;
    const { layer, head } = this.view;
    if (!meta || tokens.length === 0) {
      this.focus = emptyFocus();
      this.heatmap.clear();
      this.setHeatmapStatus("");
      this.renderReady();
      return;
    }
    const key = `${version}|${layer}|${String(head)}`;
    if (key === this.focus.key) return;
    this.focus = { ...emptyFocus(), key };
    this.renderReady();
    this.heatmapTitle.textContent = `Layer ${layer} \u00b7 ${headName(head)}`;
    this.setHeatmapStatus(`Loading layer ${layer}\u2026`);
    loadFocusedMatrix(this.adapter, meta.layer_indices, layer, head)
      .then((matrix) => {
        if (this.destroyed || this.focus.key !== key) return;
        const problem = shapeProblem(matrix, tokens.length, keyTokens.length);
        if (problem) throw new RequestError("protocol", problem);
        this.focus.source = matrix;
        this.setHeatmapStatus("");
        this.updateDisplay();
      })
      .catch((error: unknown) => {
        if (this.destroyed || this.focus.key !== key) return;
        if (error instanceof RequestError && (error.reason === "stale" || error.reason === "disposed")) return;
        this.focus.key = ""; // allow a retry on the next change
        this.setHeatmapStatus(`Could not load ${headName(head)} of layer ${layer}: ${(error as Error).message}`, true);
      });
  }

  /** Recompute what the heatmap displays from the focused matrix and the options. */
  private updateDisplay(): void {
    const { source } = this.focus;
    if (!source) {
      this.renderNote();
      return;
    }
    const display = prepareDisplay(source, {
      hideSpecial: this.view.hideSpecial,
      rowNormalize: this.view.rowNormalize,
      specialRows: this.specialQ,
      specialCols: this.specialK,
    });
    this.focus.display = display;
    this.focus.rowOfQuery = inverseIndex(display.rowIndex, source.rows);
    this.focus.colOfKey = inverseIndex(display.colIndex, source.cols);
    const { data } = this;
    this.heatmap.setContent({
      display,
      source,
      rowLabels: data.tokens,
      colLabels: data.keyTokens,
      rowSpecial: this.specialQ,
      colSpecial: this.specialK,
      causal: (data.meta?.causal ?? false) && !this.cross,
      scale: this.view.colorScale,
      scaleCaption: scaleCaption(this.view),
    });
    // a heatmap wider than the space beside the overview wraps below it (and scrolls there)
    this.heatmapPanel.style.minWidth = `min(${Math.ceil(this.heatmap.minimalWidth)}px, 100%)`;
    this.renderNote();
    this.renderSelection();
    this.renderReady();
  }

  // ---- selection --------------------------------------------------------------------------

  private hoverQuery(query: number | null): void {
    if (this.view.tokenLocked || query === this.view.selectedToken) return;
    this.view = { ...this.view, selectedToken: query };
    this.adapter.setView({ selectedToken: query }, { defer: true });
    this.renderAttributes();
    this.renderSelection();
  }

  private clickQuery(query: number): void {
    const { selectedToken, tokenLocked } = this.view;
    const unlock = tokenLocked && selectedToken === query;
    this.view = { ...this.view, selectedToken: query, tokenLocked: !unlock };
    this.adapter.setView({ selectedToken: query, tokenLocked: !unlock });
    this.root.focus({ preventScroll: true }); // so Escape reaches this widget
    this.renderAttributes();
    this.renderSelection();
  }

  private hoverToken(index: number | null, axis: Axis): void {
    if (axis === "key" && this.cross) {
      if (index === this.hoverKey) return;
      this.hoverKey = index;
      this.renderSelection();
      return;
    }
    this.hoverQuery(index);
  }

  private clickToken(index: number, axis: Axis): void {
    if (axis === "query" || !this.cross) this.clickQuery(index);
  }

  private onKey(event: KeyboardEvent): void {
    if (event.key !== "Escape" || !this.view.tokenLocked) return;
    event.preventDefault();
    event.stopPropagation();
    this.view = { ...this.view, selectedToken: null, tokenLocked: false };
    this.adapter.setView({ selectedToken: null, tokenLocked: false });
    this.renderAttributes();
    this.renderSelection();
  }

  /** Redraw every highlight of the selected token (overlays and shading only). */
  private renderSelection(): void {
    const { selectedToken: query, tokenLocked: locked, direction } = this.view;
    const cross = this.cross;
    const key = cross ? this.hoverKey : direction === "to" ? query : null;
    this.heatmap.setSelection({ query, key, locked });
    this.overview.setSelection(query, locked);
    this.tokens.setSelection(query, cross ? this.hoverKey : null, locked);
    this.renderShading();
    const label = query === null ? "" : (this.data.tokens[query] ?? "");
    this.lockHint.textContent = locked ? `locked on \u201c${label}\u201d: click it again or press Esc to unlock` : "";
    this.legend.textContent =
      direction === "from"
        ? "Hover a token: the others are shaded by how much it attends to them."
        : "Hover a token: the others are shaded by how much they attend to it.";
  }

  /** Shade the token view from the displayed matrix. */
  private renderShading(): void {
    const { display, rowOfQuery, colOfKey } = this.focus;
    const { selectedToken: query, direction, colorScale } = this.view;
    const shading = display
      ? tokenWeights({ display, rowOfQuery, colOfKey, direction, query, key: this.cross ? this.hoverKey : query })
      : null;
    if (!shading) {
      this.tokens.setShading("key", null, () => 0);
      return;
    }
    this.tokens.setShading(shading.axis, shading.weights, makeMapper(colorScale, maxValue(shading.weights)));
  }

  // ---- chrome -----------------------------------------------------------------------------

  private renderHeader(meta: Meta | null): void {
    const model = meta?.model;
    const name = model?.name || model?.architecture || "Attention";
    const section = meta && meta.sections.length > 1 ? ` \u00b7 ${this.view.section}` : "";
    this.title.textContent = `${name}${section}`;
    const parts: string[] = [];
    if (meta) {
      parts.push(`${this.data.tokens.length} tokens`);
      if (this.cross) parts.push(`${this.data.keyTokens.length} key tokens`);
      parts.push(`${meta.layer_indices.length} layers \u00d7 ${meta.num_heads} heads`);
      if (meta.causal) parts.push("causal");
      if (meta.kind !== "self") parts.push(`${meta.kind} attention`);
    }
    this.subtitle.textContent = parts.join(" \u00b7 ");
  }

  private renderStatus(): void {
    const { status, error } = this.adapter.readStatus();
    const hasData = this.data.meta !== null && this.data.tokens.length > 0;
    this.root.dataset.status = status;
    this.error.hidden = status !== "error";
    this.error.textContent = status === "error" ? error || "extraction failed" : "";
    this.banner.classList.toggle("attnviz-loading", status === "loading");
    if (status === "loading") {
      this.banner.textContent = "Computing attention\u2026";
    } else if (!hasData && status !== "error") {
      this.banner.textContent = "Nothing to show yet: call show(text) on the widget.";
    } else {
      this.banner.textContent = "";
    }
    this.banner.hidden = this.banner.textContent === "";
    this.body.hidden = !hasData;
    this.body.classList.toggle("attnviz-stale", status === "loading" && hasData);
    this.root.setAttribute("aria-busy", String(status === "loading"));
    this.renderReady();
  }

  private renderControls(): void {
    const meta = this.data.meta;
    this.controls.update({
      view: this.view,
      layerIndices: meta?.layer_indices ?? [],
      numHeads: meta?.num_heads ?? 0,
      sections: meta?.sections ?? [],
      hasRollout: meta?.has_rollout ?? false,
      canExport: this.heatmap.painted,
    });
  }

  private renderNote(): void {
    const display = this.focus.display;
    if (!this.view.hideSpecial || !display) {
      this.note.hidden = true;
      this.note.textContent = "";
      return;
    }
    this.note.hidden = false;
    this.note.textContent = display.hidden
      ? `Special tokens hidden (${display.hiddenRows} rows, ${display.hiddenCols} columns); ` +
        "each remaining row is renormalised to sum to 1, so values differ from the model's."
      : "No special tokens to hide.";
  }

  private renderAttributes(): void {
    const d = this.root.dataset;
    d.layer = String(this.view.layer);
    d.head = String(this.view.head);
    d.selectedToken = this.view.selectedToken === null ? "" : String(this.view.selectedToken);
    d.locked = String(this.view.tokenLocked);
    d.direction = this.view.direction;
  }

  /** `data-attnviz-ready`: the overview and the focused heatmap show the current data. */
  private renderReady(): void {
    const { status } = this.adapter.readStatus();
    const overviewDone = this.overview.painted || this.data.overview === null;
    const current = status !== "loading" && status !== "error";
    const ready = current && overviewDone && this.heatmap.painted && this.focus.display !== null;
    this.root.dataset.attnvizReady = String(ready);
    this.renderControls();
  }

  private setHeatmapStatus(text: string, failed = false): void {
    this.heatmapStatus.textContent = text;
    this.heatmapStatus.classList.toggle("attnviz-failed", failed);
  }

  private async exportPng(): Promise<void> {
    const meta = this.data.meta;
    const { layer, head } = this.view;
    const title = `Layer ${layer} \u00b7 ${headName(head)}`;
    const model = meta?.model?.name || meta?.model?.architecture || "";
    const text = meta?.text ? `\u201c${meta.text}\u201d` : "";
    const details = [model, text, `${scaleCaption(this.view)} colour scale`];
    if (this.focus.display?.hidden) details.push("special tokens hidden, rows renormalised");
    const canvas = this.heatmap.snapshot(title, details.filter(Boolean).join(" \u00b7 "));
    if (!canvas) return;
    try {
      await downloadPng(canvas, exportFileName(model, layer, head));
    } catch (error) {
      this.setHeatmapStatus(`Export failed: ${(error as Error).message}`, true);
    }
  }
}

function emptyFocus(): Focus {
  return { key: "", source: null, display: null, rowOfQuery: new Int32Array(0), colOfKey: new Int32Array(0) };
}

/** Whether `head` can be focused: a head of the model, mean, max, or rollout when defined. */
export function headAvailable(head: HeadChoice, meta: Meta): boolean {
  if (typeof head === "number") return Number.isInteger(head) && head >= 0 && head < meta.num_heads;
  return head !== "rollout" || meta.has_rollout;
}

/** Whether keys differ from queries (cross-attention), so the token view needs two rows. */
export function isCross(data: Pick<DataSet, "meta" | "tokens" | "keyTokens">): boolean {
  if (data.meta?.kind === "cross") return true;
  const { tokens, keyTokens } = data;
  return keyTokens.length !== tokens.length || keyTokens.some((t, i) => t !== tokens[i]);
}
