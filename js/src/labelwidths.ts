/**
 * The widest row and column label of the focused heatmap, remembered between paints. A head
 * switch keeps the tokens, so their labels need no new `measureText` (512 tokens: 1,024
 * calls, about 2 ms a side). The widths are in CSS pixels, so they depend only on the label
 * texts, which rows and columns are shown, and the font: the size of the canvas, the colour
 * scale and the device pixel ratio do not change them.
 */
import { truncateLabel } from "./layout";

/** Widest label of each axis, in CSS px. */
export interface LabelExtent {
  rows: number;
  cols: number;
}

/** What the widths are measured from: label texts by token, and the displayed tokens (original indices). */
export interface LabelSource {
  rowLabels: readonly string[];
  colLabels: readonly string[];
  rowIndex: Int32Array;
  colIndex: Int32Array;
}

/** Labels sampled per axis at most: at length they are cut to the same number of characters anyway. */
export const MAX_MEASURED = 2048;

/** The widest of `labels[index[i]]` (truncated), measuring at most {@link MAX_MEASURED} of them. */
export function widestLabel(labels: readonly string[], index: Int32Array, width: (text: string) => number): number {
  let max = 0;
  const step = Math.max(1, Math.floor(index.length / MAX_MEASURED));
  for (let i = 0; i < index.length; i += step) max = Math.max(max, width(truncateLabel(labels[index[i]] ?? "")));
  return max;
}

/** Whether two index arrays hold the same values. */
export function sameIndex(a: Int32Array, b: Int32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One heatmap's label extent, measured again only when its labels, displayed tokens or font change. */
export class LabelWidthCache {
  private last: { source: LabelSource; font: string; extent: LabelExtent } | null = null;
  /** How many times the labels were measured (for tests and profiling). */
  measured = 0;

  /**
   * The extent of `source` in `font`; `width` measures one text in that font (called only on
   * a miss). Label arrays are compared by identity (the app keeps them for a data set), the
   * displayed indices by value (a new display matrix makes new index arrays).
   */
  extent(source: LabelSource, font: string, width: (text: string) => number): LabelExtent {
    const last = this.last;
    if (
      last !== null &&
      last.font === font &&
      last.source.rowLabels === source.rowLabels &&
      last.source.colLabels === source.colLabels &&
      sameIndex(last.source.rowIndex, source.rowIndex) &&
      sameIndex(last.source.colIndex, source.colIndex)
    ) {
      return last.extent;
    }
    this.measured += 1;
    const extent = {
      rows: widestLabel(source.rowLabels, source.rowIndex, width),
      cols: widestLabel(source.colLabels, source.colIndex, width),
    };
    this.last = { source, font, extent };
    return extent;
  }

  /** Forget the extent (the next call measures). */
  clear(): void {
    this.last = null;
  }
}
