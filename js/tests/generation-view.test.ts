// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { decodeFloat16, encodeFloat16Array } from "../src/float16";
import { RequestError } from "../src/protocol";
import { StepRowsLoader, STEP_ROWS_CACHE, checkedRows, type StepRows } from "../src/steprows";
import { VIRIDIS } from "../src/colormap";
import { cellMappers, gridImage, poolStrip, strongestKey, stripWidth } from "../src/stepgrid";
import { LocalModel } from "../src/standalone";
import type { Stack } from "../src/types";
import { mountStandalone } from "../src/widget";
import { GENERATED, PROMPT, generationState, layerStack } from "./generation-fixture";

afterEach(() => document.body.replaceChildren());

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

/** A `[layers, heads, K]` stack from nested arrays. */
function stack(values: number[][][]): Stack {
  const n = values.length;
  const rows = values[0].length;
  const cols = values[0][0].length;
  return { n, rows, cols, data: Float32Array.from(values.flat(2)) };
}

describe("the layer \u00d7 head grid of one row", () => {
  it("max-pools a row into the strip's pixels", () => {
    const row = Float32Array.from([9, 0.1, 0.4, 0.2, 0.3, 0.9, 0, 0.5]); // offset 1: 7 keys
    expect(Array.from(poolStrip(row, 1, 7, 3))).toEqual([0.4, 0.3, 0.9].map(Math.fround)); // keys [0,2) [2,4) [4,7)
    expect(Array.from(poolStrip(row, 1, 2, 4))).toEqual([0.1, 0.1, 0.4, 0.4].map(Math.fround)); // fewer keys: repeated
    expect(Array.from(poolStrip(row, 0, 0, 2))).toEqual([0, 0]);
    expect([stripWidth(3), stripWidth(20), stripWidth(5000)]).toEqual([32, 40, 72]);
  });

  it("draws every (layer, head) strip on one colour scale, or each on its own with row normalisation", () => {
    const rows = stack([
      [[1, 0], [0.5, 0.5]],
      [[0, 0.25], [0, 0]],
    ]);
    const image = gridImage(rows, cellMappers(rows, "linear", false, 4), 2, 1, 1);
    expect([image.width, image.height]).toEqual([5, 3]); // 2 heads × 2 px + 1 gap, 2 layers × 1 px + 1 gap
    const pixel = (x: number, y: number) => Array.from(image.data.slice(4 * (y * image.width + x), 4 * (y * image.width + x) + 4));
    const color = (index: number) => [...VIRIDIS.slice(4 * index, 4 * index + 3), 255];
    expect(pixel(0, 0)).toEqual(color(255)); // layer 0, head 0, key 0: the maximum
    expect(pixel(1, 0)).toEqual(color(0));
    expect(pixel(3, 0)).toEqual(color(128)); // 0.5 of the grid's maximum
    expect(pixel(2, 0)).toEqual([0, 0, 0, 0]); // the gap
    expect(pixel(1, 2)).toEqual(color(64)); // layer 1, head 0, key 1: 0.25
    const own = gridImage(rows, cellMappers(rows, "linear", true, 4), 2, 1, 1);
    expect(Array.from(own.data.slice(4 * (2 * 5 + 1), 4 * (2 * 5 + 1) + 4))).toEqual(color(255)); // its own maximum
    expect(Array.from(own.data.slice(4 * (2 * 5 + 3), 4 * (2 * 5 + 3) + 4))).toEqual(color(0)); // an all-zero cell
  });

  it("names the strongest key of a cell", () => {
    const rows = stack([[[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]]]);
    expect(strongestKey(rows, 0, 0)).toEqual({ key: 1, value: Math.fround(0.7) });
    expect(strongestKey(rows, 0, 1)).toEqual({ key: 0, value: Math.fround(0.6) });
  });
});

