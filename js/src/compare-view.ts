/**
 * The comparison view: side A and side B each drawn by the single-run widget (`App`, over a
 * {@link SideModel}), then the B − A heatmap of the focused head on the aligned grid and the
 * layer × head change-score grid (a click focuses that head on both sides). Everything is
 * removed by the function `renderComparison` returns.
 */
import { App } from "./app";
import { pixelCanvas } from "./canvas";
import { VIRIDIS, colorIndex } from "./colormap";
import {
  RDBU_R,
  decodeAlignment,
  differenceCaption,
  differencePicture,
  keyRuns,
  scoreGrid,
} from "./compare-diff";
import { SideModel, type Side } from "./compare-model";
import { setStyle, setText } from "./domwrite";
import { bytesOf, type BinaryLike } from "./buffers";
import { DifferenceRanges } from "./compare-ranges";
import { loadFocusedMatrix, loadedFocusedMatrix } from "./focus";
import { ModelAdapter, type AdapterOptions, type AnyModelLike } from "./model";
import type { HeadChoice, Matrix } from "./types";

/** `compare_meta` as `attnviz_widget/comparison/wire.py` sends it. */
export interface CompareMeta {
  readonly names: [string, string];
  readonly mode: "same" | "align";
  readonly layer_pairs: [number, number][];
  readonly num_heads: number;
  readonly metrics: string[];
  readonly metric_names: string[];
  readonly query_labels: string[];
  readonly key_labels: string[];
}

/** CSS pixels of one score-grid cell, and the largest side of the difference heatmap. */
const GRID_CELL = 22;
const DIFF_MAX_PX = 420;

const STYLE = `
.attnviz-compare { display: flex; flex-direction: column; gap: 12px; font: 12px system-ui, sans-serif; }
.attnviz-compare-sides { display: flex; gap: 12px; flex-wrap: wrap; }
.attnviz-compare-sides > div { flex: 1 1 420px; min-width: 0; --attnviz-max-height: 880px; }
.attnviz-compare-labels { max-width: ${DIFF_MAX_PX}px; color: #555; overflow-wrap: anywhere; }
.attnviz-compare-panel { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
.attnviz-compare canvas.attnviz-pixels { image-rendering: pixelated; border: 1px solid #ccc; }
.attnviz-compare-grid { cursor: pointer; display: block; }
.attnviz-compare-gridwrap { position: relative; display: inline-block; }
.attnviz-compare-focus { position: absolute; border: 2px solid #e8710a; box-sizing: border-box; pointer-events: none; }
.attnviz-compare-metrics button { font: inherit; margin: 0 4px 4px 0; }
.attnviz-compare-metrics button[aria-pressed="true"] { background: #222; color: #fff; }
.attnviz-compare-caption { max-width: ${DIFF_MAX_PX}px; }
`;

function element<K extends keyof HTMLElementTagNameMap>(doc: Document, tag: K, className = "", text = ""): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** The aligned tokens of the grid, top to bottom and left to right (`+x`: only in B, `−x`: only in A). */
export function alignedLabels(meta: Pick<CompareMeta, "query_labels" | "key_labels">): string {
  const queries = `rows: ${meta.query_labels.join(" ")}`;
  const same = meta.query_labels.join("\u0000") === meta.key_labels.join("\u0000");
  return same ? `${queries} (columns alike)` : `${queries}; columns: ${meta.key_labels.join(" ")}`;
}

