// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from "vitest";
import { HeatmapView } from "../src/heatmap";
import { OverviewView } from "../src/overview";
import { headAvailable, headName, headTitle, isCross, scaleCaption } from "../src/state";
import { encodeFloat16Array } from "../src/float16";
import { LocalModel } from "../src/standalone";
import widget, { mountStandalone } from "../src/widget";
import { FALLBACK_VOCABULARY, readVocabulary } from "../src/vocabulary";
import { FakeModel, traits } from "./fake-model";

afterEach(() => document.body.replaceChildren());

/** Layers of uniform attention over `q` tokens, as base64 (as an HTML export embeds them). */
function layers(count: number, heads: number, q: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let l = 0; l < count; l++) {
    const values = new Float32Array(heads * q * q).fill(1 / q);
    const bytes = new Uint8Array(encodeFloat16Array(values).buffer);
    out[String(l)] = btoa(String.fromCharCode(...bytes));
  }
  return out;
}

function mount(extra: Record<string, unknown> = {}) {
  const el = document.createElement("div");
  document.body.appendChild(el);
  const state = { ...traits(4, 2, 2, extra), layers: layers(2, 2, 4) };
  const { model, destroy } = mountStandalone(el, state);
  const root = el.querySelector<HTMLElement>(".attnviz-root")!;
  return { el, root, model, destroy };
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
const move = (el: Element): boolean => el.dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
const click = (el: Element): boolean => el.dispatchEvent(new MouseEvent("click", { bubbles: true }));

describe("the widget (happy-dom, no canvas)", () => {
  it("builds the views and becomes ready once the focused layer arrives", async () => {
    const { root } = mount();
    expect(root.dataset.attnvizReady).toBe("false");
    expect(root.querySelectorAll(".attnviz-token")).toHaveLength(4);
    expect(root.querySelector(".attnviz-overview")).not.toBeNull();
    expect(root.querySelector(".attnviz-heatmap")).not.toBeNull();
    await settle();
    expect(root.dataset.attnvizReady).toBe("true");
    expect([root.dataset.layer, root.dataset.head]).toEqual(["0", "0"]);
    expect(root.querySelector(".attnviz-heatmap-title")!.textContent).toBe("Layer 0, head 0");
  });

  it("links hover, locks on click, unlocks on a second click or Escape", async () => {
    const { root, model } = mount();
    await settle();
    const tokens = root.querySelectorAll(".attnviz-token");
    move(tokens[2]);
    expect(root.dataset.selectedToken).toBe("2");
    click(tokens[2]);
    expect(root.dataset.locked).toBe("true");
    expect([model.get("selected_token"), model.get("token_locked")]).toEqual([2, true]);
    move(tokens[1]);
    expect(root.dataset.selectedToken).toBe("2"); // locked: hover does not move it
    click(tokens[2]);
    expect(root.dataset.locked).toBe("false");
    click(tokens[1]);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(root.dataset.locked).toBe("false");
    expect(root.dataset.selectedToken).toBe("");
    expect(model.get("token_locked")).toBe(false);
  });

  it("follows Python's changes of layer, head and selection", async () => {
    const { root, model } = mount();
    await settle();
    model.set("head", "max");
    model.set("layer", 1);
    expect(root.dataset.attnvizReady).toBe("false");
    await settle();
    expect(root.dataset.attnvizReady).toBe("true");
    expect(root.querySelector(".attnviz-heatmap-title")!.textContent).toBe("Layer 1, max over heads");
    model.set("selected_token", 3);
    expect(root.dataset.selectedToken).toBe("3");
  });

  it("says so when special tokens are hidden", async () => {
    const { root } = mount();
    await settle();
    const note = root.querySelector<HTMLElement>(".attnviz-note")!;
    expect(note.hidden).toBe(true);
    const box = root.querySelector<HTMLInputElement>(".attnviz-hide-special")!;
    box.checked = true;
    box.dispatchEvent(new Event("change"));
    expect(note.hidden).toBe(false);
    expect(note.textContent).toMatch(/2 rows, 2 columns.*renormalised to sum to 1/);
    expect(root.querySelectorAll<HTMLElement>(".attnviz-token")[0].hidden).toBe(true);
  });

  it("shows loading and errors as text", () => {
    const { root, model } = mount({ status: "loading" });
    expect(root.querySelector(".attnviz-banner")!.textContent).toMatch(/Computing attention/);
    model.set("error", "<b>CUDA</b> out of memory");
    model.set("status", "error");
    const error = root.querySelector<HTMLElement>(".attnviz-error")!;
    expect(error.hidden).toBe(false);
    expect(error.textContent).toBe("<b>CUDA</b> out of memory");
    expect(error.querySelector("b")).toBeNull();
  });

  it("does not focus rollout where it is undefined", async () => {
    const el = document.createElement("div");
    document.body.appendChild(el);
    const base = traits(4, 2, 2);
    const meta = { ...(base.meta as object), has_rollout: false };
    const { model } = mountStandalone(el, { ...base, meta, layers: layers(2, 2, 4) });
    await settle();
    const head = el.querySelector<HTMLSelectElement>(".attnviz-head-select")!;
    head.value = "rollout";
    head.dispatchEvent(new Event("change"));
    expect(model.get("head")).toBe(0);
    expect(head.value).toBe("0");
  });

  it("is not ready while Python computes new data", async () => {
    const { root, model } = mount();
    await settle();
    expect(root.dataset.attnvizReady).toBe("true");
    model.set("status", "loading");
    expect(root.dataset.attnvizReady).toBe("false");
    expect(root.querySelector(".attnviz-body")!.classList.contains("attnviz-stale")).toBe(true);
    model.set("status", "ready");
    expect(root.dataset.attnvizReady).toBe("true");
  });

  it("shades by what attends to the token in the 'to' direction", async () => {
    const { root } = mount();
    await settle();
    root.querySelector<HTMLButtonElement>('button[data-value="to"]')!.click();
    expect(root.dataset.direction).toBe("to");
    const tokens = root.querySelectorAll<HTMLElement>(".attnviz-token");
    move(tokens[1]);
    expect(Array.from(tokens).filter((t) => t.style.backgroundColor !== "")).toHaveLength(4); // uniform 1/4
    expect(root.querySelector(".attnviz-legend-text")!.textContent).toMatch(/attend to it/);
  });

  it("shows a failed layer request in the heatmap status", async () => {
    const el = document.createElement("div");
    document.body.appendChild(el);
    mountStandalone(el, { ...traits(4, 2, 2), layers: {} });
    await settle();
    expect(el.querySelector(".attnviz-heatmap-status")!.textContent).toMatch(/not embedded/);
    expect(el.querySelector<HTMLElement>(".attnviz-root")!.dataset.attnvizReady).toBe("false");
  });

  it("keeps two widgets independent", async () => {
    const a = mount();
    const b = mount();
    await settle();
    move(a.root.querySelectorAll(".attnviz-token")[1]);
    click(a.root.querySelectorAll(".attnviz-token")[1]);
    expect(a.root.dataset.locked).toBe("true");
    expect(b.root.dataset.locked).toBe("false");
    expect(b.root.dataset.selectedToken).toBe("");
  });

  it("removes its DOM and every model listener on cleanup", async () => {
    const el = document.createElement("div");
    const model = new LocalModel({ ...traits(4, 2, 2), layers: layers(2, 2, 4) });
    const cleanup = widget.render({ model, el });
    expect(model.listenerCount()).toBeGreaterThan(0);
    await settle();
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.children).toHaveLength(0);
  });
});

