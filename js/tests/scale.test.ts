import { describe, expect, it } from "vitest";
import {
  colorbarTicks,
  formatValue,
  keptIndices,
  makeMapper,
  maxValue,
  niceStep,
  normalizeRowsToMax,
  normalizeRowsToSum,
  prepareDisplay,
  specialFlags,
} from "../src/scale";
import type { Matrix } from "../src/types";
import { looksSpecial, readVocabulary } from "../src/vocabulary";

/** The vocabulary as Python sends it (attnviz_widget/vocabulary.py). */
const PYTHON = readVocabulary({
  log_decades: 3,
  special_token_pattern:
    "^(\\[(CLS|SEP|PAD|MASK|UNK|BOS|EOS)\\]|</?s>|<pad>|<unk>|<mask>|<bos>|<eos>|" +
    "<\\|[a-z_]+\\|>|<\\|(begin|end|start)_of_[a-z_]+\\|>)$",
});
const LOG_DECADES = PYTHON.logDecades;

const m = (rows: number, cols: number, values: number[]): Matrix => ({ rows, cols, data: Float32Array.from(values) });

function rowSums(matrix: Matrix): number[] {
  return Array.from({ length: matrix.rows }, (_, r) =>
    matrix.data.subarray(r * matrix.cols, (r + 1) * matrix.cols).reduce((a, b) => a + b, 0),
  );
}

describe("makeMapper", () => {
  it("linear maps 0..vmax onto 0..1 and clamps", () => {
    const map = makeMapper("linear", 0.5, 3);
    expect(map(0)).toBe(0);
    expect(map(0.25)).toBe(0.5);
    expect(map(0.5)).toBe(1);
    expect(map(2)).toBe(1);
    expect(map(-1)).toBe(0);
  });

  it("sqrt lifts small values", () => {
    const map = makeMapper("sqrt", 1, 3);
    expect(map(0.25)).toBeCloseTo(0.5);
    expect(map(0.01)).toBeCloseTo(0.1);
    expect(map(1)).toBe(1);
  });

  it("log spans LOG_DECADES decades below the maximum", () => {
    const map = makeMapper("log", 0.8, 3);
    expect(map(0.8)).toBeCloseTo(1);
    expect(map(0.08)).toBeCloseTo(1 - 1 / LOG_DECADES);
    expect(map(0.8e-3)).toBe(0);
    expect(map(1e-9)).toBe(0);
    expect(map(0)).toBe(0);
  });

  it("takes the log scale's depth from the vocabulary", () => {
    const four = makeMapper("log", 1, 4);
    expect(four(1e-3)).toBeCloseTo(0.25);
    expect(four(1e-4)).toBe(0);
    expect(makeMapper("log", 1, 3)(1e-3)).toBe(0);
    const ticks = colorbarTicks("log", 1, 4).map((t) => t.value);
    expect(ticks[0]).toBeCloseTo(1e-4);
  });

  it("maps everything to 0 without a positive maximum", () => {
    for (const vmax of [0, -1, NaN, Infinity]) expect(makeMapper("sqrt", vmax, 3)(0.3)).toBe(0);
  });
});

describe("row normalisation", () => {
  it("scales each row to its maximum", () => {
    const out = normalizeRowsToMax(m(2, 3, [0.1, 0.2, 0.4, 0, 0, 0]));
    expect(Array.from(out.data)).toEqual([0.25, 0.5, 1, 0, 0, 0]);
  });

  it("scales each row to sum 1 without touching the input", () => {
    const input = m(2, 2, [1, 3, 0, 0]);
    const out = normalizeRowsToSum(input);
    expect(Array.from(out.data)).toEqual([0.25, 0.75, 0, 0]);
    expect(Array.from(input.data)).toEqual([1, 3, 0, 0]);
  });
});

describe("special tokens", () => {
  it("recognises common special tokens by text", () => {
    for (const t of ["[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>", "<|endoftext|>", "<|begin_of_text|>"]) {
      expect(looksSpecial(t, PYTHON)).toBe(true);
    }
    for (const t of ["the", "[", "<b>", "s", "CLS"]) expect(looksSpecial(t, PYTHON)).toBe(false);
  });

  it("prefers Python's flags and falls back to the text", () => {
    expect(specialFlags(["a", "[CLS]"], [true, false], PYTHON)).toEqual([true, false]);
    expect(specialFlags(["[CLS]", "a", "[SEP]"], [], PYTHON)).toEqual([true, false, true]);
    expect(Array.from(keptIndices([true, false, true, false], 4))).toEqual([1, 3]);
  });
});