/** Draw the comparison held by `model` into `el`; the returned function removes it and every listener. */
export function renderComparison(model: AnyModelLike, el: HTMLElement, options?: AdapterOptions): () => void {
  const doc = el.ownerDocument;
  const meta = model.get("compare_meta") as CompareMeta;
  const queries = decodeAlignment(bytesOf(model.get("align_queries") as BinaryLike));
  const keys = decodeAlignment(bytesOf(model.get("align_keys") as BinaryLike));
  const root = element(doc, "div", "attnviz-compare");
  root.append(element(doc, "style", "", STYLE));
  const row = element(doc, "div", "attnviz-compare-sides");
  const sides: Side[] = ["a", "b"];
  const adapters = sides.map((side) => new ModelAdapter(new SideModel(model, side, queries, meta.layer_pairs), options));
  const apps = sides.map((side, i) => {
    const host = element(doc, "div", `attnviz-compare-${side}`);
    host.append(element(doc, "div", "attnviz-compare-name", meta.names[i]));
    row.append(host);
    return new App(host, adapters[i]);
  });
  const panel = element(doc, "div", "attnviz-compare-panel");
  const diffBox = element(doc, "div", "attnviz-compare-diff");
  const diffTitle = element(doc, "div", "attnviz-compare-title");
  const diffCanvas = element(doc, "canvas", "attnviz-pixels");
  const caption = element(doc, "div", "attnviz-compare-caption", differenceCaption(meta.names));
  const labels = element(doc, "div", "attnviz-compare-labels", alignedLabels(meta));
  diffBox.append(diffTitle, diffCanvas, caption, labels);
  const gridBox = element(doc, "div", "attnviz-compare-scores");
  const gridTitle = element(doc, "div", "attnviz-compare-title");
  const gridCanvas = element(doc, "canvas", "attnviz-pixels attnviz-compare-grid");
  const gridWrap = element(doc, "div", "attnviz-compare-gridwrap");
  const focusBox = element(doc, "div", "attnviz-compare-focus");
  gridWrap.append(gridCanvas, focusBox);
  const metricBar = element(doc, "div", "attnviz-compare-metrics");
  const metricButtons = meta.metrics.map((metric, i) => {
    const button = element(doc, "button", "", metric === "js" ? "JS divergence" : metric === "tv" ? "TV distance" : metric);
    button.type = "button";
    button.title = meta.metric_names[i];
    button.addEventListener("click", () => {
      model.set("metric", metric);
      model.save_changes();
    });
    metricBar.append(button);
    return button;
  });
  const layers = meta.layer_pairs.map(([a]) => a);
  const gridAxes = element(doc, "div", "attnviz-compare-labels",
    `rows: layers ${layers.join(", ")} (A's numbering), top to bottom; columns: heads 0 to ${meta.num_heads - 1}`);
  gridBox.append(metricBar, gridTitle, gridWrap, gridAxes);
  panel.append(diffBox, gridBox);
  root.append(row, panel);
  el.append(root);

  let ticket = 0;
  let destroyed = false;
  /** The B − A pixels of the last paint, refilled by the next one of the same size. */
  let diffPixels: Uint8ClampedArray | undefined;
  const runs = keyRuns(keys);
  const layersOf = (i: number): number[] =>
    (model.get(`${sides[i]}_meta`) as { layer_indices?: number[] } | null)?.layer_indices ?? [];
  const rangeKey = (layer: number, head: HeadChoice): string =>
    `${String(model.get("a_data_version"))}|${String(model.get("b_data_version"))}|${layer}|${String(head)}`;
  const ranges = new DifferenceRanges(
    queries,
    runs,
    (layer, head) => {
      const pair = meta.layer_pairs.find(([a]) => a === layer);
      const matrices = pair ? adapters.map((adapter, i) => loadedFocusedMatrix(adapter, layersOf(i), pair[i], head)) : [];
      return matrices[0] && matrices[1] ? [matrices[0], matrices[1]] : null;
    },
    doc.defaultView,
  );
  const paintDifference = async (): Promise<void> => {
    const mine = ++ticket;
    const layer = Number(model.get("layer"));
    const head = model.get("head") as HeadChoice;
    const pair = meta.layer_pairs.find(([a]) => a === layer);
    if (!pair) return;
    try {
      const matrices: Matrix[] = await Promise.all(
        adapters.map((adapter, i) => loadFocusedMatrix(adapter, layersOf(i), pair[i], head)),
      );
      if (destroyed || mine !== ticket) return;
      const key = rangeKey(layer, head);
      const diff = differencePicture(matrices[0], matrices[1], queries, keys, runs, RDBU_R, diffPixels, ranges.get(key));
      ranges.set(key, diff.range);
      ranges.prefetch(layer, meta.num_heads, rangeKey); // the layer's other heads, when idle
      diffPixels = diff.pixels;
      const range = diff.range;
      pixelCanvas(doc, diffPixels, diff.cols, diff.rows, diffCanvas);
      const scale = Math.max(1, Math.floor(DIFF_MAX_PX / Math.max(diff.rows, diff.cols)));
      // unchanged text and sizes are not written again: a head switch invalidates no style it need not
      setStyle(diffCanvas, "width", `${diff.cols * scale}px`);
      setStyle(diffCanvas, "height", `${diff.rows * scale}px`);
      setText(diffTitle, `B − A, layer ${layer}, ${typeof head === "number" ? `head ${head}` : head}`);
      setText(caption, `${differenceCaption(meta.names)}; scale ±${range.toPrecision(2)}, grey: a gap`);
      diffCanvas.dataset.attnvizReady = `${layer}|${String(head)}`;
    } catch (error) {
      if (!destroyed && mine === ticket) caption.textContent = `B − A unavailable: ${(error as Error).message}`;
    }
  };

  const paintGrid = (): void => {
    const metric = Math.max(0, meta.metrics.indexOf(String(model.get("metric") ?? "js")));
    const grid = scoreGrid(bytesOf(model.get("scores") as BinaryLike), metric, meta.layer_pairs.length, meta.num_heads);
    let top = 0;
    for (const v of grid.data) if (v > top) top = v;
    const pixels = new Uint8ClampedArray(grid.data.length * 4);
    grid.data.forEach((v, i) => {
      const index = Number.isNaN(v) ? -1 : colorIndex(v / Math.max(top, 1e-6));
      pixels.set(index < 0 ? [0xd9, 0xd9, 0xd9, 255] : VIRIDIS.subarray(4 * index, 4 * index + 4), 4 * i);
    });
    pixelCanvas(doc, pixels, grid.cols, grid.rows, gridCanvas);
    gridCanvas.style.width = `${grid.cols * GRID_CELL}px`;
    gridCanvas.style.height = `${grid.rows * GRID_CELL}px`;
    gridTitle.textContent = `${meta.metric_names[metric]} per layer × head (max ${top.toPrecision(2)}); click to focus`;
    metricButtons.forEach((button, i) => button.setAttribute("aria-pressed", String(i === metric)));
    placeFocus();
  };

  /** Outline the focused head's cell (hidden for an aggregate or a layer not compared). */
  const placeFocus = (): void => {
    const head = model.get("head");
    const position = meta.layer_pairs.findIndex(([a]) => a === Number(model.get("layer")));
    const shown = typeof head === "number" && position >= 0;
    setStyle(focusBox, "display", shown ? "block" : "none");
    if (!shown) return;
    setStyle(focusBox, "left", `${head * GRID_CELL}px`);
    setStyle(focusBox, "top", `${position * GRID_CELL}px`);
    setStyle(focusBox, "width", `${GRID_CELL}px`);
    setStyle(focusBox, "height", `${GRID_CELL}px`);
  };

  const onGridClick = (event: MouseEvent): void => {
    const box = gridCanvas.getBoundingClientRect();
    const head = Math.floor((event.clientX - box.left) / GRID_CELL);
    const position = Math.floor((event.clientY - box.top) / GRID_CELL);
    if (head < 0 || head >= meta.num_heads || position < 0 || position >= meta.layer_pairs.length) return;
    model.set("layer", meta.layer_pairs[position][0]);
    model.set("head", head);
    model.save_changes();
  };

  const repaint = (): void => {
    placeFocus();
    void paintDifference();
  };
  const newData = (): void => {
    ranges.clear();
    repaint();
  };
  const events: [string, () => void][] = [
    ["change:layer", repaint], ["change:head", repaint], ["change:a_data_version", newData],
    ["change:b_data_version", newData], ["change:metric", paintGrid], ["change:scores", paintGrid],
  ];
  for (const [event, callback] of events) model.on(event, callback);
  gridCanvas.addEventListener("click", onGridClick);
  paintGrid();
  repaint();

  return () => {
    if (destroyed) return;
    destroyed = true;
    for (const [event, callback] of events) model.off(event, callback);
    gridCanvas.removeEventListener("click", onGridClick);
    ranges.dispose();
    apps.forEach((app) => app.destroy());
    adapters.forEach((adapter) => adapter.dispose());
    root.remove();
  };
}
