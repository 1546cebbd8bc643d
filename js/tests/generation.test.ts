// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from "vitest";
import { GENERATED_COLOR, displayedBoundary, generated, paintBoundary } from "../src/boundary";
import type { HeatmapLayout } from "../src/layout";
import { describeGeneration, pendingSteps, readGeneration, stepOfQuery, stepQuery, tokenMarks, tryReadGeneration, validStep } from "../src/generation";
import { StepPanel, PLAY_INTERVAL_MS, alternativeRows, percent, stepFacts } from "../src/steppanel";
import { TokenView } from "../src/tokens";
import { keptView } from "../src/zoom";
import { GENERATED, PROMPT, generationMeta } from "./generation-fixture";

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

const full = readGeneration(generationMeta())!;

describe("meta.generation", () => {
  it("reads the record Python sends", () => {
    expect(full.promptTokens).toBe(4);
    expect(full.steps.map((s) => s.token)).toEqual(GENERATED);
    expect(full.steps[1].sampledProbability).toBe(0.4);
    expect(full.steps[0].top).toHaveLength(5);
    expect(full.finishReason).toBe("eos");
    expect(full.streaming).toBe(false);
    expect(readGeneration(undefined)).toBeNull();
    const bare = readGeneration({ prompt_tokens: 1, steps: [{ token: "a", probability: 1, entropy: 0, top: [] }] })!;
    expect([bare.steps[0].display, bare.steps[0].sampledProbability, bare.finishReason]).toEqual(["a", null, null]);
  });

  it("refuses a malformed record with one line, and the data still shows", () => {
    expect(() => readGeneration({ prompt_tokens: -1, steps: [] })).toThrow(/prompt_tokens/);
    expect(() => readGeneration({ prompt_tokens: 1, steps: [{ token: "a", probability: 2 }] })).toThrow(/steps\[0\]/);
    expect(() => readGeneration([1])).toThrow(/not an object/);
    const { generation, problem } = tryReadGeneration({ prompt_tokens: 2, steps: "x" });
    expect(generation).toBeNull();
    expect(problem).toMatch(/^generation view off: .*not a list$/);
  });

  it("maps steps to the row that chose them and back", () => {
    expect(stepQuery(full, 0)).toBe(3); // the last prompt token chose the first generated one
    expect(stepQuery(full, 3)).toBe(6);
    expect(stepOfQuery(full, 3)).toBe(0);
    expect(stepOfQuery(full, 2)).toBeNull();
    expect(stepOfQuery(full, 7)).toBeNull();
    expect(validStep(full, 3, 8)).toBe(3);
    expect(validStep(full, 4, 8)).toBeNull();
    expect(validStep(full, 1.5, 8)).toBeNull();
    expect(validStep(full, null, 8)).toBeNull();
    expect(validStep(full, 3, 6)).toBeNull(); // its row is not in the data
  });

  it("finds the tokens still to come while streaming", () => {
    const streaming = readGeneration(generationMeta(3, { streaming: true, finish_reason: null }))!;
    // the matrix covers prompt + steps - 1 tokens: the newest is pending
    expect(pendingSteps(streaming, 6).map((s) => s.token)).toEqual(["\n"]);
    expect(pendingSteps(streaming, 7)).toEqual([]);
    expect(tokenMarks(streaming, 6)).toEqual({
      firstGenerated: 4,
      pending: ["\n"],
      notes: ["generated token 1 of 3 \u00b7 probability 50.0%", "generated token 2 of 3 \u00b7 probability 25.0%", "generated token 3 of 3 \u00b7 probability 90.0%"],
    });
    expect(tokenMarks(null, 6)).toBeNull();
    expect(describeGeneration(streaming)).toBe("generating\u2026 3 tokens so far");
    expect(describeGeneration(full)).toBe("4 tokens generated \u00b7 stopped at end-of-sequence");
  });
});

