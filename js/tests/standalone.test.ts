import { describe, expect, it } from "vitest";
import { encodeFloat16Array } from "../src/float16";
import { LocalModel } from "../src/standalone";

const base64 = (halves: Uint16Array): string => btoa(String.fromCharCode(...new Uint8Array(halves.buffer)));

function model() {
  return new LocalModel({
    tokens: ["a", "b"],
    meta: { num_heads: 1, layer_indices: [0, 3] },
    overview: base64(new Uint16Array([1, 2])),
    layers: { "3": base64(encodeFloat16Array([1, 0, 0.5, 0.5])) },
    rollout: encodeFloat16Array([1, 0, 0, 1, 1, 0, 0.5, 0.5]).buffer as ArrayBuffer,
  });
}

function request(m: LocalModel, body: object): Promise<[any, DataView[]]> {
  return new Promise((resolve) => {
    m.on("msg:custom", (msg: any, buffers: DataView[]) => resolve([msg, buffers]));
    m.send({ type: "request", id: "r1", version: 1, ...body });
  });
}

describe("LocalModel", () => {
  it("holds traits, decodes embedded binary traits and defaults the version", () => {
    const m = model();
    expect(m.get("tokens")).toEqual(["a", "b"]);
    expect(m.get("overview")).toBeInstanceOf(DataView);
    expect(m.get("overview").byteLength).toBe(4);
    expect(m.get("data_version")).toBe(1);
    expect(m.get("status")).toBe("ready");
  });

  it("emits change events only on change, and removes listeners", () => {
    const m = model();
    const seen: unknown[] = [];
    const cb = (_: unknown, v: unknown): number => seen.push(v);
    m.on("change:layer", cb);
    m.set("layer", 3);
    m.set("layer", 3);
    m.off("change:layer", cb);
    m.set("layer", 0);
    expect(seen).toEqual([3]);
    expect(m.listenerCount()).toBe(0);
  });

  it("answers layer and rollout requests like the kernel", async () => {
    const [layer, buffers] = await request(model(), { what: "layer", layer: 3 });
    expect(layer).toMatchObject({ type: "layer", id: "r1", version: 1, layer: 3, dtype: "float16", shape: [1, 2, 2] });
    expect(buffers[0].byteLength).toBe(8);
    const [rollout] = await request(model(), { what: "rollout" });
    expect(rollout).toMatchObject({ type: "rollout", shape: [2, 2, 2] });
  });

  it("answers missing data with an error message", async () => {
    const [reply, buffers] = await request(model(), { what: "layer", layer: 7 });
    expect(reply).toMatchObject({ type: "error", id: "r1" });
    expect(reply.message).toMatch(/layer 7/);
    expect(buffers).toEqual([]);
  });
});
