import { describe, expect, it } from "vitest";
import { loadFocusedMatrix, loadedFocusedMatrix, shapeProblem, type StackSource } from "../src/focus";
import { prepareDisplay, inverseIndex } from "../src/scale";
import { tokenWeights } from "../src/shading";
import type { Stack } from "../src/types";

// a layer of 2 heads over 2×2, and rollout over kept layers [3, 5]
const layer: Stack = { n: 2, rows: 2, cols: 2, data: Float32Array.from([1, 0, 0.5, 0.5, 0, 1, 0.5, 0.5]) };
const rollout: Stack = { n: 2, rows: 2, cols: 2, data: Float32Array.from([1, 0, 1, 0, 0.25, 0.75, 0.5, 0.5]) };

function source(): StackSource & { requested: string[] } {
  const requested: string[] = [];
  return {
    requested,
    requestLayer: async (l) => (requested.push(`layer ${l}`), layer),
    requestRollout: async () => (requested.push("rollout"), rollout),
  };
}

describe("loadFocusedMatrix", () => {
  it("slices a head, or aggregates the layer's heads", async () => {
    const s = source();
    expect(Array.from((await loadFocusedMatrix(s, [3, 5], 5, 1)).data)).toEqual([0, 1, 0.5, 0.5]);
    expect(Array.from((await loadFocusedMatrix(s, [3, 5], 5, "mean")).data)).toEqual([0.5, 0.5, 0.5, 0.5]);
    expect(Array.from((await loadFocusedMatrix(s, [3, 5], 5, "max")).data)).toEqual([1, 1, 0.5, 0.5]);
    expect(s.requested).toEqual(["layer 5", "layer 5", "layer 5"]);
  });

  it("takes rollout at the position of the layer among the kept layers", async () => {
    const s = source();
    expect(Array.from((await loadFocusedMatrix(s, [3, 5], 5, "rollout")).data)).toEqual([0.25, 0.75, 0.5, 0.5]);
    expect(s.requested).toEqual(["rollout"]);
    await expect(loadFocusedMatrix(s, [3, 5], 4, "rollout")).rejects.toThrow(RangeError);
  });

  it("uses the matrix sent with the data before asking for anything", async () => {
    const sent = { rows: 2, cols: 2, data: Float32Array.from([0.5, 0.5, 1, 0]) };
    const s = { ...source(), firstMatrix: (l: number, h: unknown) => (l === 5 && h === 1 ? sent : null) };
    expect(await loadFocusedMatrix(s, [3, 5], 5, 1)).toBe(sent);
    expect(s.requested).toEqual([]);
    await loadFocusedMatrix(s, [3, 5], 5, 0);
    expect(s.requested).toEqual(["layer 5"]);
  });

  it("gives the same matrix at once when the layer or rollout is already here, and null otherwise", async () => {
    const loaded = new Map<number, Stack>();
    let rolloutHere: Stack | null = null;
    const s = { ...source(), loadedLayer: (l: number) => loaded.get(l) ?? null, loadedRollout: () => rolloutHere };
    expect(loadedFocusedMatrix(s, [3, 5], 5, 1)).toBeNull();
    expect(loadedFocusedMatrix(s, [3, 5], 5, "rollout")).toBeNull();
    loaded.set(5, layer);
    rolloutHere = rollout;
    for (const head of [0, 1, "mean", "max", "rollout"] as const) {
      const now = loadedFocusedMatrix(s, [3, 5], 5, head);
      expect(Array.from(now!.data)).toEqual(Array.from((await loadFocusedMatrix(s, [3, 5], 5, head)).data));
    }
    expect(loadedFocusedMatrix(s, [3, 5], 3, 0)).toBeNull(); // another layer: not here
    expect(() => loadedFocusedMatrix(s, [3, 5], 4, "rollout")).toThrow(RangeError);
    expect(loadedFocusedMatrix(source(), [3, 5], 5, 0)).toBeNull(); // a source that cannot tell
  });

  it("checks the shape against the tokens", () => {
    expect(shapeProblem({ rows: 2, cols: 3, data: new Float32Array(6) }, 2, 3)).toBeNull();
    expect(shapeProblem({ rows: 2, cols: 3, data: new Float32Array(6) }, 3, 3)).toMatch(/2\u00d73.*3 query/);
  });
});

describe("tokenWeights", () => {
  // [CLS] a b [SEP]; query a attends 0.1 / 0.6 / 0.2 / 0.1
  const source = {
    rows: 4,
    cols: 4,
    data: Float32Array.from([0.7, 0.1, 0.1, 0.1, 0.1, 0.6, 0.2, 0.1, 0.1, 0.3, 0.5, 0.1, 0.25, 0.25, 0.25, 0.25]),
  };
  const special = [true, false, false, true];

  const input = (hideSpecial: boolean) => {
    const display = prepareDisplay(source, { hideSpecial, rowNormalize: false, specialRows: special, specialCols: special });
    return { display, rowOfQuery: inverseIndex(display.rowIndex, 4), colOfKey: inverseIndex(display.colIndex, 4) };
  };

  it("gives the selected query's row over keys for 'from'", () => {
    const result = tokenWeights({ ...input(false), direction: "from", query: 1, key: null });
    expect(result?.axis).toBe("key");
    expect(Array.from(result!.weights)).toEqual(Array.from(Float32Array.from([0.1, 0.6, 0.2, 0.1])));
  });

  it("gives the selected key's column over queries for 'to'", () => {
    const result = tokenWeights({ ...input(false), direction: "to", query: null, key: 2 });
    expect(result?.axis).toBe("query");
    expect(Array.from(result!.weights)).toEqual(Array.from(Float32Array.from([0.1, 0.2, 0.5, 0.25])));
  });

  it("uses the renormalised values and NaN for hidden tokens", () => {
    const result = tokenWeights({ ...input(true), direction: "from", query: 1, key: null })!;
    expect(result.weights[0]).toBeNaN();
    expect(result.weights[3]).toBeNaN();
    expect(result.weights[1]).toBeCloseTo(0.75);
    expect(result.weights[2]).toBeCloseTo(0.25);
  });

  it("shades nothing without a selection or for a hidden one", () => {
    expect(tokenWeights({ ...input(false), direction: "from", query: null, key: null })).toBeNull();
    expect(tokenWeights({ ...input(true), direction: "from", query: 0, key: null })).toBeNull();
    expect(tokenWeights({ ...input(true), direction: "to", query: null, key: 3 })).toBeNull();
  });
});