describe("zooming the heatmap", () => {
  it("zooms with + and -, pans with arrows, resets with 0, and keeps the zoom across heads", async () => {
    const el = document.createElement("div");
    document.body.appendChild(el);
    mountStandalone(el, { ...traits(64, 2, 2), layers: layers(2, 2, 64) });
    await settle();
    const canvas = el.querySelector<HTMLCanvasElement>(".attnviz-heatmap")!;
    const view = () => JSON.parse(canvas.dataset.view!);
    const key = (k: string) => canvas.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true }));
    expect(view()).toEqual({ r0: 0, r1: 64, c0: 0, c1: 64 });
    const reset = el.querySelector<HTMLButtonElement>(".attnviz-zoom-reset")!;
    expect(reset.hidden).toBe(true);
    key("+");
    key("+");
    const zoomed = view();
    expect(zoomed.r1 - zoomed.r0).toBe(29); // 64 / 1.5 / 1.5 (rounded), around the centre
    expect(reset.hidden).toBe(false);
    expect(el.querySelector(".attnviz-zoom-label")!.textContent).toMatch(/queries 18\u201346, keys 18\u201346 of 64 \u00d7 64/);
    key("ArrowDown");
    expect(view().r0).toBe(zoomed.r0 + 4);
    const grid = JSON.parse(canvas.dataset.grid!);
    expect([grid.rows, grid.cols, grid.r0]).toEqual([29, 29, zoomed.r0 + 4]);
    el.querySelector<HTMLSelectElement>(".attnviz-head-select")!.value = "1";
    el.querySelector<HTMLSelectElement>(".attnviz-head-select")!.dispatchEvent(new Event("change"));
    await settle();
    expect(view().r0).toBe(zoomed.r0 + 4); // same matrix shape: the zoom stays
    key("-");
    key("0");
    expect(view()).toEqual({ r0: 0, r1: 64, c0: 0, c1: 64 });
    key("+");
    reset.click();
    expect(view()).toEqual({ r0: 0, r1: 64, c0: 0, c1: 64 });
  });
});

