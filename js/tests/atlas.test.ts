// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import {
  decodeAtlas,
  formatValue,
  headReadout,
  metricRange,
  metricSlice,
  nextOrder,
  sortHeads,
  type AtlasMeta,
} from "../src/atlas-data";
import { ATLAS_CELL, atlasPixels, cellAt } from "../src/atlas-view";
import { VIRIDIS } from "../src/colormap";
import widget from "../src/widget";
import { FakeModel } from "./fake-model";

/** 2 layers × 3 heads, metrics prev (mass), entropy (nats) and probe_prev, as stats/atlas_wire.py sends them. */
const META: AtlasMeta = {
  metrics: ["prev", "entropy", "probe_prev"],
  titles: ["attention to the previous token", "entropy (nats)", "probe"],
  unit: [true, false, true],
  openable: [true, true, false],
  layers: 2,
  heads: 3,
  model: "<b>tiny</b>",
  corpus: "4 texts <script>",
  texts: 4,
  can_open: true,
};
// cell = layer * 3 + head
const PREV = [0.1, 0.9, 0.5, NaN, 0.2, 0.7];
const ENTROPY = [2.0, 1.0, 3.0, 0.5, 2.5, 1.5];
const PROBE = [0, 0.3, 0.6, 0.1, 0.2, 0.4];

function atlasBytes(): DataView {
  const mean = [...PREV, ...ENTROPY, ...PROBE];
  const std = mean.map((v) => (Number.isNaN(v) ? NaN : v / 10));
  const count = mean.map((v) => (Number.isNaN(v) ? 0 : 4));
  return new DataView(new Float32Array([...mean, ...std, ...count]).buffer);
}

function atlasModel(extra: Record<string, unknown> = {}): FakeModel {
  return new FakeModel({
    view_kind: "atlas", atlas_meta: META, atlas_values: atlasBytes(), metric: "prev", selected: [], detail_status: "",
    rank: 0, top_texts: [],
    ...extra,
  });
}

describe("atlas data", () => {
  it("decodes mean, std and count and slices one metric", () => {
    const values = decodeAtlas(atlasBytes(), META);
    expect(Array.from(metricSlice(values.mean, META, 1))).toEqual(ENTROPY);
    expect(values.std[1]).toBeCloseTo(0.09, 6);
    expect(values.count[3]).toBe(0);
    expect(() => decodeAtlas(new DataView(new ArrayBuffer(12)), META)).toThrow(/expected 216/);
  });

  it("colours mass on 0..1 and other metrics on their finite range", () => {
    expect(metricRange(PREV, true)).toEqual([0, 1]);
    expect(metricRange([NaN, 2, -1, Infinity], false)).toEqual([-1, 2]);
    expect(metricRange([NaN], false)).toEqual([0, 1]);
    const pixels = atlasPixels([0, NaN, 1], 0, 1);
    expect(Array.from(pixels.subarray(0, 4))).toEqual(Array.from(VIRIDIS.subarray(0, 4)));
    expect(Array.from(pixels.subarray(4, 8))).toEqual([0xd9, 0xd9, 0xd9, 255]);
    expect(Array.from(pixels.subarray(8, 12))).toEqual(Array.from(VIRIDIS.subarray(4 * 255, 4 * 256)));
  });

  it("sorts heads by a metric with NaN last, ties by layer then head", () => {
    const values = decodeAtlas(atlasBytes(), META);
    expect(sortHeads(META, values.mean, { column: 0, descending: true })).toEqual([1, 5, 2, 4, 0, 3]);
    expect(sortHeads(META, values.mean, { column: 0, descending: false })).toEqual([0, 4, 2, 5, 1, 3]);
    expect(sortHeads(META, values.mean, { column: "head", descending: false })).toEqual([0, 3, 1, 4, 2, 5]);
    expect(nextOrder({ column: 0, descending: true }, 0)).toEqual({ column: 0, descending: false });
    expect(nextOrder({ column: 0, descending: true }, 1)).toEqual({ column: 1, descending: true });
    expect(nextOrder({ column: 0, descending: true }, "layer")).toEqual({ column: "layer", descending: false });
  });

  it("reads out every metric of a head", () => {
    const lines = headReadout(META, decodeAtlas(atlasBytes(), META), 1, 0);
    expect(lines).toEqual(["layer 1, head 0", "prev: – ± – (n=0)", "entropy: 0.500 ± 0.050 (n=4)", "probe_prev: 0.100 ± 0.010 (n=4)"]);
    expect(formatValue(1234.5)).toBe("1234.5");
  });

  it("maps grid points to heads", () => {
    expect(cellAt(META, 2 * ATLAS_CELL + 1, ATLAS_CELL + 1)).toEqual([1, 2]);
    expect(cellAt(META, 3 * ATLAS_CELL, 0)).toBeNull();
    expect(cellAt(META, -1, 0)).toBeNull();
  });
});

