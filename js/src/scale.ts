/**
 * Value transforms between attention weights and colour: the linear / sqrt / log colour
 * scales, per-row normalisation, and hiding special tokens with row renormalisation.
 * All functions are pure: they never modify their inputs.
 */
import type { ColorScale, Matrix } from "./types";
import { looksSpecial, type Vocabulary } from "./vocabulary";

/**
 * What a {@link makeMapper} mapper computes, so a loop over many cells (`raster.ts`) can do
 * the same arithmetic inline instead of calling a closure per cell: `scale` and its constants.
 */
export interface MapperSpec {
  readonly scale: ColorScale | "zero";
  /** `1 / vmax`. */
  readonly inv: number;
  /** Log scale: values at or below `floor` map to 0; `logFloor` is its log10. */
  readonly floor: number;
  readonly logFloor: number;
  readonly logDecades: number;
}

/** Maps a value to a colour position in [0, 1]; `spec` says how, when {@link makeMapper} made it. */
export type ValueMapper = ((value: number) => number) & { readonly spec?: MapperSpec };

/**
 * A mapper for `scale` over `[0, vmax]` (a non-positive or non-finite vmax maps all to 0).
 * The log scale spans `logDecades` decades below `vmax` (`meta.vocabulary.log_decades`);
 * smaller values take the lowest colour.
 */
export function makeMapper(scale: ColorScale, vmax: number, logDecades: number): ValueMapper {
  const spec = mapperSpec(scale, vmax, logDecades);
  const { inv, floor, logFloor } = spec;
  switch (spec.scale) {
    case "zero":
      return Object.assign(() => 0, { spec });
    case "linear":
      return Object.assign((v: number) => (v > 0 ? Math.min(v * inv, 1) : 0), { spec });
    case "sqrt":
      return Object.assign((v: number) => (v > 0 ? Math.sqrt(Math.min(v * inv, 1)) : 0), { spec });
    case "log":
      return Object.assign((v: number) => (v > floor ? Math.min((Math.log10(v) - logFloor) / logDecades, 1) : 0), { spec });
  }
}

function mapperSpec(scale: ColorScale, vmax: number, logDecades: number): MapperSpec {
  if (!(vmax > 0) || !Number.isFinite(vmax)) return { scale: "zero", inv: 0, floor: 0, logFloor: 0, logDecades };
  const floor = vmax * 10 ** -logDecades;
  return { scale, inv: 1 / vmax, floor, logFloor: Math.log10(floor), logDecades };
}

/** Largest finite value of `data` (0 when empty or all non-finite). */
export function maxValue(data: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v > max && v !== Infinity) max = v;
  }
  return max;
}

/** Each row divided by its own maximum (rows that are all zero stay zero). */
export function normalizeRowsToMax(m: Matrix): Matrix {
  const { rows, cols, data } = m;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * cols, (r + 1) * cols);
    const max = maxValue(row);
    if (max > 0) {
      const inv = 1 / max;
      for (let c = 0; c < cols; c++) out[r * cols + c] = row[c] * inv;
    }
  }
  return { rows, cols, data: out };
}

/** Each row divided by its sum, so it sums to 1 (rows that sum to zero stay zero). */
export function normalizeRowsToSum(m: Matrix): Matrix {
  const { rows, cols, data } = m;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += data[r * cols + c];
    if (sum > 0) {
      const inv = 1 / sum;
      for (let c = 0; c < cols; c++) out[r * cols + c] = data[r * cols + c] * inv;
    }
  }
  return { rows, cols, data: out };
}

/** The rows and columns `keepRows` × `keepCols` of `m` (indices into the original). */
export function selectSubmatrix(m: Matrix, keepRows: Int32Array, keepCols: Int32Array): Matrix {
  const rows = keepRows.length;
  const cols = keepCols.length;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const src = keepRows[r] * m.cols;
    for (let c = 0; c < cols; c++) out[r * cols + c] = m.data[src + keepCols[c]];
  }
  return { rows, cols, data: out };
}

