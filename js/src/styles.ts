/**
 * The widget's stylesheet, scoped under `.attnviz-root` so several widgets (and the host
 * page) never interfere. Each root carries its own `<style>` element, which works the same
 * in JupyterLab, Notebook 7, VS Code and a standalone HTML export. Colours follow the
 * JupyterLab theme variables where they exist.
 */
export const CSS = `
.attnviz-root {
  --attnviz-fg: var(--jp-ui-font-color1, #1f2328);
  --attnviz-muted: var(--jp-ui-font-color2, #59636e);
  --attnviz-border: var(--jp-border-color2, #d0d7de);
  --attnviz-panel: var(--jp-layout-color1, transparent);
  --attnviz-raised: var(--jp-layout-color0, #ffffff);
  --attnviz-hover: var(--jp-layout-color2, #eef1f4);
  --attnviz-accent: #e8590c;
  --attnviz-error: var(--jp-error-color1, #c62828);
  position: relative;
  box-sizing: border-box;
  color: var(--attnviz-fg);
  font: 13px/1.4 var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif);
  padding: 4px 0;
  outline: none;
  max-width: 100%;
  /* fits a notebook cell's output (marimo shows about 610 px): the body scrolls past the cap */
  display: flex;
  flex-direction: column;
  max-height: var(--attnviz-max-height, 600px);
}
.attnviz-root > * { flex: none; }
.attnviz-root > .attnviz-body { flex: 1 1 auto; min-height: 0; overflow: auto; }
.attnviz-root *, .attnviz-root *::before, .attnviz-root *::after { box-sizing: border-box; }
.attnviz-root [hidden] { display: none !important; }
.attnviz-root .attnviz-header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; margin: 0 0 6px; }
.attnviz-root .attnviz-title { font-weight: 600; font-size: 14px; }
.attnviz-root .attnviz-subtitle { color: var(--attnviz-muted); font-size: 12px; overflow-wrap: anywhere; }
.attnviz-root .attnviz-controls { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; margin: 0 0 8px; font-size: 12px; }
.attnviz-root .attnviz-control { display: inline-flex; align-items: center; gap: 5px; white-space: nowrap; }
.attnviz-root .attnviz-control select,
.attnviz-root .attnviz-control button,
.attnviz-root button.attnviz-export {
  font: inherit; color: var(--attnviz-fg); background: var(--attnviz-raised);
  border: 1px solid var(--attnviz-border); border-radius: 4px; padding: 2px 6px; cursor: pointer;
}
.attnviz-root .attnviz-segmented { display: inline-flex; }
.attnviz-root .attnviz-segmented button { border-radius: 0; margin-left: -1px; }
.attnviz-root .attnviz-segmented button:first-child { border-radius: 4px 0 0 4px; margin-left: 0; }
.attnviz-root .attnviz-segmented button:last-child { border-radius: 0 4px 4px 0; }
.attnviz-root .attnviz-segmented button[aria-pressed="true"] { background: var(--attnviz-fg); color: var(--attnviz-raised); }
.attnviz-root button:disabled, .attnviz-root select:disabled { opacity: 0.5; cursor: default; }
.attnviz-root button.attnviz-export:hover:not(:disabled) { background: var(--attnviz-hover); }
.attnviz-root .attnviz-banner { padding: 8px 10px; border-radius: 4px; margin: 0 0 8px; border: 1px solid var(--attnviz-border); color: var(--attnviz-muted); }
.attnviz-root .attnviz-banner.attnviz-loading::before {
  content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 8px; vertical-align: -1px;
  border: 2px solid var(--attnviz-border); border-top-color: var(--attnviz-accent); border-radius: 50%;
  animation: attnviz-spin 0.8s steps(8) infinite;
}
@keyframes attnviz-spin { to { transform: rotate(360deg); } }
/* eight steps a turn: 10 repaints a second instead of one per frame while the model runs
   (a smooth spinner kept chromium repainting at 60 fps beside the progressive overview) */
@media (prefers-reduced-motion: reduce) { .attnviz-root .attnviz-banner.attnviz-loading::before,
  .attnviz-root .attnviz-step-summary.attnviz-streaming::before { animation: none; } }
.attnviz-root .attnviz-error { color: var(--attnviz-error); border-color: var(--attnviz-error); white-space: pre-wrap; overflow-wrap: anywhere; }
.attnviz-root .attnviz-note {
  font-size: 12px; color: var(--attnviz-fg); margin: -2px 0 8px; padding: 3px 8px;
  border-left: 3px solid var(--attnviz-accent); background: var(--attnviz-hover); border-radius: 0 3px 3px 0;
}
.attnviz-root .attnviz-issues { font-size: 12px; color: var(--attnviz-error); margin: 0 0 8px; }
.attnviz-root .attnviz-body { display: flex; flex-wrap: wrap; gap: 12px 20px; align-items: flex-start; }
.attnviz-root .attnviz-body.attnviz-stale { opacity: 0.55; transition: opacity 0.2s; }
.attnviz-root .attnviz-panel { min-width: 0; max-width: 100%; }
.attnviz-root .attnviz-panel-overview { flex: 0 1 auto; overflow-x: auto; }
.attnviz-root .attnviz-panel-heatmap { flex: 1 1 420px; }
.attnviz-root .attnviz-panel-title { font-size: 12px; font-weight: 600; margin: 0 0 4px; color: var(--attnviz-fg); }
.attnviz-root .attnviz-panel-title .attnviz-panel-hint { font-weight: 400; color: var(--attnviz-muted); margin-left: 6px; }
.attnviz-root .attnviz-canvas-wrap { position: relative; display: inline-block; line-height: 0; }
.attnviz-root .attnviz-scroll { overflow: auto; max-width: 100%; max-height: var(--attnviz-canvas-height, 80vh); }
.attnviz-root canvas { display: block; }
.attnviz-root canvas[hidden] { display: none; }
.attnviz-root .attnviz-overview-focus { position: absolute; pointer-events: none; box-sizing: border-box; border: 2px solid currentColor; }
.attnviz-root .attnviz-overview-focus[hidden] { display: none; }
.attnviz-root canvas.attnviz-overlay { position: absolute; left: 0; top: 0; pointer-events: none; }
.attnviz-root canvas.attnviz-overview, .attnviz-root canvas.attnviz-heatmap { cursor: crosshair; }
.attnviz-root canvas:focus-visible { outline: 2px solid var(--attnviz-accent); outline-offset: 2px; }
.attnviz-root .attnviz-zoombar { display: inline-flex; align-items: baseline; gap: 6px; margin-left: 8px; font-weight: 400; color: var(--attnviz-muted); }
.attnviz-root button.attnviz-zoom-reset {
  font: inherit; font-size: 11px; color: var(--attnviz-fg); background: var(--attnviz-raised);
  border: 1px solid var(--attnviz-border); border-radius: 4px; padding: 0 5px; cursor: pointer;
}
.attnviz-root .attnviz-heatmap-status { font-size: 12px; color: var(--attnviz-muted); min-height: 1.4em; }
.attnviz-root .attnviz-heatmap-status.attnviz-failed { color: var(--attnviz-error); }
.attnviz-root .attnviz-prediction { margin-top: 10px; font-size: 12px; max-width: 420px; }
.attnviz-root .attnviz-prediction-row { display: grid; grid-template-columns: minmax(60px, max-content) 1fr 3.5em; align-items: center; gap: 6px; margin: 2px 0; }
.attnviz-root .attnviz-prediction-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 180px; }
.attnviz-root .attnviz-prediction-bar { height: 10px; background: var(--attnviz-hover); border-radius: 2px; overflow: hidden; }
.attnviz-root .attnviz-prediction-fill { height: 100%; background: #3b528b; }
.attnviz-root .attnviz-prediction-row.attnviz-predicted .attnviz-prediction-fill { background: #21918c; }
.attnviz-root .attnviz-prediction-row.attnviz-predicted .attnviz-prediction-label { font-weight: 600; }
.attnviz-root .attnviz-prediction-value { text-align: right; font-variant-numeric: tabular-nums; color: var(--attnviz-muted); }
.attnviz-root .attnviz-tokens-panel { margin-top: 12px; }
.attnviz-root .attnviz-tokens-legend { font-size: 12px; color: var(--attnviz-muted); margin: 0 0 4px; }
/* contain: a head switch repaints the heatmaps, not the token rows (512 tokens a side: ~1 ms of paint each) */
.attnviz-root .attnviz-token-row { display: flex; flex-wrap: wrap; align-items: baseline; gap: 3px 2px; max-height: 96px; overflow-y: auto; padding: 2px; contain: content; }
.attnviz-root .attnviz-token-row + .attnviz-token-row { margin-top: 6px; }
.attnviz-root .attnviz-token-row-label { font-size: 11px; color: var(--attnviz-muted); margin-right: 6px; }
.attnviz-root .attnviz-token {
  display: inline-block; white-space: pre; padding: 1px 3px; border-radius: 3px; cursor: pointer;
  font-family: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace); font-size: 12px;
  border: 1px solid transparent; line-height: 1.35;
}
.attnviz-root .attnviz-token.attnviz-special { color: var(--attnviz-muted); font-style: italic; }
.attnviz-root .attnviz-token.attnviz-selected { border-color: var(--attnviz-accent); }
.attnviz-root .attnviz-token.attnviz-locked { border-color: var(--attnviz-accent); box-shadow: 0 0 0 1px var(--attnviz-accent); }
.attnviz-root .attnviz-token-search { display: flex; align-items: center; gap: 6px; margin: 0 0 4px; font-size: 12px; color: var(--attnviz-muted); }
.attnviz-root .attnviz-token-search input, .attnviz-root .attnviz-token-search button {
  font: inherit; color: var(--attnviz-fg); background: var(--attnviz-raised);
  border: 1px solid var(--attnviz-border); border-radius: 4px; padding: 1px 6px;
}
.attnviz-root .attnviz-token-search input.attnviz-not-found { border-color: var(--attnviz-error); }
.attnviz-root .attnviz-token.attnviz-found { outline: 2px dashed var(--attnviz-accent); outline-offset: 1px; }
.attnviz-root .attnviz-lock-hint { font-size: 12px; color: var(--attnviz-muted); margin-left: 8px; }
.attnviz-root { --attnviz-generated: #d9480f; }
.attnviz-root .attnviz-token.attnviz-generated, .attnviz-root .attnviz-pending {
  text-decoration: underline 2px var(--attnviz-generated); text-underline-offset: 3px;
}
.attnviz-root .attnviz-token.attnviz-generated:not([style*="color"]) { color: var(--attnviz-generated); }
.attnviz-root .attnviz-generated-boundary {
  align-self: stretch; display: inline-flex; align-items: center; margin: 0 3px 0 4px; padding-left: 4px;
  border-left: 2px dashed var(--attnviz-generated); color: var(--attnviz-generated); font-size: 10px; white-space: nowrap;
}
.attnviz-root .attnviz-pending {
  display: inline-block; white-space: pre; padding: 1px 3px; border-radius: 3px; cursor: help; line-height: 1.35;
  font-family: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace); font-size: 12px;
  border: 1px dashed var(--attnviz-generated); color: var(--attnviz-generated); font-style: italic; opacity: 0.8;
}
.attnviz-root .attnviz-step-token { outline: 2px solid var(--attnviz-generated); outline-offset: 1px; }
.attnviz-root .attnviz-generation {
  display: flex; flex-wrap: wrap; align-items: flex-start; gap: 6px 18px; margin: 10px 0 0; padding: 6px 8px;
  border: 1px solid var(--attnviz-border); border-left: 3px solid var(--attnviz-generated); border-radius: 4px; font-size: 12px;
}
.attnviz-root .attnviz-step-side { display: flex; flex-direction: column; gap: 3px; min-width: 260px; max-width: 420px; }
.attnviz-root .attnviz-step-bar { display: flex; align-items: center; gap: 4px; }
.attnviz-root button.attnviz-step-button {
  font: inherit; color: var(--attnviz-fg); background: var(--attnviz-raised);
  border: 1px solid var(--attnviz-border); border-radius: 4px; padding: 1px 6px; cursor: pointer; white-space: nowrap;
}
.attnviz-root button.attnviz-step-play[aria-pressed="true"] { background: var(--attnviz-fg); color: var(--attnviz-raised); }
.attnviz-root .attnviz-step-slider { flex: 1 1 120px; min-width: 80px; accent-color: var(--attnviz-generated); }
.attnviz-root .attnviz-step-count { font-variant-numeric: tabular-nums; color: var(--attnviz-muted); white-space: nowrap; }
.attnviz-root .attnviz-step-summary { color: var(--attnviz-muted); }
.attnviz-root .attnviz-step-summary.attnviz-streaming::before {
  content: ""; display: inline-block; width: 8px; height: 8px; margin-right: 6px; vertical-align: 0;
  border: 2px solid var(--attnviz-border); border-top-color: var(--attnviz-generated); border-radius: 50%;
  animation: attnviz-spin 0.8s steps(8) infinite;
}
.attnviz-root .attnviz-step-chosen { font-weight: 600; white-space: pre-wrap; overflow-wrap: anywhere; }
.attnviz-root .attnviz-step-facts { font-variant-numeric: tabular-nums; }
.attnviz-root .attnviz-step-end { color: var(--attnviz-generated); font-weight: 600; }
.attnviz-root .attnviz-step-top { min-width: 220px; max-width: 340px; }
.attnviz-root .attnviz-step-top-title, .attnviz-root .attnviz-step-grid-caption { color: var(--attnviz-muted); margin: 0 0 2px; }
.attnviz-root .attnviz-step-grid-caption.attnviz-failed { color: var(--attnviz-error); }
.attnviz-root .attnviz-step-alt { display: grid; grid-template-columns: minmax(60px, 150px) 1fr 3.5em; align-items: center; gap: 6px; margin: 1px 0; }
.attnviz-root .attnviz-step-alt-label {
  overflow: hidden; text-overflow: ellipsis; white-space: pre;
  font-family: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace); font-size: 11px;
}
.attnviz-root .attnviz-step-alt-bar { height: 8px; background: var(--attnviz-hover); border-radius: 2px; overflow: hidden; }
.attnviz-root .attnviz-step-alt-fill { height: 100%; background: #3b528b; }
.attnviz-root .attnviz-step-alt-chosen .attnviz-step-alt-fill { background: var(--attnviz-generated); }
.attnviz-root .attnviz-step-alt-chosen .attnviz-step-alt-label { font-weight: 700; }
.attnviz-root .attnviz-step-alt-value { text-align: right; font-variant-numeric: tabular-nums; color: var(--attnviz-muted); }
.attnviz-root canvas.attnviz-step-grid { cursor: pointer; }
.attnviz-root canvas.attnviz-step-grid.attnviz-stale { opacity: 0.45; }
.attnviz-root .attnviz-tooltip {
  position: absolute; left: 0; top: 0; z-index: 10; pointer-events: none; max-width: 360px;
  padding: 5px 8px; border-radius: 4px; font-size: 12px; line-height: 1.35; white-space: pre-wrap; overflow-wrap: anywhere;
  background: rgba(30, 30, 30, 0.92); color: #f5f5f5; box-shadow: 0 2px 6px rgba(0, 0, 0, 0.25);
}
.attnviz-root .attnviz-tooltip-title { font-weight: 600; }
`;

/** A `<style>` element holding {@link CSS}, for one widget root. */
export function styleElement(doc: Document): HTMLStyleElement {
  const style = doc.createElement("style");
  style.textContent = CSS;
  return style;
}
