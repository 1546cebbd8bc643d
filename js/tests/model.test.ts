import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { encodeFloat16Array } from "../src/float16";
import { decodeStack, readHead, readMeta, readOverview, readPrediction } from "../src/decode";
import { ModelAdapter, RequestError } from "../src/model";
import { FALLBACK_VOCABULARY } from "../src/vocabulary";
import { FakeModel, halfView, traits } from "./fake-model";

describe("reading traits", () => {
  it("decodes the overview from DataViews at unaligned offsets", () => {
    const bytes = new Uint8Array(1 * 5 * 2 * 3).map((_, i) => i);
    const buffer = new ArrayBuffer(bytes.length + 7);
    new Uint8Array(buffer, 7).set(bytes);
    const scaleBytes = new Uint8Array(new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5]).buffer);
    const scaleBuffer = new ArrayBuffer(scaleBytes.length + 2);
    new Uint8Array(scaleBuffer, 2).set(scaleBytes);
    const overview = readOverview(new DataView(buffer, 7), [1, 5, 2, 3], new DataView(scaleBuffer, 2));
    expect(overview).not.toBeNull();
    expect(Array.from(overview!.data)).toEqual(Array.from(bytes));
    expect(overview!.scale[4]).toBeCloseTo(0.5);
  });

  it("rejects overviews whose size does not match the shape", () => {
    expect(() => readOverview(new DataView(new ArrayBuffer(10)), [1, 5, 2, 3], null)).toThrow(/do not match/);
    expect(() => readOverview(new DataView(new ArrayBuffer(30)), [1, 5, 2], null)).toThrow(/overview_shape/);
    expect(readOverview(new DataView(new ArrayBuffer(0)), [], null)).toBeNull();
  });

  it("validates meta, prediction and head with defaults", () => {
    expect(readMeta({}, 3, 3)).toBeNull();
    const meta = readMeta({ num_layers: 2, num_heads: 4 }, 5, 6)!;
    expect(meta.layer_indices).toEqual([0, 1]);
    expect([meta.num_queries, meta.num_keys, meta.kind, meta.causal]).toEqual([5, 6, "self", false]);
    expect(readPrediction({ labels: ["a", "b"], probabilities: [0.3], label: "a" })).toBeNull();
    expect(readPrediction({ labels: ["a"], probabilities: [1], label: "a" })).toEqual({ labels: ["a"], probabilities: [1], label: "a" });
    const aggregates = FALLBACK_VOCABULARY.aggregates;
    expect(readHead(3, 12, aggregates)).toBe(3);
    expect(readHead(12, 12, aggregates)).toBe(0);
    expect(readHead("rollout", 12, aggregates)).toBe("rollout");
    expect(readHead("bogus", 12, aggregates)).toBe(0);
    expect(readHead("median", 12, [...aggregates, { name: "median", label: "med", title: "", description: "" }])).toBe("median");
  });

  it("reads the vocabulary and the rollout problem Python sends in meta", () => {
    const meta = readMeta(
      {
        num_layers: 1,
        num_heads: 2,
        has_rollout: false,
        rollout_problem: "rollout needs every layer from layer 0 on",
        vocabulary: {
          aggregates: [{ name: "mean", label: "avg", title: "layer {layer}, mean", description: "mean over heads" }],
          color_scales: ["log", "linear", "cubic"],
          log_decades: 4,
          special_token_pattern: "^<x>$",
        },
      },
      2,
      2,
    )!;
    expect(meta.has_rollout).toBe(false);
    expect(meta.rollout_problem).toBe("rollout needs every layer from layer 0 on");
    expect(meta.vocabulary.aggregates.map((a) => a.label)).toEqual(["avg"]);
    expect(meta.vocabulary.colorScales).toEqual(["log", "linear"]); // a scale JS cannot draw is dropped
    expect(meta.vocabulary.logDecades).toBe(4);
    expect(meta.vocabulary.specialToken.test("<X>")).toBe(true);
    expect([meta.tiled, meta.thumbnail_problems]).toEqual([false, {}]);
    const long = readMeta({ num_layers: 1, tiled: true, thumbnail_problems: { mean: "not pooled at 32,768 tokens" } }, 2, 2)!;
    expect([long.tiled, long.thumbnail_problems]).toEqual([true, { mean: "not pooled at 32,768 tokens" }]);
    // a payload without them decodes with the fallbacks; a broken pattern keeps the fallback
    const old = readMeta({ num_layers: 1, vocabulary: { special_token_pattern: "(" } }, 2, 2)!;
    expect([old.has_rollout, old.rollout_problem]).toEqual([true, null]);
    expect(old.vocabulary.specialToken).toBe(FALLBACK_VOCABULARY.specialToken);
    expect(old.vocabulary.aggregates).toBe(FALLBACK_VOCABULARY.aggregates);
  });

  it("reads a whole data set and the view state", () => {
    const model = new FakeModel(traits(5, 2, 3, { layer: 1, head: "max", selected_token: 2 }));
    const adapter = new ModelAdapter(model);
    const data = adapter.readData();
    expect(data.tokens).toHaveLength(5);
    expect(data.overview?.columns).toBe(6);
    expect(data.issues).toEqual([]);
    const view = adapter.readView(data.meta);
    expect(view).toMatchObject({ layer: 1, head: "max", selectedToken: 2, colorScale: "sqrt", section: "encoder" });
  });

  it("reports a broken overview as an issue instead of failing", () => {
    const model = new FakeModel(traits(5, 2, 3, { overview_shape: [9, 9, 9, 9] }));
    const data = new ModelAdapter(model).readData();
    expect(data.overview).toBeNull();
    expect(data.issues[0]).toMatch(/overview ignored/);
  });
});

