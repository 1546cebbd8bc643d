/**
 * The head atlas (`attnviz_widget/stats/view.py`, `HeadAtlasWidget`): the layer × head grid
 * coloured by the chosen metric, a table of every head with every metric (a click on a
 * header sorts it), and a readout of every metric of the head under the pointer (grid cell
 * or table row). A click on a head sets `selected`; Python opens the head's best text in an
 * `AttentionWidget` below, reports in `detail_status` and lists the head's top texts
 * (`top_texts`; a click on one sets `rank`). Corpus text, model and corpus names are set as
 * text, never HTML.
 */
import { pixelCanvas } from "./canvas";
import { VIRIDIS, colorIndex } from "./colormap";
import {
  decodeAtlas,
  formatValue,
  headReadout,
  metricRange,
  metricSlice,
  nextOrder,
  sortHeads,
  type AtlasMeta,
  type AtlasValues,
  type SortOrder,
} from "./atlas-data";
import type { BinaryLike } from "./buffers";
import type { AnyModelLike } from "./model";

/** One of the opened head's top texts, as `HeadAtlasWidget.top_texts` holds it (value null if not finite). */
interface TopText {
  readonly text: string;
  readonly value: number | null;
}

/** CSS pixels of one grid cell. */
export const ATLAS_CELL = 22;
const NAN_RGBA = [0xd9, 0xd9, 0xd9, 255];

const STYLE = `
.attnviz-atlas { display: flex; flex-direction: column; gap: 8px; font: 12px system-ui, sans-serif; }
.attnviz-atlas-top { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
.attnviz-atlas canvas { image-rendering: pixelated; border: 1px solid #ccc; cursor: pointer; display: block; }
.attnviz-atlas-gridwrap { position: relative; display: inline-block; }
.attnviz-atlas-mark { position: absolute; border: 2px solid #e8710a; box-sizing: border-box; pointer-events: none; }
.attnviz-atlas-readout { white-space: pre; font-family: ui-monospace, monospace; min-width: 260px; }
.attnviz-atlas-tablewrap { max-height: 320px; overflow: auto; border: 1px solid #ddd; }
.attnviz-atlas table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.attnviz-atlas th { position: sticky; top: 0; background: #f4f4f4; cursor: pointer; padding: 2px 6px; white-space: nowrap; }
.attnviz-atlas td { padding: 1px 6px; text-align: right; }
.attnviz-atlas tr[data-selected="true"] td { background: #fde2c8; }
.attnviz-atlas tbody tr:hover td { background: #eef; }
.attnviz-atlas-status { color: #555; }
.attnviz-atlas-texts { margin: 0; padding-left: 22px; max-width: 900px; }
.attnviz-atlas-texts button { font: inherit; text-align: left; border: 1px solid transparent; background: none;
  cursor: pointer; padding: 1px 4px; overflow-wrap: anywhere; }
.attnviz-atlas-texts button[aria-pressed="true"] { border-color: #e8710a; background: #fde2c8; }
.attnviz-atlas-title { font-weight: 600; }
.attnviz-atlas select { align-self: flex-start; max-width: 100%; font: inherit; }
.attnviz-atlas-gridbox { max-width: 420px; }
.attnviz-atlas-tablewrap { max-width: 100%; align-self: flex-start; }
.attnviz-atlas th[aria-sort="descending"]::after { content: " \u25BC"; }
.attnviz-atlas th[aria-sort="ascending"]::after { content: " \u25B2"; }
`;

function element<K extends keyof HTMLElementTagNameMap>(doc: Document, tag: K, className = "", text = ""): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** The `(layer, head)` under a point of the grid, or null outside it. */
export function cellAt(meta: AtlasMeta, x: number, y: number): [number, number] | null {
  const head = Math.floor(x / ATLAS_CELL);
  const layer = Math.floor(y / ATLAS_CELL);
  if (!(head >= 0 && head < meta.heads && layer >= 0 && layer < meta.layers)) return null;
  return [layer, head];
}

/** RGBA pixels of `(layers, heads)` values on viridis over `[low, high]`, NaN grey. */
export function atlasPixels(grid: ArrayLike<number>, low: number, high: number): Uint8ClampedArray {
  const pixels = new Uint8ClampedArray(grid.length * 4);
  const span = high - low || 1;
  for (let i = 0; i < grid.length; i++) {
    const v = grid[i];
    const index = colorIndex((v - low) / span);
    pixels.set(Number.isFinite(v) ? VIRIDIS.subarray(4 * index, 4 * index + 4) : NAN_RGBA, 4 * i);
  }
  return pixels;
}

