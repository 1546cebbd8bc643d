/**
 * The focused matrix: one head of a layer, the mean or max over its heads, or the rollout
 * through it, obtained through the layer and rollout requests of the model adapter.
 */
import { maxOverHeads, meanOverHeads, stackSlice } from "./aggregate";
import type { HeadChoice, Matrix, Stack } from "./types";

/** Where full-resolution data come from (the model adapter, or a test double). */
export interface StackSource {
  requestLayer(layer: number): Promise<Stack>;
  requestRollout(): Promise<Stack>;
  /** A matrix that came with the data, if it is this one (see `ModelAdapter.firstMatrix`). */
  firstMatrix?(layer: number, head: HeadChoice): Matrix | null;
  /** The stack of layer `layer` if it is already here (no request), else null. */
  loadedLayer?(layer: number): Stack | null;
  /** The rollout stack if it is already here, else null. */
  loadedRollout?(): Stack | null;
}

/** Head `head` (or the aggregate) of one layer's `[heads, Q, K]` stack. */
function pick(stack: Stack, head: Exclude<HeadChoice, "rollout">): Matrix {
  if (typeof head === "number") return stackSlice(stack, head);
  if (head === "mean") return meanOverHeads(stack);
  if (head === "max") return maxOverHeads(stack);
  throw new RangeError(`unknown aggregate "${head}"`);
}

function rolloutPosition(layerIndices: readonly number[], layer: number): number {
  const position = layerIndices.indexOf(layer);
  if (position < 0) throw new RangeError(`layer ${layer} is not among the kept layers`);
  return position;
}

/**
 * The matrix {@link loadFocusedMatrix} would give, if what it needs is already here (sent with
 * the data, or a layer or rollout that arrived); null when it must be asked for. A head switch
 * on a loaded layer so paints at once, with no "Loading…" pass and no wait for a microtask.
 */
export function loadedFocusedMatrix(
  source: StackSource,
  layerIndices: readonly number[],
  layer: number,
  head: HeadChoice,
): Matrix | null {
  const sent = source.firstMatrix?.(layer, head);
  if (sent) return sent;
  if (head === "rollout") {
    const rollout = source.loadedRollout?.() ?? null;
    return rollout && stackSlice(rollout, rolloutPosition(layerIndices, layer));
  }
  const stack = source.loadedLayer?.(layer) ?? null;
  return stack && pick(stack, head);
}

/**
 * The `Q × K` matrix of `head` at model layer `layer`: what is already here at once (see
 * {@link loadedFocusedMatrix}), else asked for. Rollout comes as one stack over the kept
 * layers, so its slice is the position of `layer` in `layerIndices`.
 */
export async function loadFocusedMatrix(
  source: StackSource,
  layerIndices: readonly number[],
  layer: number,
  head: HeadChoice,
): Promise<Matrix> {
  const here = loadedFocusedMatrix(source, layerIndices, layer, head);
  if (here) return here;
  if (head === "rollout") {
    const position = rolloutPosition(layerIndices, layer);
    return stackSlice(await source.requestRollout(), position);
  }
  return pick(await source.requestLayer(layer), head);
}

/** Why a matrix cannot be shown with these tokens, or null when its shape fits. */
export function shapeProblem(matrix: Matrix, numQueries: number, numKeys: number): string | null {
  if (matrix.rows === numQueries && matrix.cols === numKeys) return null;
  return `attention is ${matrix.rows}\u00d7${matrix.cols} but there are ${numQueries} query and ${numKeys} key tokens`;
}