describe("writing view state", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("writes only changed values, one save per change", () => {
    const model = new FakeModel(traits(4));
    const adapter = new ModelAdapter(model);
    adapter.setView({ layer: 0, head: 0 });
    expect(model.saves).toBe(0);
    adapter.setView({ layer: 1, head: "mean" });
    expect(model.saves).toBe(1);
    expect([model.get("layer"), model.get("head")]).toEqual([1, "mean"]);
  });

  it("coalesces deferred hover changes", () => {
    const model = new FakeModel(traits(4));
    const adapter = new ModelAdapter(model, { syncDelayMs: 50 });
    adapter.setView({ selectedToken: 1 }, { defer: true });
    adapter.setView({ selectedToken: 2 }, { defer: true });
    adapter.setView({ selectedToken: 3 }, { defer: true });
    expect(model.saves).toBe(0);
    vi.advanceTimersByTime(60);
    expect(model.saves).toBe(1);
    expect(model.get("selected_token")).toBe(3);
  });

  it("sends deferred changes with the next immediate one", () => {
    const model = new FakeModel(traits(4));
    const adapter = new ModelAdapter(model);
    adapter.setView({ selectedToken: 2 }, { defer: true });
    adapter.setView({ tokenLocked: true });
    expect(model.saves).toBe(1);
    expect([model.get("selected_token"), model.get("token_locked")]).toEqual([2, true]);
  });

  it("reports changes from Python but not its own writes", () => {
    const model = new FakeModel(traits(4));
    const adapter = new ModelAdapter(model);
    const seen: unknown[] = [];
    adapter.onView((patch) => seen.push(patch), () => null);
    adapter.setView({ colorScale: "log" });
    expect(seen).toEqual([]);
    model.pythonSets("color_scale", "linear");
    model.pythonSets("head", "rollout");
    expect(seen).toEqual([{ colorScale: "linear" }, { head: "rollout" }]);
  });

  it("lets Python's value win over an unsent hover", () => {
    const model = new FakeModel(traits(4));
    const adapter = new ModelAdapter(model, { syncDelayMs: 50 });
    adapter.onView(() => {}, () => null);
    adapter.setView({ selectedToken: 1 }, { defer: true });
    model.pythonSets("selected_token", 3);
    vi.advanceTimersByTime(60);
    expect(model.get("selected_token")).toBe(3);
  });
});