describe("long inputs, drawn from tiles", () => {
  it("asks for the pooled matrix instead of layers, and for the hovered query's row", async () => {
    const el = document.createElement("div");
    document.body.appendChild(el);
    const base = traits(64, 2, 2);
    const state = { ...base, meta: { ...(base.meta as object), tiled: true }, layers: layers(2, 2, 64) };
    const { model } = mountStandalone(el, state);
    const sent: Record<string, unknown>[] = [];
    const send = model.send.bind(model);
    model.send = (content: unknown) => {
      sent.push(content as Record<string, unknown>);
      send(content);
    };
    await settle();
    const root = el.querySelector<HTMLElement>(".attnviz-root")!;
    expect(root.dataset.attnvizReady).toBe("true");
    expect(sent.map((m) => m.what)).toEqual([]); // the first request went out before the spy
    const tokens = root.querySelectorAll<HTMLElement>(".attnviz-token");
    move(tokens[5]);
    await settle();
    expect(sent.map((m) => m.what)).toEqual(["row"]);
    expect(sent[0]).toMatchObject({ layer: 0, head: 0, query: 5 });
    // uniform 1/64 attention: every token is shaded from the row Python sent
    expect(Array.from(tokens).filter((t) => t.style.backgroundColor !== "")).toHaveLength(64);
    // another head: one pooled tile of the whole matrix, never a layer
    const head = root.querySelector<HTMLSelectElement>(".attnviz-head-select")!;
    head.value = "1";
    head.dispatchEvent(new Event("change"));
    await settle();
    expect(sent.filter((m) => m.what === "layer")).toEqual([]);
    expect(sent.find((m) => m.what === "tile")).toMatchObject({ head: 1, q0: 0, q1: 64, k0: 0, k1: 64, pool: 1 });
    // hiding special tokens does not apply at length, and says so
    const hide = root.querySelector<HTMLInputElement>(".attnviz-hide-special")!;
    hide.checked = true;
    hide.dispatchEvent(new Event("change"));
    expect(root.querySelector(".attnviz-note")!.textContent).toMatch(/At 64 tokens .* apply to shorter inputs/);
  });
});