describe("the token view of a generation", () => {
  function view(queries: string[], pending: string[] = []) {
    const host = document.createElement("div");
    document.body.appendChild(host);
    const tips: (string[] | null)[] = [];
    const tokens = new TokenView(host, { hover: () => undefined, click: () => undefined, tooltip: (lines) => tips.push(lines) });
    tokens.setContent({
      queries,
      keys: null,
      querySpecial: queries.map((t) => t === "[CLS]"),
      keySpecial: queries.map((t) => t === "[CLS]"),
      marks: { firstGenerated: PROMPT.length, pending, notes: GENERATED.map((_, i) => `note ${i}`) },
    });
    return { host, tokens, tips };
  }

  it("styles generated tokens apart and marks the boundary before the first", () => {
    const { host } = view([...PROMPT, ...GENERATED]);
    const spans = Array.from(host.querySelectorAll<HTMLElement>(".attnviz-token"));
    expect(spans.map((s) => s.classList.contains("attnviz-generated"))).toEqual([false, false, false, false, true, true, true, true]);
    const boundary = host.querySelector<HTMLElement>(".attnviz-generated-boundary")!;
    expect(boundary.nextElementSibling).toBe(spans[4]);
    expect(boundary.previousElementSibling).toBe(spans[3]);
    expect(boundary.textContent).toMatch(/generated/);
    expect(spans[5].textContent).toBe(" <b>film</b>"); // text, not markup
    expect(host.querySelector("b")).toBeNull();
  });

  it("appends the pending token after the last one, with its tooltip", () => {
    const { host, tips } = view([...PROMPT, " the", " <b>film</b>"], ["\n"]);
    const pending = host.querySelector<HTMLElement>(".attnviz-pending")!;
    expect(pending.textContent).toBe("\u21b5");
    expect(pending.dataset.pending).toBe("6");
    expect(pending.classList.contains("attnviz-token")).toBe(false); // it cannot be selected: it has no row yet
    expect(pending.previousElementSibling).toBe(host.querySelectorAll(".attnviz-token")[5]);
    pending.dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
    expect(tips.at(-1)).toEqual(["\u201c\u21b5\u201d", "just generated: its own attention is computed with the next step"]);
  });

  it("tells a generated token's note on hover, and nothing for a prompt token", () => {
    const { host, tips } = view([...PROMPT, ...GENERATED]);
    const spans = host.querySelectorAll(".attnviz-token");
    spans[5].dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
    expect(tips.at(-1)).toEqual(["\u201c <b>film</b>\u201d", "note 1"]);
    spans[2].dispatchEvent(new MouseEvent("mousemove", { bubbles: true }));
    expect(tips.at(-1)).toBeNull();
  });

  it("outlines the current step's token, pending ones included", () => {
    const { host, tokens } = view([...PROMPT, " the"], [" <b>film</b>"]);
    tokens.setStepToken(4);
    expect(host.querySelectorAll(".attnviz-step-token")).toHaveLength(1);
    expect(host.querySelector<HTMLElement>(".attnviz-step-token")!.dataset.index).toBe("4");
    tokens.setStepToken(5);
    expect(host.querySelector<HTMLElement>(".attnviz-step-token")!.classList.contains("attnviz-pending")).toBe(true);
    tokens.setStepToken(null);
    expect(host.querySelectorAll(".attnviz-step-token")).toHaveLength(0);
  });

  it("marks nothing without a generation", () => {
    const host = document.createElement("div");
    const tokens = new TokenView(host, { hover: () => undefined, click: () => undefined });
    tokens.setContent({ queries: ["a", "b"], keys: null, querySpecial: [false, false], keySpecial: [false, false] });
    expect(host.querySelectorAll(".attnviz-generated, .attnviz-generated-boundary, .attnviz-pending")).toHaveLength(0);
  });
});

