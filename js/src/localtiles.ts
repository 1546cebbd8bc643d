/**
 * `tile` and `row` answers computed from embedded float16 stacks, for the offline page's
 * `LocalModel` (`standalone.ts`): the same blocks, pooling and refusals as Python's
 * `attnviz_widget/protocol.py` (checked by the shared fixtures in `tests/protocol_fixtures`).
 * Attention values are non-negative, so the max of float16 values is the max of their bit
 * patterns: heads, max-over-heads and rollout tiles are exact, bit for bit.
 */
import { decodeFloat16, encodeFloat16Array } from "./float16";
import type { Block } from "./types";

/** A float16 stack `[n, rows, cols]` as raw half bits. */
export interface HalfStack {
  n: number;
  rows: number;
  cols: number;
  halves: Uint16Array;
}

/** Why `block` cannot be cut from a `rows × cols` matrix (Python's wording), or null. */
export function blockProblem(block: Block, rows: number, cols: number): string | null {
  const { q0, q1, k0, k1, pool } = block;
  if (!(0 <= q0 && q0 < q1 && q1 <= rows && 0 <= k0 && k0 < k1 && k1 <= cols)) {
    return `tile [${q0}:${q1}, ${k0}:${k1}] is outside the matrix; queries run 0 to ${rows}, keys 0 to ${cols}`;
  }
  if (!(Number.isInteger(pool) && pool >= 1)) return `pool must be a positive integer, got ${pool}`;
  return null;
}

/** Shape of a pooled block: `ceil((q1 - q0) / pool) × ceil((k1 - k0) / pool)`. */
export function pooledShape(block: Block): [number, number] {
  return [Math.ceil((block.q1 - block.q0) / block.pool), Math.ceil((block.k1 - block.k0) / block.pool)];
}

/**
 * Max over `pool × pool` blocks (from the block's top-left corner) of slices `slices` of
 * `stack`, and over those slices: one slice is a head, every slice is max over heads.
 */
export function pooledMaxHalves(stack: HalfStack, slices: readonly number[], block: Block): Uint16Array {
  const [rows, cols] = pooledShape(block);
  const out = new Uint16Array(rows * cols);
  const { q0, q1, k0, k1, pool } = block;
  const column = new Int32Array(k1 - k0); // pooled column of each key, computed once
  for (let k = k0; k < k1; k++) column[k - k0] = ((k - k0) / pool) | 0;
  const { halves } = stack;
  for (const slice of slices) {
    const base = slice * stack.rows * stack.cols;
    for (let q = q0; q < q1; q++) {
      const outRow = (((q - q0) / pool) | 0) * cols;
      const src = base + q * stack.cols + k0;
      for (let k = 0; k < k1 - k0; k++) {
        const o = outRow + column[k];
        const v = halves[src + k];
        if (v > out[o] && v < 0x7c00) out[o] = v; // non-negative finite halves order as their bits
      }
    }
  }
  return out;
}

/** Mean over all slices of `stack` (the heads of a layer), pooled by max: float16 bits. */
export function pooledMeanHalves(stack: HalfStack, block: Block): Uint16Array {
  const { q0, q1, k0, k1 } = block;
  const width = k1 - k0;
  const mean = new Float32Array((q1 - q0) * width);
  for (let h = 0; h < stack.n; h++) {
    const values = decodeFloat16(stack.halves.subarray(h * stack.rows * stack.cols, (h + 1) * stack.rows * stack.cols));
    for (let q = q0; q < q1; q++) {
      for (let k = k0; k < k1; k++) mean[(q - q0) * width + (k - k0)] += values[q * stack.cols + k] / stack.n;
    }
  }
  const halves = encodeFloat16Array(mean);
  const local: HalfStack = { n: 1, rows: q1 - q0, cols: width, halves };
  return pooledMaxHalves(local, [0], { ...block, q0: 0, q1: q1 - q0, k0: 0, k1: width });
}
