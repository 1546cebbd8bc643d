import { describe, expect, it } from "vitest";
import { COLORMAP_SIZE, VIRIDIS, colorIndex, cssColor, luminance, tableFromHex, textColorOn } from "../src/colormap";

describe("viridis table", () => {
  it("has 256 opaque RGBA entries with viridis endpoints", () => {
    expect(VIRIDIS.length).toBe(COLORMAP_SIZE * 4);
    expect(Array.from(VIRIDIS.slice(0, 4))).toEqual([0x44, 0x01, 0x54, 255]);
    expect(Array.from(VIRIDIS.slice(255 * 4))).toEqual([0xfd, 0xe7, 0x25, 255]);
    for (let i = 0; i < COLORMAP_SIZE; i++) expect(VIRIDIS[4 * i + 3]).toBe(255);
  });

  it("gets lighter from start to end (perceptually ordered)", () => {
    for (let i = 1; i < COLORMAP_SIZE; i++) expect(luminance(i)).toBeGreaterThanOrEqual(luminance(i - 1) - 1e-3);
    expect(luminance(255)).toBeGreaterThan(luminance(0) + 0.6);
  });

  it("parses hex tables", () => {
    expect(Array.from(tableFromHex("ff000000ff00"))).toEqual([255, 0, 0, 255, 0, 255, 0, 255]);
  });
});

describe("colorIndex", () => {
  it("maps [0, 1] onto 0..255 and clamps", () => {
    expect(colorIndex(0)).toBe(0);
    expect(colorIndex(1)).toBe(255);
    expect(colorIndex(0.5)).toBe(128);
    expect(colorIndex(0.999)).toBe(255);
    expect(colorIndex(-3)).toBe(0);
    expect(colorIndex(7)).toBe(255);
    expect(colorIndex(NaN)).toBe(0);
  });
});

describe("css helpers", () => {
  it("formats colours and picks readable text", () => {
    expect(cssColor(0)).toBe("rgb(68, 1, 84)");
    expect(textColorOn(0)).toBe("#fff");
    expect(textColorOn(255)).toBe("#000");
  });
});