describe("the step panel", () => {
  function panel(step: number | null, generation = full) {
    const host = document.createElement("div");
    document.body.appendChild(host);
    const asked: number[] = [];
    const p = new StepPanel(host, { setStep: (s) => asked.push(s) });
    p.update({ generation, step });
    return { host, p, asked, text: (sel: string) => host.querySelector(sel)!.textContent };
  }

  it("shows the step's token, probabilities, entropy and alternatives as text", () => {
    const { host, text } = panel(1);
    expect(text(".attnviz-step-chosen")).toBe("token 2: \u201c <b>film</b>\u201d");
    expect(text(".attnviz-step-facts")).toBe("probability 25.0% \u00b7 sampled with 40.0% \u00b7 entropy 2.50 nats");
    expect(text(".attnviz-step-count")).toBe("2 / 4");
    const alts = Array.from(host.querySelectorAll(".attnviz-step-alt-label"), (el) => el.textContent);
    expect(alts).toHaveLength(6); // the top 5 and the chosen token, which is not among them
    expect(alts[5]).toBe("\u2713 \u201c <b>film</b>\u201d (chosen, not in the top 5)");
    expect(host.querySelector("b")).toBeNull();
    expect(host.querySelector<HTMLElement>(".attnviz-step-end")!.hidden).toBe(true);
  });

  it("marks the chosen alternative and says when the model stopped at end-of-sequence", () => {
    const { host, text } = panel(3);
    const chosen = host.querySelectorAll(".attnviz-step-alt-chosen");
    expect(chosen).toHaveLength(1);
    expect(chosen[0].textContent).toMatch(/^\u2713 \u201c<\/s>\u201d60\.0%$/);
    expect(text(".attnviz-step-facts")).toBe("probability 60.0% \u00b7 entropy 0.75 nats"); // sampled = model: not repeated
    expect(text(".attnviz-step-end")).toBe("stopped at end-of-sequence");
    expect(host.querySelector<HTMLElement>(".attnviz-step-end")!.hidden).toBe(false);
    const widths = Array.from(host.querySelectorAll<HTMLElement>(".attnviz-step-alt-fill"), (el) => el.style.width);
    expect(widths[0]).toBe("60.0%");
  });

  it("says it is generating while streaming, and asks for a step when none is chosen", () => {
    const streaming = readGeneration(generationMeta(2, { streaming: true, finish_reason: null }))!;
    const { host, text } = panel(null, streaming);
    expect(text(".attnviz-step-summary")).toBe("generating\u2026 2 tokens so far");
    expect(host.querySelector(".attnviz-step-summary")!.classList.contains("attnviz-streaming")).toBe(true);
    expect(text(".attnviz-step-chosen")).toMatch(/Choose a generated token/);
    expect(text(".attnviz-step-count")).toBe("\u2014 / 2");
  });

  it("moves with the slider, the buttons and the arrow keys", () => {
    const { host, asked } = panel(1);
    const slider = host.querySelector<HTMLInputElement>(".attnviz-step-slider")!;
    expect([slider.min, slider.max, slider.value]).toEqual(["0", "3", "1"]);
    slider.value = "3";
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    host.querySelector<HTMLButtonElement>(".attnviz-step-next")!.click();
    host.querySelector<HTMLButtonElement>(".attnviz-step-prev")!.click();
    const key = (k: string) => slider.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true }));
    expect(key("ArrowRight")).toBe(false); // handled: the slider does not move a second time
    key("ArrowLeft");
    key("End");
    key("Home");
    expect(key("a")).toBe(true);
    expect(asked).toEqual([3, 2, 0, 2, 0, 3, 0]); // each from step 1: the panel shows what the app says
  });

  it("plays a step every half second and stops at the end", () => {
    vi.useFakeTimers();
    const host = document.createElement("div");
    const asked: number[] = [];
    let step: number | null = 1;
    const p = new StepPanel(host, {
      setStep: (s) => {
        asked.push(s);
        step = s;
        p.update({ generation: full, step });
      },
    });
    p.update({ generation: full, step });
    const play = host.querySelector<HTMLButtonElement>(".attnviz-step-play")!;
    play.click();
    expect(play.getAttribute("aria-pressed")).toBe("true");
    vi.advanceTimersByTime(PLAY_INTERVAL_MS - 1);
    expect(asked).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(asked).toEqual([2]);
    vi.advanceTimersByTime(10 * PLAY_INTERVAL_MS);
    expect(asked).toEqual([2, 3]);
    expect(p.playing).toBe(false);
    expect(play.getAttribute("aria-pressed")).toBe("false");
    play.click(); // at the end, play starts over
    expect(asked).toEqual([2, 3, 0]);
    play.click(); // pause
    vi.advanceTimersByTime(10 * PLAY_INTERVAL_MS);
    expect(asked).toEqual([2, 3, 0]);
    p.destroy();
  });

  it("hides without a generation", () => {
    const { host, p } = panel(0);
    p.update({ generation: null, step: null });
    expect(host.querySelector<HTMLElement>(".attnviz-generation")!.hidden).toBe(true);
  });

  it("formats numbers for reading", () => {
    expect([percent(0.4123), percent(0.0004), percent(0), percent(1)]).toEqual(["41.2%", "<0.1%", "0.0%", "100.0%"]);
    expect(stepFacts({ ...full.steps[0], entropy: NaN })).toBe("probability 50.0% \u00b7 entropy unknown");
    expect(alternativeRows(full.steps[0]).map((r) => r.chosen)).toEqual([true, false, false, false, false]);
  });
});

