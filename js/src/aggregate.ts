/**
 * Aggregates over the heads of one layer, computed from the decoded full-resolution layer
 * (rollout is not computed here: Python sends it, see PROTOCOL.md).
 */
import type { Matrix, Stack } from "./types";

/** Matrix `index` of a stack, as a view (no copy). */
export function stackSlice(stack: Stack, index: number): Matrix {
  if (!Number.isInteger(index) || index < 0 || index >= stack.n) {
    throw new RangeError(`index ${index} outside 0..${stack.n - 1}`);
  }
  const size = stack.rows * stack.cols;
  const data = stack.data.subarray(index * size, (index + 1) * size);
  const max = stack.maxima?.[index];
  return max === undefined ? { rows: stack.rows, cols: stack.cols, data } : { rows: stack.rows, cols: stack.cols, data, max };
}

/** Element-wise mean over the heads of a layer `[heads, Q, K]`. */
export function meanOverHeads(stack: Stack): Matrix {
  const size = stack.rows * stack.cols;
  const sum = new Float64Array(size);
  const { data, n } = stack;
  for (let h = 0; h < n; h++) {
    const base = h * size;
    for (let i = 0; i < size; i++) sum[i] += data[base + i];
  }
  const out = new Float32Array(size);
  if (n > 0) for (let i = 0; i < size; i++) out[i] = sum[i] / n;
  return { rows: stack.rows, cols: stack.cols, data: out };
}

/** Element-wise maximum over the heads of a layer `[heads, Q, K]`. */
export function maxOverHeads(stack: Stack): Matrix {
  const size = stack.rows * stack.cols;
  const { data, n } = stack;
  const out = n > 0 ? data.slice(0, size) : new Float32Array(size);
  for (let h = 1; h < n; h++) {
    const base = h * size;
    for (let i = 0; i < size; i++) {
      const v = data[base + i];
      if (v > out[i]) out[i] = v;
    }
  }
  return { rows: stack.rows, cols: stack.cols, data: out };
}