describe("progressive paint", () => {
  it("paints each layer's thumbnails as it arrives while the model runs", async () => {
    const overviewContent = vi.spyOn(OverviewView.prototype, "setContent");
    try {
      const el = document.createElement("div");
      document.body.appendChild(el);
      const empty = { tokens: [], key_tokens: [], special: [], key_special: [], meta: {}, overview: null, status: "loading" };
      const model = new FakeModel(traits(4, 2, 2, empty));
      widget.render({ model, el });
      const root = el.querySelector<HTMLElement>(".attnviz-root")!;
      expect(root.querySelector<HTMLElement>(".attnviz-body")!.hidden).toBe(true);
      const layer = (index: number, extraction = 3) => {
        const bytes = new Uint8Array(5 * 4 * 4).fill(200);
        const msg = {
          type: "overview_layer", extraction, section: "self", layer: index, layer_indices: [0, 1], num_heads: 2,
          num_queries: 4, num_keys: 4, shape: [5, 4, 4], scale: [0.5, 0.5, 0.5, 0.5, 0], missing: ["rollout"],
        };
        model.emit("msg:custom", msg, [new DataView(bytes.buffer)]);
      };
      layer(1);
      expect(root.querySelector<HTMLElement>(".attnviz-body")!.hidden).toBe(false);
      const first = overviewContent.mock.calls.at(-1)![0];
      expect([first.overview.layers, first.overview.columns, first.layerIndices]).toEqual([2, 5, [0, 1]]);
      expect(Array.from(first.overview.data.subarray(0, 80)).every((v) => v === 0)).toBe(true); // layer 0: not yet
      expect(first.overview.data[80]).toBe(200);
      expect(first.emptyColumns).toEqual({ rollout: expect.stringMatching(/every layer/) });
      layer(0);
      expect(overviewContent.mock.calls.at(-1)![0].overview.data[0]).toBe(200);
      // a malformed message is dropped without a trace
      model.emit("msg:custom", { type: "overview_layer", extraction: 3, layer: 9, shape: [1] }, []);
      expect(root.dataset.attnvizReady).toBe("false");
      // the data land: the real overview replaces the progress picture
      const calls = overviewContent.mock.calls.length;
      const data = traits(4, 2, 2);
      for (const name of ["tokens", "key_tokens", "special", "key_special", "meta", "overview", "overview_shape", "overview_scale"]) {
        model.set(name, data[name]);
      }
      model.set("status", "ready");
      model.set("data_version", 2);
      expect(overviewContent.mock.calls.length).toBeGreaterThan(calls);
      expect(overviewContent.mock.calls.at(-1)![0].overview.tq).toBe(4);
      expect(overviewContent.mock.calls.at(-1)![0].emptyColumns).toEqual({});
    } finally {
      vi.restoreAllMocks();
    }
  });
});