describe("requests", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const answer = (model: FakeModel, index: number, values: number[], shape: number[], offset = 6): void => {
    const msg = model.sent[index];
    model.emit(
      "msg:custom",
      { type: msg.what, id: msg.id, version: msg.version, layer: msg.layer, dtype: "float16", shape },
      [halfView(encodeFloat16Array(values), offset)],
    );
  };

  it("sends a request with id and version and decodes the float16 answer", async () => {
    const model = new FakeModel(traits(2, 1, 2));
    const adapter = new ModelAdapter(model);
    const promise = adapter.requestLayer(0);
    expect(model.sent[0]).toMatchObject({ type: "request", version: 1, what: "layer", layer: 0 });
    expect(typeof model.sent[0].id).toBe("string");
    answer(model, 0, [1, 0, 0.5, 0.5, 0.25, 0.75, 0, 1], [2, 2, 2], 3); // odd offset: copied
    const stack = await promise;
    expect([stack.n, stack.rows, stack.cols]).toEqual([2, 2, 2]);
    expect(Array.from(stack.data)).toEqual([1, 0, 0.5, 0.5, 0.25, 0.75, 0, 1]);
  });

  it("gives the matrix sent with the data, only for its layer and head", () => {
    const values = [1, 0, 0.5, 0.5];
    const model = new FakeModel(
      traits(2, 2, 2, { first_matrix_of: { layer: 1, head: "mean" }, first_matrix: halfView(encodeFloat16Array(values), 5) }),
    );
    const adapter = new ModelAdapter(model);
    const matrix = adapter.firstMatrix(1, "mean");
    expect([matrix?.rows, matrix?.cols]).toEqual([2, 2]);
    expect(Array.from(matrix!.data)).toEqual(values);
    expect(adapter.firstMatrix(1, 0)).toBeNull();
    expect(adapter.firstMatrix(0, "mean")).toBeNull();
    expect(model.sent).toHaveLength(0);
  });

  it("ignores a sent matrix that does not fit the tokens", () => {
    const model = new FakeModel(
      traits(2, 2, 2, { first_matrix_of: { layer: 0, head: 0 }, first_matrix: new DataView(new ArrayBuffer(6)) }),
    );
    expect(new ModelAdapter(model).firstMatrix(0, 0)).toBeNull();
  });

  it("accepts ArrayBuffer buffers too", () => {
    const stack = decodeStack({ dtype: "float16", shape: [1, 1, 2] }, [encodeFloat16Array([0.5, 2]).buffer]);
    expect(Array.from(stack.data)).toEqual([0.5, 2]);
  });

  it("caches layers per data version", async () => {
    const model = new FakeModel(traits(2, 2, 1));
    const adapter = new ModelAdapter(model);
    const first = adapter.requestLayer(1);
    answer(model, 0, [1, 0, 0, 1], [1, 2, 2]);
    await first;
    expect(adapter.requestLayer(1)).toBe(first);
    expect(model.sent).toHaveLength(1);
    model.pythonSets("data_version", 2);
    void adapter.requestLayer(1);
    expect(model.sent).toHaveLength(2);
    expect(model.sent[1].version).toBe(2);
  });

  it("tells a layer that has arrived without asking, for this data version only", async () => {
    const model = new FakeModel(traits(2, 2, 1));
    const adapter = new ModelAdapter(model);
    expect(adapter.loadedLayer(1)).toBeNull();
    const first = adapter.requestLayer(1);
    expect(adapter.loadedLayer(1)).toBeNull(); // asked, not answered
    answer(model, 0, [1, 0, 0, 1], [1, 2, 2]);
    const stack = await first;
    expect(adapter.loadedLayer(1)).toBe(stack);
    expect(adapter.loadedRollout()).toBeNull();
    expect(model.sent).toHaveLength(1);
    model.pythonSets("data_version", 2);
    expect(adapter.loadedLayer(1)).toBeNull();
  });

  it("drops the least recently used layers beyond the cache size", () => {
    const model = new FakeModel(traits(2, 4, 1));
    const adapter = new ModelAdapter(model, { cacheSize: 2 });
    void adapter.requestLayer(0);
    void adapter.requestLayer(1);
    void adapter.requestLayer(0); // refreshes 0
    void adapter.requestLayer(2); // evicts 1
    expect(model.sent).toHaveLength(3);
    void adapter.requestLayer(0);
    expect(model.sent).toHaveLength(3);
    void adapter.requestLayer(1);
    expect(model.sent).toHaveLength(4);
  });

  it("times out after 30 s and allows a retry", async () => {
    const model = new FakeModel(traits(2));
    const adapter = new ModelAdapter(model);
    const promise = adapter.requestLayer(0);
    const check = expect(promise).rejects.toMatchObject({ reason: "timeout" });
    vi.advanceTimersByTime(30_001);
    await check;
    void adapter.requestLayer(0);
    expect(model.sent).toHaveLength(2);
  });

  it("rejects pending requests when the data version changes, and ignores late answers", async () => {
    const model = new FakeModel(traits(2, 1, 1));
    const adapter = new ModelAdapter(model);
    const promise = adapter.requestLayer(0);
    model.pythonSets("data_version", 2);
    await expect(promise).rejects.toMatchObject({ reason: "stale" });
    expect(() => answer(model, 0, [1, 0, 0, 1], [1, 2, 2])).not.toThrow();
  });

  it("rejects answers that carry another version", async () => {
    const model = new FakeModel(traits(2, 1, 1));
    const adapter = new ModelAdapter(model);
    const promise = adapter.requestLayer(0);
    const msg = model.sent[0];
    model.emit("msg:custom", { type: "layer", id: msg.id, version: 0, dtype: "float16", shape: [1, 2, 2] }, [
      halfView(encodeFloat16Array([1, 0, 0, 1]), 0),
    ]);
    await expect(promise).rejects.toMatchObject({ reason: "stale" });
  });

  it("turns Python errors and malformed answers into RequestErrors", async () => {
    const model = new FakeModel(traits(2, 1, 1));
    const adapter = new ModelAdapter(model);
    const remote = adapter.requestLayer(0);
    model.emit("msg:custom", { type: "error", id: model.sent[0].id, version: 1, message: "layer 0 not kept" }, []);
    await expect(remote).rejects.toMatchObject({ reason: "remote", message: "layer 0 not kept" });
    const short = adapter.requestRollout();
    answer(model, 1, [1, 0, 0], [1, 2, 2]);
    await expect(short).rejects.toBeInstanceOf(RequestError);
    await expect(short).rejects.toMatchObject({ reason: "protocol" });
  });

  it("ignores messages that are not answers to its requests", () => {
    const model = new FakeModel(traits(2));
    new ModelAdapter(model);
    expect(() => model.emit("msg:custom", { type: "layer", id: "other" }, [])).not.toThrow();
    expect(() => model.emit("msg:custom", "not an object", undefined)).not.toThrow();
  });
});

