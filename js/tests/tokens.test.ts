// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeMapper } from "../src/scale";
import { OFFSCREEN_DELAY_MS, SHADE_STEPS, TokenView, displayToken, shadeFor, shadeStep, visibleBand } from "../src/tokens";
import { WINDOW_TOKENS, findToken, windowStart } from "../src/tokenwindow";

afterEach(() => {
  document.body.replaceChildren();
});

function view(tokens: string[], keys: string[] | null = null) {
  const host = document.createElement("div");
  document.body.appendChild(host);
  const callbacks = { hover: vi.fn(), click: vi.fn() };
  const v = new TokenView(host, callbacks);
  v.setContent({
    queries: tokens,
    keys,
    querySpecial: tokens.map((t) => t.startsWith("[")),
    keySpecial: (keys ?? tokens).map((t) => t.startsWith("[")),
  });
  return { host, v, callbacks };
}

describe("TokenView", () => {
  it("renders tokens as text, never as HTML", () => {
    const { host } = view(["[CLS]", "<img src=x onerror=alert(1)>", "<b>bold</b>", "[SEP]"]);
    const spans = host.querySelectorAll<HTMLElement>(".attnviz-token");
    expect(spans).toHaveLength(4);
    expect(spans[1].textContent).toBe("<img src=x onerror=alert(1)>");
    expect(host.querySelector("img")).toBeNull();
    expect(host.querySelector("b")).toBeNull();
    expect(spans[2].dataset.index).toBe("2");
  });

  it("marks and hides special tokens", () => {
    const { host, v } = view(["[CLS]", "a", "[SEP]"]);
    const spans = host.querySelectorAll<HTMLElement>(".attnviz-token");
    expect(spans[0].classList.contains("attnviz-special")).toBe(true);
    v.setHideSpecial(true);
    expect([spans[0].hidden, spans[1].hidden, spans[2].hidden]).toEqual([true, false, true]);
    v.setHideSpecial(false);
    expect(spans[0].hidden).toBe(false);
  });

  it("reports hover once per token and clicks", () => {
    const { host, callbacks } = view(["a", "b"]);
    const [a, b] = host.querySelectorAll<HTMLElement>(".attnviz-token");
    a.dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
    a.dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
    b.dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
    expect(callbacks.hover.mock.calls).toEqual([
      [0, "query"],
      [1, "query"],
    ]);
    b.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(callbacks.click).toHaveBeenCalledWith(1, "query");
    host.querySelector(".attnviz-tokens")!.dispatchEvent(new MouseEvent("mouseleave"));
    expect(callbacks.hover).toHaveBeenLastCalledWith(null, "query");
  });

  it("shades tokens by weight and clears the shading", () => {
    const { host, v } = view(["a", "b", "c"]);
    const spans = host.querySelectorAll<HTMLElement>(".attnviz-token");
    v.setShading("key", Float32Array.from([1, 0, NaN]), makeMapper("linear", 1, 3));
    expect(spans[0].style.backgroundColor).not.toBe("");
    expect(spans[1].style.backgroundColor).toBe("");
    expect(spans[2].style.backgroundColor).toBe("");
    v.setShading("key", null, makeMapper("linear", 1, 3));
    expect(spans[0].style.backgroundColor).toBe("");
  });

  it("tells a token's weight on hover while the selection is locked", () => {
    const host = document.createElement("div");
    const tooltip = vi.fn();
    const v = new TokenView(host, { hover: vi.fn(), click: vi.fn(), tooltip });
    v.setContent({ queries: ["a", "<b>"], keys: null, querySpecial: [false, false], keySpecial: [false, false] });
    v.setShading("key", Float32Array.from([0.25, 0.75]), makeMapper("linear", 1, 3));
    const spans = host.querySelectorAll<HTMLElement>(".attnviz-token");
    spans[1].dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
    expect(tooltip).toHaveBeenLastCalledWith(null, 0, 0); // not locked: hover selects instead
    v.setSelection(0, null, true);
    spans[1].dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: 5, clientY: 6 }));
    expect(tooltip).toHaveBeenLastCalledWith(["\u201c<b>\u201d", "attention 0.75"], 5, 6);
  });

  it("shows a query row and a key row for cross-attention", () => {
    const { host, v, callbacks } = view(["q0", "q1"], ["k0", "k1", "k2"]);
    const rows = host.querySelectorAll<HTMLElement>(".attnviz-token-row");
    expect(rows).toHaveLength(2);
    expect(rows[1].querySelectorAll(".attnviz-token")).toHaveLength(3);
    rows[1].querySelectorAll<HTMLElement>(".attnviz-token")[2].dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
    expect(callbacks.hover).toHaveBeenLastCalledWith(2, "key");
    v.setShading("key", Float32Array.from([0, 0, 1]), makeMapper("linear", 1, 3));
    expect(rows[1].querySelectorAll<HTMLElement>(".attnviz-token")[2].style.backgroundColor).not.toBe("");
    expect(rows[0].querySelectorAll<HTMLElement>(".attnviz-token")[0].style.backgroundColor).toBe("");
  });

  it("outlines the selected token, locked or not", () => {
    const { host, v } = view(["a", "b"]);
    const spans = host.querySelectorAll<HTMLElement>(".attnviz-token");
    v.setSelection(1, null, false);
    expect(spans[1].classList.contains("attnviz-selected")).toBe(true);
    v.setSelection(0, null, true);
    expect(spans[1].classList.contains("attnviz-selected")).toBe(false);
    expect(spans[0].classList.contains("attnviz-locked")).toBe(true);
  });

  it("shades tokens on screen at once and the others a moment later", () => {
    vi.useFakeTimers();
    try {
      const { host, v } = view(["a", "b", "c", "d"]);
      const row = host.querySelector<HTMLElement>(".attnviz-token-row")!;
      const spans = host.querySelectorAll<HTMLElement>(".attnviz-token");
      // a 40 px high row at the bottom of the viewport: tokens on lines 0, 0, 1 and 5 (20 px each)
      const box = (top: number, height: number) => () => ({ top, bottom: top + height, left: 0, right: 100, width: 100, height }) as DOMRect;
      const bottom = window.innerHeight;
      row.getBoundingClientRect = box(bottom - 40, 40);
      [0, 0, 1, 5].forEach((line, i) => (spans[i].getBoundingClientRect = box(bottom - 40 + 20 * line, 18)));
      v.setShading("key", Float32Array.from([1, 1, 1, 1]), makeMapper("linear", 1, 3));
      expect(Array.from(spans, (s) => s.style.backgroundColor !== "")).toEqual([true, true, true, false]);
      vi.advanceTimersByTime(OFFSCREEN_DELAY_MS);
      expect(spans[3].style.backgroundColor).not.toBe("");
      // a new shading before the delay replaces the pending one
      v.setShading("key", Float32Array.from([0, 0, 0, 0.5]), makeMapper("linear", 1, 3));
      v.setShading("key", null, makeMapper("linear", 1, 3));
      expect(spans[0].style.backgroundColor).toBe("");
      vi.advanceTimersByTime(OFFSCREEN_DELAY_MS);
      expect(Array.from(spans, (s) => s.style.backgroundColor)).toEqual(["", "", "", ""]);
      v.destroy();
    } finally {
      vi.useRealTimers();
    }
  });

  it("removes its listeners and DOM on destroy", () => {
    const { host, v, callbacks } = view(["a"]);
    const span = host.querySelector<HTMLElement>(".attnviz-token")!;
    v.destroy();
    span.dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
    expect(callbacks.hover).not.toHaveBeenCalled();
    expect(host.children).toHaveLength(0);
  });
});

