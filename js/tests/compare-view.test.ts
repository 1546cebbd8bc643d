// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { renderComparison } from "../src/compare-view";
import { SideModel } from "../src/compare-model";
import { decodeAlignment } from "../src/compare-diff";
import widget from "../src/widget";
import { encodeFloat16Array } from "../src/float16";
import { FakeModel, traits } from "./fake-model";

/** Answer every layer request as Python would: side A's cells 0.25, side B's 0.5 (head 1). */
function answerLayers(model: FakeModel): void {
  for (const request of model.sent.filter((m) => m.what === "layer")) {
    const q = request.side === "a" ? 4 : 5;
    const values = new Float32Array(2 * q * q).fill(request.side === "a" ? 0.25 : 0.5);
    const halves = encodeFloat16Array(values);
    model.emit(
      "msg:custom",
      { type: "layer", id: request.id, version: 1, layer: request.layer, dtype: "float16", shape: [2, q, q], side: request.side },
      [new DataView(halves.buffer)],
    );
  }
}

/** A comparison of 4 tokens (A) with 5 (B: one inserted at 3), 2 layers × 2 heads, as comparison/view.py sends it. */
function comparisonModel(): FakeModel {
  const values: Record<string, unknown> = {
    view_kind: "comparison",
    status: "ready",
    error: "",
    layer: 0,
    head: 1,
    token_locked: false,
    direction: "from",
    color_scale: "sqrt",
    row_normalize: false,
    hide_special: false,
    section: "",
    metric: "js",
    compare_meta: {
      names: ["A (good)", "B (not good)"],
      mode: "align",
      layer_pairs: [[0, 0], [1, 1]],
      num_heads: 2,
      metrics: ["js", "tv"],
      metric_names: ["Jensen–Shannon divergence (bits)", "total-variation distance"],
      query_labels: ["[CLS]", "t1", "t2", "+x", "[SEP]"],
      key_labels: ["[CLS]", "t1", "t2", "+x", "[SEP]"],
    },
    align_queries: new DataView(new Int32Array([0, 1, 2, -1, 3, 0, 1, 2, 3, 4]).buffer),
    align_keys: new DataView(new Int32Array([0, 1, 2, -1, 3, 0, 1, 2, 3, 4]).buffer),
    scores: new DataView(new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]).buffer),
  };
  for (const [side, q] of [["a", 4], ["b", 5]] as const) {
    const t = traits(q, 2, 2);
    for (const name of ["data_version", "tokens", "key_tokens", "special", "key_special", "meta", "prediction",
      "overview", "overview_shape", "overview_scale"]) values[`${side}_${name}`] = t[name];
    values[`${side}_selected_token`] = null;
  }
  return new FakeModel(values);
}

let cleanup: (() => void) | null = null;
afterEach(() => {
  cleanup?.();
  cleanup = null;
  document.body.innerHTML = "";
});

describe("side models", () => {
  it("read and write their own prefixed traits and share the rest", () => {
    const model = comparisonModel();
    const queries = decodeAlignment(new Uint8Array((model.get("align_queries") as DataView).buffer));
    const b = new SideModel(model, "b", queries, [[0, 3], [1, 5]]);
    expect(b.get("tokens")).toHaveLength(5);
    expect(b.get("layer")).toBe(3); // A's layer 0 is B's layer 3
    b.set("layer", 5);
    expect(model.get("layer")).toBe(1);
    b.set("selected_token", 4); // B's [SEP] is A's token 3
    expect(model.get("b_selected_token")).toBe(4);
    expect(model.get("a_selected_token")).toBe(3);
    b.set("selected_token", 3); // the inserted token has no partner
    expect(model.get("a_selected_token")).toBeNull();
  });

  it("tag requests with their side and hear only their own replies", () => {
    const model = comparisonModel();
    const queries = decodeAlignment(new Uint8Array((model.get("align_queries") as DataView).buffer));
    const a = new SideModel(model, "a", queries, [[0, 0]]);
    const heard: unknown[] = [];
    const listener = (msg: unknown) => heard.push(msg);
    a.on("msg:custom", listener);
    a.send({ type: "request", what: "layer" });
    expect(model.sent[0]).toEqual({ type: "request", what: "layer", side: "a" });
    model.emit("msg:custom", { side: "b", id: 1 }, []);
    model.emit("msg:custom", { side: "a", id: 2 }, []);
    expect(heard).toEqual([{ side: "a", id: 2 }]);
    a.off("msg:custom", listener);
    expect(model.listenerCount()).toBe(0);
  });
});