describe("prepareDisplay", () => {
  // [CLS] a b [SEP], rows sum to 1
  const attention = m(4, 4, [
    0.7, 0.1, 0.1, 0.1,
    0.5, 0.2, 0.1, 0.2,
    0.4, 0.3, 0.2, 0.1,
    0.25, 0.25, 0.25, 0.25,
  ]);
  const special = [true, false, false, true];

  it("passes through when nothing is asked", () => {
    const d = prepareDisplay(attention, { hideSpecial: false, rowNormalize: false, specialRows: special, specialCols: special });
    expect(d.matrix).toBe(attention);
    expect(d.hidden).toBe(false);
    expect(d.vmax).toBeCloseTo(0.7);
    expect(Array.from(d.rowIndex)).toEqual([0, 1, 2, 3]);
  });

  it("hides special rows and columns and renormalises rows to sum 1", () => {
    const d = prepareDisplay(attention, { hideSpecial: true, rowNormalize: false, specialRows: special, specialCols: special });
    expect(d.hidden).toBe(true);
    expect([d.matrix.rows, d.matrix.cols]).toEqual([2, 2]);
    expect(Array.from(d.rowIndex)).toEqual([1, 2]);
    expect(Array.from(d.colIndex)).toEqual([1, 2]);
    for (const sum of rowSums(d.matrix)) expect(sum).toBeCloseTo(1, 6);
    expect(d.matrix.data[0]).toBeCloseTo(0.2 / 0.3);
    expect(d.matrix.data[2]).toBeCloseTo(0.3 / 0.5);
    expect([d.hiddenRows, d.hiddenCols]).toEqual([2, 2]);
    expect(attention.data[0]).toBeCloseTo(0.7); // input untouched
  });

  it("keeps everything when hiding would leave nothing", () => {
    const d = prepareDisplay(attention, { hideSpecial: true, rowNormalize: false, specialRows: [true, true, true, true], specialCols: special });
    expect(d.hidden).toBe(false);
    expect(d.matrix.rows).toBe(4);
  });

  it("row-normalises after hiding, with vmax 1", () => {
    const d = prepareDisplay(attention, { hideSpecial: true, rowNormalize: true, specialRows: special, specialCols: special });
    expect(d.vmax).toBe(1);
    expect(maxValue(d.matrix.data.subarray(0, 2))).toBeCloseTo(1);
    expect(d.matrix.data[1]).toBeCloseTo(0.1 / 0.2);
  });
});

describe("colour bar ticks", () => {
  it("gives nice linear ticks ending at vmax", () => {
    const ticks = colorbarTicks("linear", 0.8, LOG_DECADES);
    expect(ticks.map((t) => t.value)).toEqual([0, 0.2, 0.4, 0.6, 0.8]);
    expect(ticks.map((t) => t.t)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it("places sqrt ticks by the square root", () => {
    const ticks = colorbarTicks("sqrt", 1, LOG_DECADES);
    const quarter = ticks.find((t) => Math.abs(t.value - 0.2) < 1e-9);
    expect(quarter?.t).toBeCloseTo(Math.sqrt(0.2));
    expect(ticks[ticks.length - 1]).toEqual({ value: 1, t: 1 });
  });

  it("gives decades for log", () => {
    const ticks = colorbarTicks("log", 1, LOG_DECADES);
    expect(ticks.map((t) => t.value)).toEqual([0.001, 0.01, 0.1, 1]);
    for (const t of ticks) expect(t.t).toBeGreaterThanOrEqual(0);
  });

  it("copes with an all-zero matrix", () => {
    expect(colorbarTicks("sqrt", 0, LOG_DECADES)).toEqual([{ value: 0, t: 0 }]);
  });

  it("uses 1-2-5 steps", () => {
    expect(niceStep(1, 4)).toBe(0.2);
    expect(niceStep(0.37, 4)).toBeCloseTo(0.1);
    expect(niceStep(7, 4)).toBe(2);
  });
});

describe("formatValue", () => {
  it("formats attention values briefly", () => {
    expect(formatValue(0)).toBe("0");
    expect(formatValue(0.5)).toBe("0.5");
    expect(formatValue(0.03456)).toBe("0.035");
    expect(formatValue(0.03456, 3)).toBe("0.0346");
    expect(formatValue(1)).toBe("1");
    expect(formatValue(0.00012)).toBe("1.2e\u22124");
  });
});