describe("token display helpers", () => {
  it("makes invisible characters visible", () => {
    expect(displayToken("")).toBe("\u2205");
    expect(displayToken("a\nb")).toBe("a\u21b5b");
    expect(displayToken("\t")).toBe("\u21e5");
    expect(displayToken(" the")).toBe(" the");
  });

  it("shades strong weights opaque with readable text, weak ones not at all", () => {
    expect(shadeFor(0)).toEqual({ background: "", color: "" });
    const strong = shadeFor(1);
    expect(strong.background).toBe("rgba(253, 231, 37, 1.000)");
    expect(strong.color).toBe("#000");
    expect(shadeFor(0.1).color).toBe("");
  });

  it("quantises weights to shade steps", () => {
    expect([shadeStep(NaN), shadeStep(0), shadeStep(0.02), shadeStep(0.021), shadeStep(1), shadeStep(7)]).toEqual([0, 0, 0, 1, SHADE_STEPS, SHADE_STEPS]);
    expect(shadeFor(0.5)).toBe(shadeFor(0.51)); // one shared style per step
  });

  it("finds the on-screen part of a scrolled token row", () => {
    // row at client y 100..360, scrolled by 50, clipped to 0..200: content 50..150 is visible
    expect(visibleBand(100, 360, 50, 0, 200, 0)).toEqual({ top: 50, bottom: 150 });
    expect(visibleBand(100, 360, 50, 0, 200, 10)).toEqual({ top: 40, bottom: 160 });
    // row above the clip: an empty band
    const above = visibleBand(-400, -140, 0, 0, 800, 0)!;
    expect(above.bottom).toBeLessThan(above.top);
    // no layout: unknown
    expect(visibleBand(0, 0, 0, 0, 800, 0)).toBeNull();
  });
});