/** `[0, 1, …, n-1]`. */
export function identityIndex(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

/** For each of `n` original indices, its position in `index` (-1 when absent). */
export function inverseIndex(index: Int32Array, n: number): Int32Array {
  const out = new Int32Array(n).fill(-1);
  for (let i = 0; i < index.length; i++) out[index[i]] = i;
  return out;
}

/** Indices `i` where `hidden[i]` is false. */
export function keptIndices(hidden: readonly boolean[], n: number): Int32Array {
  const kept: number[] = [];
  for (let i = 0; i < n; i++) if (!hidden[i]) kept.push(i);
  return Int32Array.from(kept);
}

/**
 * Per-token special flags: Python's `special` list when it matches the tokens, otherwise a
 * guess from the token text with the vocabulary's special-token pattern.
 */
export function specialFlags(tokens: readonly string[], flags: readonly boolean[], vocabulary: Vocabulary): boolean[] {
  if (flags.length === tokens.length) return flags.map(Boolean);
  return tokens.map((token) => looksSpecial(token, vocabulary));
}

/** Options of the display pipeline. */
export interface DisplayOptions {
  hideSpecial: boolean;
  rowNormalize: boolean;
  /** Query (row) special flags, length `rows`. */
  specialRows: readonly boolean[];
  /** Key (column) special flags, length `cols`. */
  specialCols: readonly boolean[];
}

/** A matrix as displayed, with the map from displayed rows/columns back to token indices. */
export interface DisplayMatrix {
  matrix: Matrix;
  /** Original query index of each displayed row. */
  rowIndex: Int32Array;
  /** Original key index of each displayed column. */
  colIndex: Int32Array;
  /** Colour-scale maximum: 1 with row normalisation, else the largest value. */
  vmax: number;
  /** Special rows/columns were removed and rows renormalised to sum 1. */
  hidden: boolean;
  /** How many rows and columns were removed. */
  hiddenRows: number;
  hiddenCols: number;
}

/**
 * The display pipeline: optionally remove special-token rows and columns and renormalise
 * the remaining rows to sum 1, then optionally scale each row to its maximum.
 * Hiding is skipped when it would leave no rows or no columns.
 */
export function prepareDisplay(source: Matrix, options: DisplayOptions): DisplayMatrix {
  let matrix = source;
  let rowIndex = identityIndex(source.rows);
  let colIndex = identityIndex(source.cols);
  let hidden = false;
  if (options.hideSpecial) {
    const rows = keptIndices(options.specialRows, source.rows);
    const cols = keptIndices(options.specialCols, source.cols);
    const removes = rows.length < source.rows || cols.length < source.cols;
    if (removes && rows.length > 0 && cols.length > 0) {
      matrix = normalizeRowsToSum(selectSubmatrix(source, rows, cols));
      rowIndex = rows;
      colIndex = cols;
      hidden = true;
    }
  }
  if (options.rowNormalize) matrix = normalizeRowsToMax(matrix);
  return {
    matrix,
    rowIndex,
    colIndex,
    // a head as decoded knows its maximum; a matrix with rows or columns hidden is new
    vmax: options.rowNormalize ? 1 : matrix === source && source.max !== undefined ? source.max : maxValue(matrix.data),
    hidden,
    hiddenRows: source.rows - rowIndex.length,
    hiddenCols: source.cols - colIndex.length,
  };
}

/** A tick of the colour bar: value and its position in [0, 1]. */
export interface Tick {
  value: number;
  t: number;
}

/** A 1-2-5 step giving about `count` intervals over `range`. */
export function niceStep(range: number, count: number): number {
  const raw = range / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  const nice = unit < 1.5 ? 1 : unit < 3.5 ? 2 : unit < 7.5 ? 5 : 10;
  return nice * power;
}

/** Colour-bar ticks for `scale` over `[0, vmax]`: nice values, decades for log. */
export function colorbarTicks(scale: ColorScale, vmax: number, logDecades: number): Tick[] {
  if (!(vmax > 0) || !Number.isFinite(vmax)) return [{ value: 0, t: 0 }];
  const map = makeMapper(scale, vmax, logDecades);
  const values: number[] = [];
  if (scale === "log") {
    const floor = vmax * 10 ** -logDecades;
    values.push(floor);
    for (let p = Math.ceil(Math.log10(floor) + 1e-9); 10 ** p < vmax * 0.75; p++) {
      if (10 ** p > floor * 1.5) values.push(10 ** p);
    }
  } else {
    const step = niceStep(vmax, 4);
    for (let v = 0; v < vmax * 0.85; v += step) values.push(Number(v.toPrecision(12)));
  }
  values.push(vmax);
  return values.map((value) => ({ value, t: map(value) }));
}

/** A short human form of an attention value: 0, 0.034, 0.5, 1, 1.2e−4 (`digits` significant). */
export function formatValue(value: number, digits = 2): string {
  if (value === 0) return "0";
  if (!Number.isFinite(value)) return String(value);
  const a = Math.abs(value);
  if (a < 1e-3) return value.toExponential(Math.max(digits - 1, 0)).replace("e-", "e\u2212");
  return String(Number(value.toPrecision(a < 1 ? digits : Math.max(digits, 3))));
}