describe("the heatmap boundary and zoom while streaming", () => {
  it("puts the boundary before the first displayed generated row", () => {
    expect(displayedBoundary(Int32Array.from([0, 1, 2, 3, 4, 5]), 4)).toBe(4);
    expect(displayedBoundary(Int32Array.from([1, 2, 4, 5]), 3)).toBe(2); // a hidden row before it
    expect(displayedBoundary(Int32Array.from([4, 5]), 4)).toBeNull(); // nothing before it
    expect(displayedBoundary(Int32Array.from([0, 1]), 4)).toBeNull(); // nothing generated shown
    expect(displayedBoundary(Int32Array.from([0, 1]), null)).toBeNull();
    // labels of generated tokens are orange, as in the plots
    expect([generated(3, 4), generated(4, 4), generated(9, 4), generated(9, null), generated(9, undefined)]).toEqual([false, true, true, false, false]);
  });

  it("draws a dashed line at the boundary on each axis it is shown on, none outside the view", () => {
    const calls: string[] = [];
    const ctx = {
      save: () => calls.push("save"),
      restore: () => calls.push("restore"),
      beginPath: () => undefined,
      stroke: () => calls.push("stroke"),
      setLineDash: (dash: number[]) => calls.push(`dash ${dash.join(",")}`),
      moveTo: (x: number, y: number) => calls.push(`move ${x},${y}`),
      lineTo: (x: number, y: number) => calls.push(`line ${x},${y}`),
      strokeStyle: "",
      lineWidth: 0,
    };
    const layout = { grid: { x: 10, y: 20, w: 60, h: 60 }, cellW: 10, cellH: 10 } as HeatmapLayout;
    paintBoundary(ctx as unknown as CanvasRenderingContext2D, layout, { r0: 0, r1: 6, c0: 0, c1: 6 }, 4, 4);
    expect(ctx.strokeStyle).toBe(GENERATED_COLOR);
    expect(calls).toEqual(["save", "dash 5,3", "move 10,60", "line 70,60", "move 50,20", "line 50,80", "stroke", "restore"]);
    calls.length = 0;
    paintBoundary(ctx as unknown as CanvasRenderingContext2D, layout, { r0: 0, r1: 3, c0: 2, c1: 8 }, 4, null); // zoomed past the row
    expect(calls.filter((c) => c.startsWith("move"))).toEqual([]);
  });

  it("keeps a zoomed view when the matrix grows, and shows all of a grown matrix shown whole", () => {
    const zoomed = { r0: 2, r1: 6, c0: 2, c1: 6 };
    expect(keptView({ rows: 10, cols: 10 }, zoomed, 11, 11)).toEqual(zoomed);
    expect(keptView({ rows: 10, cols: 10 }, { r0: 0, r1: 10, c0: 0, c1: 10 }, 11, 11)).toEqual({ r0: 0, r1: 11, c0: 0, c1: 11 });
    expect(keptView({ rows: 10, cols: 10 }, zoomed, 5, 5)).toEqual({ r0: 0, r1: 5, c0: 0, c1: 5 });
    expect(keptView(undefined, zoomed, 5, 5)).toEqual({ r0: 0, r1: 5, c0: 0, c1: 5 });
  });
});