/** Draw the atlas held by `model` into `el`; the returned function removes it and every listener. */
export function renderAtlas(model: AnyModelLike, el: HTMLElement): () => void {
  const doc = el.ownerDocument;
  const meta = model.get("atlas_meta") as AtlasMeta;
  const root = element(doc, "div", "attnviz-atlas");
  root.append(element(doc, "style", "", STYLE));
  let values: AtlasValues;
  try {
    values = decodeAtlas(model.get("atlas_values") as BinaryLike, meta);
  } catch (error) {
    root.append(element(doc, "div", "attnviz-atlas-status", `head atlas unavailable: ${(error as Error).message}`));
    el.append(root);
    return () => root.remove();
  }
  const cells = meta.layers * meta.heads;
  const heading = element(doc, "div", "attnviz-atlas-title",
    `Head atlas · ${meta.model} · ${meta.texts} texts (${meta.corpus})`);
  const picker = element(doc, "select", "attnviz-atlas-metric");
  picker.setAttribute("aria-label", "metric");
  meta.metrics.forEach((name, slot) => {
    const option = element(doc, "option", "", `${name}: ${meta.titles[slot]}`);
    option.value = name;
    picker.append(option);
  });
  const onPick = (): void => {
    model.set("metric", picker.value);
    model.save_changes();
  };
  picker.addEventListener("change", onPick);

  const canvas = element(doc, "canvas", "attnviz-atlas-grid");
  const mark = element(doc, "div", "attnviz-atlas-mark");
  const wrap = element(doc, "div", "attnviz-atlas-gridwrap");
  wrap.append(canvas, mark);
  const legend = element(doc, "div", "attnviz-atlas-legend");
  const axes = element(doc, "div", "attnviz-atlas-axes",
    `rows: layers 0 to ${meta.layers - 1}, top to bottom; columns: heads 0 to ${meta.heads - 1}`);
  const gridBox = element(doc, "div", "attnviz-atlas-gridbox");
  gridBox.append(wrap, legend, axes);
  const readout = element(doc, "div", "attnviz-atlas-readout", "hover a head to read every metric");
  const top = element(doc, "div", "attnviz-atlas-top");
  top.append(gridBox, readout);
  const status = element(doc, "div", "attnviz-atlas-status");
  const texts = element(doc, "ol", "attnviz-atlas-texts");
  texts.start = 1;

  const table = element(doc, "table", "attnviz-atlas-table");
  const headRow = element(doc, "tr");
  const columns: SortOrder["column"][] = ["layer", "head", ...meta.metrics.map((_, slot) => slot)];
  const headers = columns.map((column) => {
    const th = element(doc, "th", "", typeof column === "number" ? meta.metrics[column] : column);
    if (typeof column === "number") th.title = meta.titles[column];
    th.dataset.column = String(column);
    th.tabIndex = 0;
    headRow.append(th);
    return th;
  });
  const thead = element(doc, "thead");
  thead.append(headRow);
  const tbody = element(doc, "tbody");
  const rows: HTMLTableRowElement[] = [];
  for (let cell = 0; cell < cells; cell++) {
    const tr = element(doc, "tr");
    tr.dataset.cell = String(cell);
    tr.tabIndex = 0; // keyboard: focus reads the head out, Enter or Space opens it
    const layer = Math.floor(cell / meta.heads);
    const head = cell % meta.heads;
    tr.append(element(doc, "td", "", String(layer)), element(doc, "td", "", String(head)));
    meta.metrics.forEach((_, slot) => tr.append(element(doc, "td", "", formatValue(values.mean[slot * cells + cell]))));
    rows.push(tr);
  }
  table.append(thead, tbody);
  const tableWrap = element(doc, "div", "attnviz-atlas-tablewrap");
  tableWrap.append(table);
  root.append(heading, picker, top, status, texts, tableWrap);
  el.append(root);

  let order: SortOrder = { column: Math.max(0, meta.metrics.indexOf(String(model.get("metric")))), descending: true };
  const slotOf = (): number => Math.max(0, meta.metrics.indexOf(String(model.get("metric"))));

  const paintTable = (): void => {
    tbody.replaceChildren(...sortHeads(meta, values.mean, order).map((cell) => rows[cell]));
    headers.forEach((th, i) => {
      const sorted = columns[i] === order.column;
      th.setAttribute("aria-sort", sorted ? (order.descending ? "descending" : "ascending") : "none");
    });
  };

  const paintSelection = (): void => {
    const selected = model.get("selected") as number[] | null;
    const shown = Array.isArray(selected) && selected.length === 2;
    mark.style.display = shown ? "block" : "none";
    const chosen = shown ? selected[0] * meta.heads + selected[1] : -1;
    rows.forEach((tr, cell) => tr.setAttribute("data-selected", String(cell === chosen)));
    if (!shown) return;
    mark.style.left = `${selected[1] * ATLAS_CELL}px`;
    mark.style.top = `${selected[0] * ATLAS_CELL}px`;
    mark.style.width = `${ATLAS_CELL}px`;
    mark.style.height = `${ATLAS_CELL}px`;
  };

  const paintGrid = (): void => {
    const slot = slotOf();
    const grid = metricSlice(values.mean, meta, slot);
    const [low, high] = metricRange(grid, meta.unit[slot]);
    pixelCanvas(doc, atlasPixels(grid, low, high), meta.heads, meta.layers, canvas);
    canvas.style.width = `${meta.heads * ATLAS_CELL}px`;
    canvas.style.height = `${meta.layers * ATLAS_CELL}px`;
    picker.value = meta.metrics[slot];
    const opens = meta.can_open && meta.openable[slot] ? "click a head to open its top text" : "this metric has no texts to open";
    legend.textContent = `${meta.metrics[slot]}: ${meta.titles[slot]}; colour ${formatValue(low)} (dark) to ${formatValue(high)} (yellow), grey: no value; ${opens}`;
    canvas.dataset.attnvizReady = meta.metrics[slot];
    paintSelection();
  };

  const showHead = (layer: number, head: number): void => {
    readout.textContent = headReadout(meta, values, layer, head).join("\n");
  };
  const select = (layer: number, head: number): void => {
    model.set("selected", [layer, head]);
    model.save_changes();
  };
  const pointIn = (event: MouseEvent): [number, number] | null => {
    const box = canvas.getBoundingClientRect();
    return cellAt(meta, event.clientX - box.left, event.clientY - box.top);
  };
  const onGridMove = (event: MouseEvent): void => {
    const hit = pointIn(event);
    if (hit) showHead(hit[0], hit[1]);
  };
  const onGridClick = (event: MouseEvent): void => {
    const hit = pointIn(event);
    if (hit) select(hit[0], hit[1]);
  };
  const rowCell = (event: Event): number | null => {
    const tr = (event.target as Element | null)?.closest?.("tr");
    const cell = tr?.dataset.cell;
    return cell === undefined ? null : Number(cell);
  };
  const onRowOver = (event: Event): void => {
    const cell = rowCell(event);
    if (cell !== null) showHead(Math.floor(cell / meta.heads), cell % meta.heads);
  };
  const onRowClick = (event: Event): void => {
    const cell = rowCell(event);
    if (cell !== null) select(Math.floor(cell / meta.heads), cell % meta.heads);
  };
  const onRowKey = (event: KeyboardEvent): void => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    onRowClick(event);
  };
  const onHeaderKey = (event: KeyboardEvent): void => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    onHeaderClick(event);
  };
  const onHeaderClick = (event: Event): void => {
    const column = (event.target as HTMLElement | null)?.closest?.("th")?.dataset.column;
    if (column === undefined) return;
    order = nextOrder(order, column === "layer" || column === "head" ? column : Number(column));
    paintTable();
  };
  const onStatus = (): void => {
    status.textContent = String(model.get("detail_status") ?? "");
  };
  /** The opened head's top texts, best first, as buttons (corpus text set as text, never HTML). */
  const paintTexts = (): void => {
    const kept = (model.get("top_texts") as TopText[] | null) ?? [];
    const rank = Number(model.get("rank") ?? 0);
    texts.replaceChildren(...kept.map((entry, i) => {
      const item = element(doc, "li");
      const button = element(doc, "button", "", `${formatValue(entry.value ?? NaN)}  ${entry.text}`);
      button.type = "button";
      button.dataset.rank = String(i);
      button.setAttribute("aria-pressed", String(i === rank));
      item.append(button);
      return item;
    }));
  };
  const onTextClick = (event: Event): void => {
    const rank = (event.target as Element | null)?.closest?.("button")?.getAttribute("data-rank");
    if (rank === null || rank === undefined) return;
    model.set("rank", Number(rank));
    model.save_changes();
  };
  const onMetric = (): void => {
    paintGrid();
    order = { column: slotOf(), descending: true };
    paintTable();
  };

  const events: [string, () => void][] = [
    ["change:metric", onMetric], ["change:selected", paintSelection], ["change:detail_status", onStatus],
    ["change:top_texts", paintTexts], ["change:rank", paintTexts],
  ];
  for (const [event, callback] of events) model.on(event, callback);
  canvas.addEventListener("mousemove", onGridMove);
  canvas.addEventListener("click", onGridClick);
  tbody.addEventListener("mouseover", onRowOver);
  tbody.addEventListener("click", onRowClick);
  tbody.addEventListener("focusin", onRowOver);
  tbody.addEventListener("keydown", onRowKey);
  thead.addEventListener("click", onHeaderClick);
  thead.addEventListener("keydown", onHeaderKey);
  texts.addEventListener("click", onTextClick);
  paintGrid();
  paintTable();
  onStatus();
  paintTexts();

  let destroyed = false;
  return () => {
    if (destroyed) return;
    destroyed = true;
    for (const [event, callback] of events) model.off(event, callback);
    picker.removeEventListener("change", onPick);
    canvas.removeEventListener("mousemove", onGridMove);
    canvas.removeEventListener("click", onGridClick);
    tbody.removeEventListener("mouseover", onRowOver);
    tbody.removeEventListener("click", onRowClick);
    tbody.removeEventListener("focusin", onRowOver);
    tbody.removeEventListener("keydown", onRowKey);
    thead.removeEventListener("click", onHeaderClick);
    thead.removeEventListener("keydown", onHeaderKey);
    texts.removeEventListener("click", onTextClick);
    root.remove();
  };
}