describe("tile and row requests", () => {
  it("asks for a pooled block and decodes it with its geometry", async () => {
    const model = new FakeModel(traits(8, 1, 2));
    const adapter = new ModelAdapter(model);
    const promise = adapter.requestTile(0, "max", { q0: 2, q1: 8, k0: 0, k1: 3, pool: 2 });
    const msg = model.sent[0];
    expect(msg).toMatchObject({ type: "request", what: "tile", layer: 0, head: "max", q0: 2, q1: 8, k0: 0, k1: 3, pool: 2 });
    const reply = { type: "tile", id: msg.id, version: 1, layer: 0, head: "max", q0: 2, q1: 8, k0: 0, k1: 3, pool: 2, dtype: "float16" };
    model.emit("msg:custom", { ...reply, shape: [3, 2] }, [halfView(encodeFloat16Array([1, 0.5, 0.25, 0, 0.125, 1]), 2)]);
    const tile = await promise;
    expect([tile.rows, tile.cols, tile.q0, tile.pool, tile.head]).toEqual([3, 2, 2, 2, "max"]);
    expect(Array.from(tile.data)).toEqual([1, 0.5, 0.25, 0, 0.125, 1]);
    // a shape that does not fit the block is a protocol error
    const bad = adapter.requestTile(0, 0, { q0: 0, q1: 4, k0: 0, k1: 4, pool: 1 });
    const id = model.sent[1].id;
    model.emit("msg:custom", { ...reply, id, head: 0, q0: 0, q1: 4, k0: 0, k1: 4, pool: 1, shape: [2, 2] }, [
      halfView(encodeFloat16Array([1, 1, 1, 1]), 0),
    ]);
    await expect(bad).rejects.toMatchObject({ reason: "protocol" });
  });

  it("shows an out-of-range tile as an error, not a hang", async () => {
    const model = new FakeModel(traits(4));
    const adapter = new ModelAdapter(model);
    const promise = adapter.requestTile(0, 0, { q0: 0, q1: 9, k0: 0, k1: 4, pool: 1 });
    model.emit("msg:custom", { type: "error", id: model.sent[0].id, version: 1, message: "tile [0:9, 0:4] is outside the matrix" }, []);
    await expect(promise).rejects.toMatchObject({ reason: "remote", message: expect.stringMatching(/outside the matrix/) });
  });

  it("decodes a row and drops a cancelled request's late answer", async () => {
    const model = new FakeModel(traits(3));
    const adapter = new ModelAdapter(model);
    const controller = new AbortController();
    const cancelled = adapter.requestRow(0, 1, 2, controller.signal);
    controller.abort();
    await expect(cancelled).rejects.toMatchObject({ reason: "cancelled" });
    expect(adapter.channel.inFlight).toBe(0);
    const row = adapter.requestRow(0, 1, 2);
    for (const msg of model.sent) {
      const reply = { type: "row", id: msg.id, version: 1, layer: 0, head: 1, query: 2, dtype: "float16", shape: [1, 3] };
      model.emit("msg:custom", reply, [halfView(encodeFloat16Array([0.25, 0.25, 0.5]), 0)]);
    }
    expect(Array.from(await row)).toEqual([0.25, 0.25, 0.5]);
    expect(model.sent[0]).toMatchObject({ what: "row", layer: 0, head: 1, query: 2 });
  });
});

describe("dispose", () => {
  it("removes every listener and rejects open requests", async () => {
    const model = new FakeModel(traits(2));
    const adapter = new ModelAdapter(model);
    adapter.onData(() => {});
    adapter.onStatus(() => {});
    adapter.onView(() => {}, () => null);
    expect(model.listenerCount()).toBeGreaterThan(10);
    const promise = adapter.requestLayer(0);
    adapter.dispose();
    expect(model.listenerCount()).toBe(0);
    await expect(promise).rejects.toMatchObject({ reason: "disposed" });
    await expect(adapter.requestLayer(1)).rejects.toMatchObject({ reason: "disposed" });
  });
});