describe("atlas view", () => {
  let destroy: (() => void) | null = null;
  afterEach(() => {
    destroy?.();
    destroy = null;
    document.body.replaceChildren();
  });

  function mount(model: FakeModel): HTMLElement {
    const el = document.createElement("div");
    document.body.append(el);
    destroy = widget.render({ model, el });
    return el;
  }

  const bodyCells = (el: HTMLElement): string[] =>
    Array.from(el.querySelectorAll("tbody tr")).map((tr) => (tr as HTMLElement).dataset.cell ?? "");

  it("is drawn by the bundle for view_kind 'atlas', names as text, table sorted by the metric", () => {
    const el = mount(atlasModel());
    expect(el.querySelector(".attnviz-atlas")).not.toBeNull();
    expect(el.querySelector("b")).toBeNull();
    expect(el.querySelector("script")).toBeNull();
    expect(el.querySelector(".attnviz-atlas-title")!.textContent).toContain("<b>tiny</b>");
    expect(bodyCells(el)).toEqual(["1", "5", "2", "4", "0", "3"]);
    expect(el.querySelectorAll("thead th").length).toBe(5);
    expect(el.querySelector("canvas")!.dataset.attnvizReady).toBe("prev");
  });

  it("sorts by a clicked header and flips on a second click", () => {
    const el = mount(atlasModel());
    const entropy = el.querySelector('th[data-column="1"]') as HTMLElement;
    entropy.click();
    expect(bodyCells(el)).toEqual(["2", "4", "0", "5", "1", "3"]);
    expect(entropy.getAttribute("aria-sort")).toBe("descending");
    entropy.click();
    expect(bodyCells(el)).toEqual(["3", "1", "5", "0", "4", "2"]);
    expect(entropy.getAttribute("aria-sort")).toBe("ascending");
    (el.querySelector('th[data-column="layer"]') as HTMLElement).click();
    expect(bodyCells(el)).toEqual(["0", "1", "2", "3", "4", "5"]);
  });

  it("hovering a row reads every metric; clicking it selects the head", () => {
    const model = atlasModel();
    const el = mount(model);
    const row = el.querySelector('tr[data-cell="4"] td') as HTMLElement;
    row.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    const readout = el.querySelector(".attnviz-atlas-readout")!.textContent!;
    expect(readout).toContain("layer 1, head 1");
    expect(readout).toContain("entropy: 2.500 ± 0.250 (n=4)");
    row.click();
    expect(model.get("selected")).toEqual([1, 1]);
    expect(model.saves).toBe(1);
    expect(el.querySelector('tr[data-cell="4"]')!.getAttribute("data-selected")).toBe("true");
    const mark = el.querySelector(".attnviz-atlas-mark") as HTMLElement;
    expect(mark.style.display).toBe("block");
    expect(mark.style.left).toBe(`${ATLAS_CELL}px`);
    expect(mark.style.top).toBe(`${ATLAS_CELL}px`);
  });

  it("works from the keyboard: focus reads a row out, Enter opens it, Enter on a header sorts", () => {
    const model = atlasModel();
    const el = mount(model);
    const row = el.querySelector('tr[data-cell="2"]') as HTMLElement;
    expect(row.tabIndex).toBe(0);
    row.dispatchEvent(new FocusEvent("focusin", { bubbles: true }));
    expect(el.querySelector(".attnviz-atlas-readout")!.textContent).toContain("layer 0, head 2");
    row.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(model.get("selected")).toEqual([0, 2]);
    row.dispatchEvent(new KeyboardEvent("keydown", { key: "a", bubbles: true }));
    expect(model.saves).toBe(1);
    const head = el.querySelector('th[data-column="head"]') as HTMLElement;
    head.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(head.getAttribute("aria-sort")).toBe("ascending");
  });

  it("hovering and clicking a grid cell", () => {
    const model = atlasModel();
    const el = mount(model);
    const canvas = el.querySelector("canvas")!;
    canvas.dispatchEvent(new MouseEvent("mousemove", { clientX: 2 * ATLAS_CELL + 3, clientY: 3 }));
    expect(el.querySelector(".attnviz-atlas-readout")!.textContent).toContain("layer 0, head 2");
    canvas.dispatchEvent(new MouseEvent("click", { clientX: 2 * ATLAS_CELL + 3, clientY: ATLAS_CELL + 3 }));
    expect(model.get("selected")).toEqual([1, 2]);
  });

  it("follows metric and detail_status from Python; the picker sets metric", () => {
    const model = atlasModel();
    const el = mount(model);
    model.pythonSets("metric", "entropy");
    expect(el.querySelector("canvas")!.dataset.attnvizReady).toBe("entropy");
    expect(bodyCells(el)[0]).toBe("2");
    expect(el.querySelector(".attnviz-atlas-legend")!.textContent).toContain("0.500 (dark) to 3.000");
    model.pythonSets("metric", "probe_prev");
    expect(el.querySelector(".attnviz-atlas-legend")!.textContent).toContain("no texts to open");
    model.pythonSets("detail_status", "layer 0, head 1: <i>top</i>");
    expect(el.querySelector(".attnviz-atlas-status")!.textContent).toBe("layer 0, head 1: <i>top</i>");
    expect(el.querySelector("i")).toBeNull();
    const picker = el.querySelector("select") as HTMLSelectElement;
    picker.value = "prev";
    picker.dispatchEvent(new Event("change"));
    expect(model.get("metric")).toBe("prev");
  });

  it("lists the opened head's top texts as text; a click on one sets rank", () => {
    const model = atlasModel();
    const el = mount(model);
    expect(el.querySelectorAll(".attnviz-atlas-texts li").length).toBe(0);
    model.pythonSets("top_texts", [{ text: "<img src=x onerror=alert(1)> best", value: 0.91 }, { text: "second", value: null }]);
    const buttons = Array.from(el.querySelectorAll(".attnviz-atlas-texts button")) as HTMLButtonElement[];
    expect(buttons.map((b) => b.textContent)).toEqual(["0.910  <img src=x onerror=alert(1)> best", "–  second"]);
    expect(el.querySelector("img")).toBeNull();
    expect(buttons.map((b) => b.getAttribute("aria-pressed"))).toEqual(["true", "false"]);
    buttons[1].click();
    expect(model.get("rank")).toBe(1);
    expect(model.saves).toBe(1);
    const again = Array.from(el.querySelectorAll(".attnviz-atlas-texts button"));
    expect(again.map((b) => b.getAttribute("aria-pressed"))).toEqual(["false", "true"]);
  });

  it("shows a one-line message for malformed values, and removes every listener", () => {
    const bad = atlasModel({ atlas_values: new DataView(new ArrayBuffer(8)) });
    const el = mount(bad);
    expect(el.textContent).toContain("head atlas unavailable");
    destroy!();
    destroy = null;
    const model = atlasModel();
    const before = model.listenerCount();
    const host = mount(model);
    expect(model.listenerCount()).toBeGreaterThan(before);
    destroy!();
    destroy = null;
    expect(model.listenerCount()).toBe(before);
    expect(host.querySelector(".attnviz-atlas")).toBeNull();
  });
});