describe("the render pass", () => {
  it("redraws only what a change touches", async () => {
    const heatmapContent = vi.spyOn(HeatmapView.prototype, "setContent");
    const overviewContent = vi.spyOn(OverviewView.prototype, "setContent");
    const selection = vi.spyOn(HeatmapView.prototype, "setSelection");
    try {
      const { root, model } = mount();
      await settle();
      expect([heatmapContent.mock.calls.length, overviewContent.mock.calls.length]).toEqual([1, 1]);
      const tokens = root.querySelectorAll(".attnviz-token");
      for (const i of [1, 2, 3]) move(tokens[i]);
      expect(root.dataset.selectedToken).toBe("3");
      expect(selection.mock.calls.at(-1)?.[0]).toEqual({ query: 3, key: null, locked: false });
      expect([heatmapContent.mock.calls.length, overviewContent.mock.calls.length]).toEqual([1, 1]); // hover: overlays only
      model.set("row_normalize", true);
      expect(heatmapContent.mock.calls.length).toBe(2); // a new display, same overview
      model.set("data_version", 2);
      await settle();
      expect(overviewContent.mock.calls.length).toBe(2); // new data: everything
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("paints a head of a loaded layer in the same pass, with no Loading pass", async () => {
    const heatmapContent = vi.spyOn(HeatmapView.prototype, "setContent");
    try {
      const { root, model } = mount();
      await settle();
      const status = root.querySelector(".attnviz-heatmap-status")!;
      const seen: string[] = [];
      const observer = new MutationObserver((records) =>
        records.forEach((r) => r.addedNodes.forEach((node) => seen.push(node.textContent ?? ""))),
      );
      observer.observe(status, { childList: true, characterData: true, subtree: true });
      const before = heatmapContent.mock.calls.length;
      model.set("head", 1); // layer 0 is here: painted before set returns
      expect(heatmapContent.mock.calls.length).toBe(before + 1);
      expect(root.dataset.attnvizReady).toBe("true");
      expect(root.querySelector(".attnviz-heatmap-title")!.textContent).toBe("Layer 0, head 1");
      model.set("layer", 1); // not here yet: "Loading…" until it comes
      expect(status.textContent).toMatch(/Loading layer 1/);
      await settle();
      expect(root.dataset.attnvizReady).toBe("true");
      observer.disconnect();
      expect(seen.filter((text) => text.startsWith("Loading"))).toEqual(["Loading layer 1\u2026"]);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("moves the overview's focus box on a head switch, and shows overlays only with something on them", async () => {
    const { root, model } = mount();
    await settle();
    const box = root.querySelector<HTMLElement>(".attnviz-overview-focus")!;
    const overlays = Array.from(root.querySelectorAll<HTMLCanvasElement>("canvas.attnviz-overlay"));
    const layout = JSON.parse(root.querySelector<HTMLCanvasElement>("canvas.attnviz-overview")!.dataset.layout!);
    expect(box.hidden).toBe(false);
    expect([box.style.left, box.style.top, box.style.width]).toEqual([`${layout.left - 2}px`, `${layout.top - 2}px`, `${layout.thumb + 4}px`]);
    expect(overlays.map((o) => o.hidden)).toEqual([true, true]); // nothing selected: no canvas to commit
    model.set("head", 1);
    expect(box.style.left).toBe(`${layout.left + layout.thumb + layout.gap - 2}px`);
    move(root.querySelectorAll(".attnviz-token")[2]);
    expect(overlays.map((o) => o.hidden)).toEqual([false, false]); // the query's row on both
  });

  it("takes aggregates, labels and the rollout message from Python's meta", async () => {
    const el = document.createElement("div");
    document.body.appendChild(el);
    const base = traits(4, 2, 2);
    const meta = {
      ...(base.meta as object),
      has_rollout: false,
      rollout_problem: "rollout needs every layer from layer 0 on",
      vocabulary: {
        aggregates: [
          { name: "mean", label: "avg", title: "layer {layer}, average over heads", description: "average over heads" },
          { name: "rollout", label: "roll", title: "rollout through layer {layer}", description: "rollout" },
        ],
        color_scales: ["sqrt", "log"],
        log_decades: 2,
        special_token_pattern: "^t1$",
      },
    };
    const overview = new Uint8Array(2 * 4 * 4 * 4).fill(100);
    const scale = new Float32Array(2 * 4).fill(0.5);
    const state = {
      ...base,
      meta,
      special: [],
      key_special: [],
      overview: new DataView(overview.buffer),
      overview_shape: [2, 4, 4, 4],
      overview_scale: new DataView(scale.buffer),
      head: "mean",
      layers: layers(2, 2, 4),
    };
    const { model } = mountStandalone(el, state);
    await settle();
    const root = el.querySelector<HTMLElement>(".attnviz-root")!;
    expect(root.querySelector(".attnviz-heatmap-title")!.textContent).toBe("Layer 0, average over heads");
    const head = root.querySelector<HTMLSelectElement>(".attnviz-head-select")!;
    expect(Array.from(head.options).map((o) => o.value)).toEqual(["0", "1", "mean", "rollout"]);
    const rollout = head.options[3];
    expect([rollout.disabled, rollout.title]).toEqual([true, "rollout needs every layer from layer 0 on"]);
    const scales = Array.from(root.querySelectorAll<HTMLButtonElement>(".attnviz-segmented button[data-value]"));
    expect(scales.map((b) => b.dataset.value)).toEqual(["sqrt", "log", "from", "to"]);
    // Python sent no special flags: the vocabulary's pattern decides ("t1" here, not [CLS])
    const special = Array.from(root.querySelectorAll(".attnviz-token")).map((t) => t.classList.contains("attnviz-special"));
    expect(special).toEqual([false, true, false, false]);
    expect(model.get("head")).toBe("mean");
  });
});

describe("app helpers", () => {
  it("names heads and scales", () => {
    const v = FALLBACK_VOCABULARY;
    expect(headName(3, v)).toBe("head 3");
    expect(headName("mean", v)).toBe("mean over heads");
    expect(headName("rollout", v)).toBe("attention rollout");
    expect(headTitle(2, 3, v)).toBe("Layer 2, head 3");
    expect(headTitle(2, "rollout", v)).toBe("Rollout through layer 2");
    const python = readVocabulary({ aggregates: [{ name: "mean", label: "m", title: "layer {layer}, average", description: "average" }] });
    expect(headTitle(1, "mean", python)).toBe("Layer 1, average");
    expect(headName("mean", python)).toBe("average");
    expect(scaleCaption({ colorScale: "log", rowNormalize: true })).toBe("log, row max = 1");
  });

  it("knows which heads exist", () => {
    const meta = { num_heads: 4, has_rollout: false } as Parameters<typeof headAvailable>[1];
    expect([headAvailable(3, meta), headAvailable(4, meta), headAvailable("mean", meta), headAvailable("rollout", meta)]).toEqual([
      true,
      false,
      true,
      false,
    ]);
  });

  it("detects cross-attention by kind or by differing keys", () => {
    expect(isCross({ meta: null, tokens: ["a"], keyTokens: ["a"] })).toBe(false);
    expect(isCross({ meta: null, tokens: ["a"], keyTokens: ["b"] })).toBe(true);
  });
});
