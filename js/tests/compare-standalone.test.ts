import { describe, expect, it } from "vitest";
import { ComparisonLocalModel } from "../src/compare-standalone";
import { traits } from "./fake-model";

function side(q: number): Record<string, unknown> {
  const t = traits(q, 1, 2);
  const layer = new Uint16Array(2 * q * q).fill(0x3800); // 0.5 in float16
  return { ...t, layers: { "0": new Uint8Array(layer.buffer) } };
}

describe("a comparison without a kernel", () => {
  const shared = {
    view_kind: "comparison",
    layer: 0,
    head: 1,
    align_queries: btoa(String.fromCharCode(...new Uint8Array(new Int32Array([0, 1, -1, 2, 0, 1, 2, 3]).buffer)))
  };

  it("reads prefixed traits from the side and shared traits from itself", () => {
    const model = new ComparisonLocalModel({ shared, a: side(3) as never, b: side(4) as never });
    expect(model.get("a_tokens")).toHaveLength(3);
    expect(model.get("b_tokens")).toHaveLength(4);
    expect(model.get("head")).toBe(1);
    expect((model.get("align_queries") as DataView).getInt32(8, true)).toBe(-1);
    const seen: string[] = [];
    model.on("change:b_selected_token", () => seen.push("b"));
    model.set("b_selected_token", 2);
    expect(model.get("b_selected_token")).toBe(2);
    expect(seen).toEqual(["b"]);
  });

  it("answers a request from the side it names, tagged with that side", async () => {
    const model = new ComparisonLocalModel({ shared, a: side(3) as never, b: side(4) as never });
    const replies: any[] = [];
    model.on("msg:custom", (reply: unknown) => replies.push(reply));
    model.send({ type: "request", id: "x", version: 1, what: "layer", layer: 0, side: "b" });
    model.send({ type: "request", id: "y", version: 1, what: "layer", layer: 0 }); // no side: dropped
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ type: "layer", id: "x", side: "b", shape: [2, 4, 4] });
  });
});
