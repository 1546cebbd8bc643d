/**
 * Which tokens the token view shades, and by how much: a row of the displayed matrix
 * (direction "from": what the selected query attends to) or a column (direction "to": what
 * attends to the selected key). Pure: weights come back indexed by original token.
 */
import type { DisplayMatrix } from "./scale";
import type { Direction } from "./types";
import type { Axis } from "./tokens";

/** Input of {@link tokenWeights}. */
export interface ShadingInput {
  display: DisplayMatrix;
  /** Displayed row of each original query (-1 when hidden). */
  rowOfQuery: Int32Array;
  /** Displayed column of each original key (-1 when hidden). */
  colOfKey: Int32Array;
  direction: Direction;
  /** The selected query ("from"). */
  query: number | null;
  /** The selected key ("to"); for self-attention the selected token. */
  key: number | null;
}

/** Weights per token of one axis (NaN for tokens not shown), or null for no shading. */
export function tokenWeights(input: ShadingInput): { axis: Axis; weights: Float32Array } | null {
  const { display, direction } = input;
  const { matrix, rowIndex, colIndex } = display;
  if (direction === "from") {
    const row = input.query === null ? -1 : (input.rowOfQuery[input.query] ?? -1);
    if (row < 0) return null;
    const weights = new Float32Array(input.colOfKey.length).fill(NaN);
    for (let c = 0; c < matrix.cols; c++) weights[colIndex[c]] = matrix.data[row * matrix.cols + c];
    return { axis: "key", weights };
  }
  const col = input.key === null ? -1 : (input.colOfKey[input.key] ?? -1);
  if (col < 0) return null;
  const weights = new Float32Array(input.rowOfQuery.length).fill(NaN);
  for (let r = 0; r < matrix.rows; r++) weights[rowIndex[r]] = matrix.data[r * matrix.cols + col];
  return { axis: "query", weights };
}