describe("loading a step's rows", () => {
  const rows = stack([[[1]]]);

  function loader() {
    const asked: { query: number; signal: AbortSignal; resolve: (s: Stack) => void; reject: (e: Error) => void }[] = [];
    const landed: StepRows[] = [];
    const l = new StepRowsLoader(
      (query, signal) =>
        new Promise<Stack>((resolve, reject) => {
          asked.push({ query, signal, resolve, reject });
        }),
      (r) => landed.push(r),
    );
    return { l, asked, landed };
  }

  it("asks once per step and data version, and answers a second time from its cache", async () => {
    const { l, asked, landed } = loader();
    expect(l.load("1|3", 1, 3)).toEqual({ key: "1|3", rows: null, error: null });
    asked[0].resolve(rows);
    await settle();
    expect(landed).toEqual([{ key: "1|3", rows, error: null }]);
    expect(l.load("1|3", 1, 3).rows).toBe(rows); // at once, no request
    expect(asked).toHaveLength(1);
    l.load("2|3", 2, 3); // a new data version forgets the old rows
    expect(asked).toHaveLength(2);
    expect(l.load("", 2, null)).toEqual({ key: "", rows: null, error: null });
    expect(STEP_ROWS_CACHE).toBeGreaterThan(1);
  });

  it("refuses a reply that does not fit the data", () => {
    const fits = stack([[[0.5, 0.5]], [[1, 0]]]);
    expect(checkedRows(fits, 2, 1, 2)).toBe(fits);
    expect(() => checkedRows(fits, 2, 2, 2)).toThrow("the rows reply is 2\u00d71\u00d72, the data has 2 layers \u00d7 2 heads \u00d7 2 keys");
  });

  it("cancels the previous step's request and reports failures, not cancellations", async () => {
    const { l, asked, landed } = loader();
    l.load("1|3", 1, 3);
    l.load("1|4", 1, 4);
    expect(asked[0].signal.aborted).toBe(true);
    asked[0].reject(new RequestError("cancelled", "rows was cancelled"));
    asked[1].reject(new RequestError("remote", "query 4 is out of range"));
    await settle();
    expect(landed).toEqual([{ key: "1|4", rows: null, error: "query 4 is out of range" }]);
    l.dispose();
  });
});

describe("the widget with a generation (offline page, happy-dom)", () => {
  function mount(state: Record<string, unknown>) {
    const el = document.createElement("div");
    document.body.appendChild(el);
    const { model, destroy } = mountStandalone(el, state as never);
    const root = el.querySelector<HTMLElement>(".attnviz-root")!;
    return { root, model, destroy };
  }

  it("marks generated tokens and shows the step panel", async () => {
    const { root } = mount(generationState());
    await settle();
    const panel = root.querySelector<HTMLElement>(".attnviz-generation")!;
    expect(panel.hidden).toBe(false);
    expect(root.querySelectorAll(".attnviz-token.attnviz-generated")).toHaveLength(GENERATED.length);
    expect(root.querySelectorAll(".attnviz-generated-boundary")).toHaveLength(1);
    expect(root.querySelector(".attnviz-step-summary")!.textContent).toBe("4 tokens generated \u00b7 stopped at end-of-sequence");
    expect(root.querySelector<HTMLElement>(".attnviz-step-grid-host")!.hidden).toBe(true); // no step yet
  });

  it("writes the step and locks the row that chose its token; the grid follows", async () => {
    const { root, model } = mount(generationState());
    await settle();
    const slider = root.querySelector<HTMLInputElement>(".attnviz-step-slider")!;
    slider.value = "2";
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    expect([model.get("step"), model.get("selected_token"), model.get("token_locked")]).toEqual([2, PROMPT.length + 1, true]);
    expect([root.dataset.step, root.dataset.selectedToken, root.dataset.locked]).toEqual(["2", "5", "true"]);
    expect(root.querySelector(".attnviz-step-token")!.getAttribute("data-index")).toBe("6"); // the token itself
    expect(root.querySelector(".attnviz-token.attnviz-locked")!.getAttribute("data-index")).toBe("5"); // where it looked from
    const grid = root.querySelector<HTMLCanvasElement>(".attnviz-step-grid")!;
    expect(root.querySelector(".attnviz-step-grid-caption")!.textContent).toMatch(/Loading the row of query 5/);
    expect(grid.classList.contains("attnviz-stale")).toBe(true);
    await settle();
    expect([grid.dataset.query, grid.dataset.cells]).toEqual(["5", "2x2"]);
    expect(grid.classList.contains("attnviz-stale")).toBe(false);
    expect(root.querySelector(".attnviz-step-grid-caption")!.textContent).toBe("row of \u201c <b>film</b>\u201d (query 5), every layer \u00d7 head");
    // the token view shades the keys by what row 5 attends to
    const shaded = Array.from(root.querySelectorAll<HTMLElement>(".attnviz-token"), (t) => t.style.backgroundColor !== "");
    expect(shaded.slice(0, 6).some(Boolean)).toBe(true);
    expect(shaded.slice(6)).toEqual([false, false]); // causal: later tokens get nothing
  });

  it("follows a step set on the other side and drops a reply for a step no longer shown", async () => {
    const { root, model } = mount(generationState());
    await settle();
    model.set("step", 0);
    model.set("step", 3); // before the row of step 0 arrived
    await settle();
    const grid = root.querySelector<HTMLCanvasElement>(".attnviz-step-grid")!;
    expect(grid.dataset.query).toBe(String(PROMPT.length + 2));
    expect(root.querySelector(".attnviz-step-end")!.textContent).toBe("stopped at end-of-sequence");
  });

  it("shows the newest token as pending while streaming, then as a token with its row", async () => {
    const { root, model } = mount(generationState(3, { pending: 1, extra: { step: 2 } }));
    await settle();
    const pending = root.querySelector<HTMLElement>(".attnviz-pending")!;
    expect(pending.textContent).toBe("\u21b5");
    expect(pending.classList.contains("attnviz-step-token")).toBe(true); // step 2 is the newest token
    expect(root.querySelector(".attnviz-step-summary")!.textContent).toBe("generating\u2026 3 tokens so far");
    // the next data set: every trait replaced, data_version + 1
    model.replaceData({ ...generationState(3), data_version: 2 });
    expect(root.dataset.version).toBe("2");
    expect(root.querySelector(".attnviz-pending")).toBeNull();
    expect(root.querySelectorAll(".attnviz-token")).toHaveLength(PROMPT.length + 3);
    await settle();
    expect(root.dataset.attnvizReady).toBe("true"); // the new layers answer the new version's requests
  });

  it("ignores a malformed generation and says why", async () => {
    const state = generationState();
    const meta = { ...(state.meta as object), generation: { prompt_tokens: "x", steps: [] } };
    const { root } = mount({ ...state, meta });
    await settle();
    expect(root.querySelector<HTMLElement>(".attnviz-generation")!.hidden).toBe(true);
    expect(root.querySelector(".attnviz-issues")!.textContent).toMatch(/generation view off: .*prompt_tokens/);
    expect(root.querySelectorAll(".attnviz-generated")).toHaveLength(0);
  });

  it("clicking a grid cell focuses that layer and head", async () => {
    const { root, model } = mount(generationState(4, { extra: { step: 1 } }));
    await settle();
    const grid = root.querySelector<HTMLCanvasElement>(".attnviz-step-grid")!;
    grid.getBoundingClientRect = () => ({ left: 0, top: 0, right: 200, bottom: 100, width: 200, height: 100, x: 0, y: 0, toJSON: () => ({}) });
    // 8 keys: strips of 32 px; cell (layer 1, head 1) at left 26 + 1 × (32 + 2) + 3, top 14 + 1 × (10 + 2) + 3
    grid.dispatchEvent(new MouseEvent("click", { clientX: 26 + 34 + 3, clientY: 14 + 12 + 3, bubbles: true }));
    expect([model.get("layer"), model.get("head")]).toEqual([1, 1]);
  });
});