describe("the comparison view (happy-dom)", () => {
  it("shows both sides with the single-run views, the score grid, and cleans up", () => {
    const model = comparisonModel();
    const host = document.createElement("div");
    document.body.append(host);
    cleanup = renderComparison(model, host, { timeoutMs: 50 });
    expect(host.querySelector(".attnviz-compare-a")).not.toBeNull();
    expect(host.querySelector(".attnviz-compare-b")).not.toBeNull();
    expect(host.querySelector(".attnviz-compare-caption")!.textContent).toContain(
      "red = more in B (not good), blue = more in A (good)",
    );
    const grid = host.querySelector("canvas.attnviz-compare-grid") as HTMLCanvasElement;
    expect([grid.width, grid.height]).toEqual([2, 2]);
    expect(host.querySelector(".attnviz-compare-diff .attnviz-compare-labels")!.textContent).toBe(
      "rows: [CLS] t1 t2 +x [SEP] (columns alike)",
    );
    // both sides asked for layer 0 of their own data, each with its side
    const layerRequests = model.sent.filter((m) => m.what === "layer");
    expect(layerRequests.every((m) => m.layer === 0)).toBe(true);
    expect([...new Set(layerRequests.map((m) => m.side))].sort()).toEqual(["a", "b"]);
    cleanup();
    cleanup = null;
    expect(host.children.length).toBe(0);
    expect(model.listenerCount()).toBe(0);
  });

  it("paints B − A of the focused head on the aligned grid once both sides' layers arrive", async () => {
    const model = comparisonModel();
    const host = document.createElement("div");
    document.body.append(host);
    cleanup = renderComparison(model, host, { timeoutMs: 1000 });
    answerLayers(model);
    const canvas = host.querySelector(".attnviz-compare-diff canvas") as HTMLCanvasElement;
    for (let i = 0; i < 50 && !canvas.dataset.attnvizReady; i++) await new Promise((r) => setTimeout(r, 10));
    expect(canvas.dataset.attnvizReady).toBe("0|1");
    expect([canvas.width, canvas.height]).toEqual([5, 5]); // the aligned grid: A's 4 tokens + the gap
    expect(host.querySelector(".attnviz-compare-caption")!.textContent).toContain("scale ±0.25");
    expect(host.querySelector(".attnviz-compare-diff .attnviz-compare-title")!.textContent).toBe("B − A, layer 0, head 1");
  });

  it("focuses the clicked head of the score grid on both sides", () => {
    const model = comparisonModel();
    const host = document.createElement("div");
    document.body.append(host);
    cleanup = renderComparison(model, host, { timeoutMs: 50 });
    const grid = host.querySelector("canvas.attnviz-compare-grid") as HTMLCanvasElement;
    grid.getBoundingClientRect = () => ({ left: 0, top: 0, width: 44, height: 44, right: 44, bottom: 44, x: 0, y: 0, toJSON: () => ({}) });
    grid.dispatchEvent(new MouseEvent("click", { clientX: 30, clientY: 30 }));
    expect(model.get("layer")).toBe(1);
    expect(model.get("head")).toBe(1);
    expect(model.saves).toBeGreaterThan(0);
    const focus = host.querySelector(".attnviz-compare-focus") as HTMLElement;
    expect([focus.style.left, focus.style.top, focus.style.display]).toEqual(["22px", "22px", "block"]);
    const tv = [...host.querySelectorAll(".attnviz-compare-metrics button")].find((b) => b.textContent === "TV distance")!;
    (tv as HTMLButtonElement).click();
    expect(model.get("metric")).toBe("tv");
    expect(tv.getAttribute("aria-pressed")).toBe("true");
    expect(host.querySelector(".attnviz-compare-scores .attnviz-compare-title")!.textContent).toContain("total-variation");
  });

  it("is what the bundle's render draws for a comparison model", () => {
    const model = comparisonModel();
    const host = document.createElement("div");
    document.body.append(host);
    cleanup = widget.render({ model, el: host });
    expect(host.querySelector(".attnviz-compare")).not.toBeNull();
  });
});