describe("a long token row", () => {
  const long = (n: number): string[] => Array.from({ length: n }, (_, i) => (i === 3000 ? "needle" : `w${i}`));

  it("keeps only a window of tokens in the DOM and pages through them", () => {
    const { host, v } = view(long(5000));
    const spans = () => host.querySelectorAll<HTMLElement>(".attnviz-token");
    expect(spans()).toHaveLength(WINDOW_TOKENS);
    expect(spans()[0].dataset.index).toBe("0");
    const bar = host.querySelector<HTMLElement>(".attnviz-token-search")!;
    expect(bar.hidden).toBe(false);
    expect(bar.textContent).toMatch(/tokens 0\u20131023 of 5000/);
    host.querySelector<HTMLButtonElement>(".attnviz-token-later")!.click();
    expect(spans()[0].dataset.index).toBe(String((WINDOW_TOKENS * 3) / 4));
    v.reveal(4999);
    expect(spans()[spans().length - 1].dataset.index).toBe("4999");
    expect(host.querySelector<HTMLButtonElement>(".attnviz-token-later")!.disabled).toBe(true);
  });

  it("finds a token by its text, shaded and selected as the others", () => {
    const { host, v } = view(long(5000));
    const weights = new Float32Array(5000).fill(0);
    weights[3000] = 1;
    v.setShading("key", weights, makeMapper("linear", 1, 3));
    v.setSelection(3000, null, true);
    const input = host.querySelector<HTMLInputElement>(".attnviz-token-find")!;
    input.value = "NEEDLE ";
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    const found = host.querySelector<HTMLElement>(".attnviz-found")!;
    expect(found.dataset.index).toBe("3000");
    expect(found.style.backgroundColor).not.toBe(""); // the shading follows the window
    expect(found.classList.contains("attnviz-locked")).toBe(true);
    input.value = "nothing like it";
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    expect(input.classList.contains("attnviz-not-found")).toBe(true);
  });

  it("shows short texts whole, without the bar", () => {
    const { host } = view(["a", "b"]);
    expect(host.querySelector<HTMLElement>(".attnviz-token-search")!.hidden).toBe(true);
  });
});

describe("token windows", () => {
  it("puts a token in the middle half of its window", () => {
    for (const i of [0, 1, 511, 600, 1000, 2047, 4000, 4999]) {
      const start = windowStart(i, 5000);
      expect(i).toBeGreaterThanOrEqual(start);
      expect(i).toBeLessThan(start + WINDOW_TOKENS);
      expect(start + WINDOW_TOKENS).toBeLessThanOrEqual(5000);
      if (start > 0 && start + WINDOW_TOKENS < 5000) {
        expect(i - start).toBeGreaterThanOrEqual(WINDOW_TOKENS / 4);
        expect(i - start).toBeLessThan((WINDOW_TOKENS * 3) / 4);
      }
    }
    expect(windowStart(7, 100)).toBe(0);
  });

  it("finds the next match after a position, wrapping around", () => {
    const tokens = ["The", " cat", " sat", " the", " mat"];
    expect(findToken(tokens, "the", -1)).toBe(0);
    expect(findToken(tokens, "the", 0)).toBe(3);
    expect(findToken(tokens, "the", 3)).toBe(0);
    expect(findToken(tokens, "  ", 0)).toBe(-1);
    expect(findToken(tokens, "dog", 0)).toBe(-1);
  });
});
