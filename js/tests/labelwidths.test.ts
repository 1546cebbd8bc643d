import { describe, expect, it } from "vitest";
import { LabelWidthCache, MAX_MEASURED, widestLabel, type LabelSource } from "../src/labelwidths";
import { truncateLabel } from "../src/layout";
import { identityIndex } from "../src/scale";

/** A fake measure: 7 px per character, counting its calls. */
function meter(): { width: (text: string) => number; calls: string[] } {
  const calls: string[] = [];
  return { calls, width: (text) => (calls.push(text), 7 * text.length) };
}

const tokens = ["[CLS]", "the", "extraordinarily", "movie", "[SEP]"];
const source = (over: Partial<LabelSource> = {}): LabelSource => ({
  rowLabels: tokens,
  colLabels: tokens,
  rowIndex: identityIndex(tokens.length),
  colIndex: identityIndex(tokens.length),
  ...over,
});

describe("widestLabel", () => {
  it("is the widest truncated label among the displayed tokens", () => {
    const { width } = meter();
    expect(widestLabel(tokens, identityIndex(5), width)).toBe(7 * truncateLabel("extraordinarily").length);
    expect(widestLabel(tokens, Int32Array.from([0, 3]), width)).toBe(7 * 5);
    expect(widestLabel(tokens, new Int32Array(0), width)).toBe(0);
  });

  it("measures at most MAX_MEASURED labels of a long axis", () => {
    const long = Array.from({ length: 3 * MAX_MEASURED }, (_, i) => `t${i}`);
    const m = meter();
    widestLabel(long, identityIndex(long.length), m.width);
    expect(m.calls.length).toBe(MAX_MEASURED);
  });
});

describe("LabelWidthCache", () => {
  const font = "400 10px sans-serif";

  it("measures once for a head switch (same tokens, new but equal index arrays)", () => {
    const cache = new LabelWidthCache();
    const m = meter();
    const first = cache.extent(source(), font, m.width);
    expect(m.calls.length).toBe(10);
    const again = cache.extent(source(), font, m.width); // a new display matrix: new index arrays, same values
    expect(again).toEqual(first);
    expect(m.calls.length).toBe(10);
    expect(cache.measured).toBe(1);
  });

  it("measures again when the tokens change", () => {
    const cache = new LabelWidthCache();
    const m = meter();
    cache.extent(source(), font, m.width);
    const longer = [...tokens.slice(0, 4), "incomprehensibilities"];
    const extent = cache.extent(source({ rowLabels: longer, colLabels: longer }), font, m.width);
    expect(cache.measured).toBe(2);
    expect(extent.rows).toBe(7 * truncateLabel("incomprehensibilities").length);
    // equal texts in a new array (a new data set) are measured too: identity is the key
    cache.extent(source({ rowLabels: [...longer], colLabels: longer }), font, m.width);
    expect(cache.measured).toBe(3);
  });

  it("measures again when the displayed tokens change (special tokens hidden)", () => {
    const cache = new LabelWidthCache();
    const m = meter();
    cache.extent(source(), font, m.width);
    const kept = Int32Array.from([1, 3]);
    const extent = cache.extent(source({ rowIndex: kept, colIndex: kept }), font, m.width);
    expect(cache.measured).toBe(2);
    expect(extent).toEqual({ rows: 7 * 5, cols: 7 * 5 });
  });

  it("measures again when the font changes, and after clear()", () => {
    const cache = new LabelWidthCache();
    const m = meter();
    cache.extent(source(), font, m.width);
    cache.extent(source(), "400 10px serif", m.width);
    expect(cache.measured).toBe(2);
    cache.clear();
    cache.extent(source(), "400 10px serif", m.width);
    expect(cache.measured).toBe(3);
  });

  it("keeps its widths across canvas size, colour scale and pixel ratio (CSS px of text depend on none)", () => {
    // those are not inputs of extent(): only labels, displayed tokens and font are
    const cache = new LabelWidthCache();
    const m = meter();
    const a = cache.extent(source(), font, m.width);
    for (let i = 0; i < 3; i++) expect(cache.extent(source(), font, m.width)).toBe(a);
    expect(cache.measured).toBe(1);
  });
});
