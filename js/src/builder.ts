/**
 * Builds the DOM of one widget once: header, banners, controls, the overview and heatmap
 * panels, the token view, and the tooltip. It creates the view components and connects
 * their events to the app's {@link Intents}; it decides nothing. To add a control: create
 * it in `controls.ts`, report it through `Intents.change`, and reflect it in the
 * "controls" part of `render.ts`.
 */
import { Controls } from "./controls";
import { HeatmapView } from "./heatmap";
import { canvasHeight } from "./layout";
import { OverviewView } from "./overview";
import { PredictionView } from "./prediction";
import { StepGrid } from "./stepgrid";
import { StepPanel } from "./steppanel";
import { styleElement } from "./styles";
import { TokenView, type Axis } from "./tokens";
import { Tooltip } from "./tooltip";
import type { HeadChoice, ViewState } from "./types";

/** What the user asked for, as the app understands it. */
export interface Intents {
  /** A control or a thumbnail changed the view. */
  change(patch: Partial<ViewState>): void;
  hoverQuery(query: number | null): void;
  clickQuery(query: number): void;
  hoverToken(index: number | null, axis: Axis): void;
  clickToken(index: number, axis: Axis): void;
  /** Escape (and other keys on the widget). */
  key(event: KeyboardEvent): void;
  exportPng(): void;
}

/** The elements and view components of one widget. */
export interface Dom {
  root: HTMLDivElement;
  title: HTMLDivElement;
  subtitle: HTMLDivElement;
  banner: HTMLDivElement;
  error: HTMLDivElement;
  issues: HTMLDivElement;
  note: HTMLDivElement;
  body: HTMLDivElement;
  heatmapPanel: HTMLDivElement;
  heatmapTitle: HTMLSpanElement;
  heatmapStatus: HTMLDivElement;
  legend: HTMLSpanElement;
  lockHint: HTMLSpanElement;
  controls: Controls;
  overview: OverviewView;
  heatmap: HeatmapView;
  tokens: TokenView;
  prediction: PredictionView;
  /** A generation's step control, and the layer × head grid of the step's row inside it. */
  steps: StepPanel;
  stepGrid: StepGrid;
  /** The widget's height cap in CSS px (NaN: none), which the canvases share with the step panel. */
  heightCap: number;
  tooltip: Tooltip;
  /** Remove every listener and the DOM. */
  destroy(): void;
}

/** Build the widget in `host` and wire its events to `intents`. */
export function buildDom(host: HTMLElement, intents: Intents): Dom {
  const doc = host.ownerDocument;
  const abort = new AbortController();
  const div = (className: string, parent?: HTMLElement): HTMLDivElement => {
    const d = doc.createElement("div");
    d.className = className;
    parent?.appendChild(d);
    return d;
  };
  const span = (className: string, parent: HTMLElement, text = ""): HTMLSpanElement => {
    const s = doc.createElement("span");
    s.className = className;
    s.textContent = text;
    parent.appendChild(s);
    return s;
  };

  const root = div("attnviz-root");
  root.tabIndex = -1;
  root.dataset.attnvizReady = "false";
  root.appendChild(styleElement(doc));
  const header = div("attnviz-header", root);
  const title = div("attnviz-title", header);
  const subtitle = div("attnviz-subtitle", header);
  const banner = div("attnviz-banner", root);
  const error = div("attnviz-banner attnviz-error", root);
  error.setAttribute("role", "alert");
  const issues = div("attnviz-issues", root);
  const controls = new Controls(root, { change: (patch) => intents.change(patch), exportPng: () => intents.exportPng() });
  const note = div("attnviz-note", root);
  note.setAttribute("role", "status");
  const body = div("attnviz-body", root);

  const tooltip = new Tooltip(root);
  const tip = (lines: string[] | null, x: number, y: number): void => (lines ? tooltip.show(lines, x, y) : tooltip.hide());

  const overviewPanel = div("attnviz-panel attnviz-panel-overview", body);
  const overviewTitle = div("attnviz-panel-title", overviewPanel);
  overviewTitle.textContent = "Layers \u00d7 heads";
  span("attnviz-panel-hint", overviewTitle, "click to focus");
  const overview = new OverviewView(overviewPanel, {
    pick: (layer: number, head: HeadChoice) => intents.change({ layer, head }),
    tooltip: tip,
  });
  const prediction = new PredictionView(overviewPanel);

  const heatmapPanel = div("attnviz-panel attnviz-panel-heatmap", body);
  const heatmapHeader = div("attnviz-panel-title", heatmapPanel);
  const heatmapTitle = span("attnviz-heatmap-title", heatmapHeader);
  span("attnviz-panel-hint", heatmapHeader, "queries \u2193 keys \u2192 \u00b7 hover a row, click to lock");
  const scroll = div("attnviz-scroll", heatmapPanel);
  const heatmap = new HeatmapView(scroll, {
    hover: (query) => intents.hoverQuery(query),
    click: (query) => intents.clickQuery(query),
    tooltip: tip,
  });
  heatmapHeader.appendChild(heatmap.zoomBar);
  const heatmapStatus = div("attnviz-heatmap-status", heatmapPanel);

  const steps = new StepPanel(root, { setStep: (step) => intents.change({ step }) });
  const stepGrid = new StepGrid(steps.gridHost, { pick: (layer, head) => intents.change({ layer, head }), tooltip: tip });

  const tokensPanel = div("attnviz-tokens-panel", root);
  const tokensHeader = div("attnviz-tokens-legend", tokensPanel);
  const legend = span("attnviz-legend-text", tokensHeader);
  const lockHint = span("attnviz-lock-hint", tokensHeader);
  const tokens = new TokenView(tokensPanel, {
    hover: (index, axis) => intents.hoverToken(index, axis),
    click: (index, axis) => intents.clickToken(index, axis),
    tooltip: tip,
  });

  host.appendChild(root);
  root.addEventListener("keydown", (e) => intents.key(e), { signal: abort.signal });

  // the heatmap fits the width of its panel
  let resize: ResizeObserver | null = null;
  const view = doc.defaultView;
  if (view && typeof view.ResizeObserver === "function") {
    resize = new view.ResizeObserver((entries) => {
      const width = entries[entries.length - 1]?.contentRect.width ?? 0;
      if (width > 0) heatmap.setAvailableWidth(width);
    });
    resize.observe(heatmapPanel);
  }
  if (heatmapPanel.clientWidth > 0) heatmap.setAvailableWidth(heatmapPanel.clientWidth);

  // the whole widget fits its height cap (CSS --attnviz-max-height, 600 px by default; marimo
  // shows about 610 px of a cell's output): the canvases get what the chrome leaves
  const cap = view ? parseFloat(view.getComputedStyle(root).maxHeight) : NaN;
  const budget = canvasHeight(cap);
  if (Number.isFinite(budget)) {
    root.style.setProperty("--attnviz-canvas-height", `${budget}px`);
    heatmap.setAvailableHeight(budget);
    overview.setTargetHeight(budget);
  }

  return {
    root,
    title,
    subtitle,
    banner,
    error,
    issues,
    note,
    body,
    heatmapPanel,
    heatmapTitle,
    heatmapStatus,
    legend,
    lockHint,
    controls,
    overview,
    heatmap,
    tokens,
    prediction,
    steps,
    stepGrid,
    heightCap: cap,
    tooltip,
    destroy() {
      abort.abort();
      resize?.disconnect();
      controls.destroy();
      overview.destroy();
      heatmap.destroy();
      tokens.destroy();
      prediction.destroy();
      stepGrid.destroy();
      steps.destroy();
      tooltip.destroy();
      root.remove();
    },
  };
}