describe("the step through the anywidget adapter", () => {
  it("writes step, selected_token and token_locked in one save, and asks Python for the rows", async () => {
    const { FakeModel } = await import("./fake-model");
    const { default: widget } = await import("../src/widget");
    const state = generationState();
    const model = new FakeModel(state);
    const el = document.createElement("div");
    document.body.appendChild(el);
    const cleanup = widget.render({ model, el });
    const saves = model.saves;
    el.querySelector<HTMLButtonElement>(".attnviz-step-next")!.click();
    expect(model.saves).toBe(saves + 1);
    expect([model.get("step"), model.get("selected_token"), model.get("token_locked")]).toEqual([0, PROMPT.length - 1, true]);
    const rows = model.sent.filter((m) => m.what === "rows");
    expect(rows).toEqual([expect.objectContaining({ type: "request", what: "rows", query: PROMPT.length - 1, version: 1 })]);
    cleanup();
  });
});

describe("LocalModel's rows", () => {
  it("answers one query of every kept layer and head from the embedded layers", async () => {
    const state = generationState();
    const model = new LocalModel(state as never);
    const reply = await new Promise<[any, DataView[]]>((resolve) => {
      model.on("msg:custom", (msg: any, buffers: DataView[]) => resolve([msg, buffers]));
      model.send({ type: "request", id: "a", version: 1, what: "rows", query: 5 });
    });
    const q = PROMPT.length + GENERATED.length;
    expect(reply[0]).toEqual({ type: "rows", id: "a", version: 1, query: 5, dtype: "float16", shape: [2, 2, q] });
    const values = decodeFloat16(new Uint16Array(reply[1][0].buffer, reply[1][0].byteOffset, reply[1][0].byteLength / 2));
    for (const layer of [0, 1]) {
      const expected = decodeFloat16(encodeFloat16Array(layerStack(2, q, layer)));
      for (let h = 0; h < 2; h++) {
        expect(Array.from(values.subarray((layer * 2 + h) * q, (layer * 2 + h + 1) * q))).toEqual(Array.from(expected.subarray((h * q + 5) * q, (h * q + 6) * q)));
      }
    }
  });
});
