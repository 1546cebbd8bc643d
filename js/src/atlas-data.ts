/**
 * The head atlas's data, as `attnviz_widget/stats/atlas_wire.py` sends them, and the pure
 * helpers of its view: decoding, the colour range of a metric, sorting the table, and the
 * readout of one head. No DOM here.
 */
import { bytesOf, float32LE, type BinaryLike } from "./buffers";

/** `atlas_meta`: one entry per metric in `metrics`' order, plus the grid's size. */
export interface AtlasMeta {
  readonly metrics: string[];
  readonly titles: string[];
  /** The metric is probability mass: coloured on 0 to 1 (else its own min to max). */
  readonly unit: boolean[];
  /** The metric has top texts, so clicking a head opens one. */
  readonly openable: boolean[];
  readonly layers: number;
  readonly heads: number;
  readonly model: string;
  readonly corpus: string;
  readonly texts: number;
  readonly can_open: boolean;
}

/** Every metric of every head: `(metrics, layers, heads)` each, row-major. */
export interface AtlasValues {
  readonly mean: Float32Array;
  readonly std: Float32Array;
  readonly count: Float32Array;
}

/** Decode `atlas_values`: float32 `(3, metrics, layers, heads)` → mean, std, count. */
export function decodeAtlas(raw: BinaryLike, meta: AtlasMeta): AtlasValues {
  const size = meta.metrics.length * meta.layers * meta.heads;
  const bytes = bytesOf(raw);
  if (bytes.byteLength !== 3 * size * 4) {
    throw new Error(`atlas_values holds ${bytes.byteLength} bytes; expected ${3 * size * 4} for 3 × ${size} float32`);
  }
  const all = float32LE(bytes);
  return { mean: all.subarray(0, size), std: all.subarray(size, 2 * size), count: all.subarray(2 * size) };
}

/** The `(layers, heads)` slice of metric `slot` in `values`. */
export function metricSlice(values: Float32Array, meta: AtlasMeta, slot: number): Float32Array {
  const cells = meta.layers * meta.heads;
  return values.subarray(slot * cells, (slot + 1) * cells);
}

/** The colour range of metric `slot`: [0, 1] for probability mass, else the finite min and max. */
export function metricRange(grid: ArrayLike<number>, unit: boolean): [number, number] {
  if (unit) return [0, 1];
  let low = Infinity;
  let high = -Infinity;
  for (let i = 0; i < grid.length; i++) {
    const v = grid[i];
    if (!Number.isFinite(v)) continue;
    if (v < low) low = v;
    if (v > high) high = v;
  }
  return low <= high ? [low, high] : [0, 1];
}

/** A value for the table and the readout: three significant decimals, "–" for NaN. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return "–";
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toFixed(3);
}

/** What the table is sorted by: a column (`"layer"`, `"head"` or a metric slot) and the direction. */
export interface SortOrder {
  readonly column: "layer" | "head" | number;
  readonly descending: boolean;
}

/**
 * The heads (`layer * heads + head`) in table order: by `order`'s column, NaN always last,
 * ties by layer then head.
 */
export function sortHeads(meta: AtlasMeta, mean: Float32Array, order: SortOrder): number[] {
  const cells = meta.layers * meta.heads;
  const key = (cell: number): number => {
    if (order.column === "layer") return Math.floor(cell / meta.heads);
    if (order.column === "head") return cell % meta.heads;
    return mean[order.column * cells + cell];
  };
  const sign = order.descending ? -1 : 1;
  return Array.from({ length: cells }, (_, i) => i).sort((a, b) => {
    const x = key(a);
    const y = key(b);
    const xNaN = Number.isNaN(x);
    const yNaN = Number.isNaN(y);
    if (xNaN !== yNaN) return xNaN ? 1 : -1;
    if (!xNaN && x !== y) return sign * (x - y);
    return a - b;
  });
}

/** The next order after a click on `column`: the same column flips, a new one starts descending (layer/head ascending). */
export function nextOrder(current: SortOrder, column: SortOrder["column"]): SortOrder {
  if (current.column === column) return { column, descending: !current.descending };
  return { column, descending: typeof column === "number" };
}

/** The readout of head `(layer, head)`: a title line, then `name: mean ± std (n texts)` per metric. */
export function headReadout(meta: AtlasMeta, values: AtlasValues, layer: number, head: number): string[] {
  const cells = meta.layers * meta.heads;
  const cell = layer * meta.heads + head;
  const lines = [`layer ${layer}, head ${head}`];
  meta.metrics.forEach((name, slot) => {
    const i = slot * cells + cell;
    lines.push(`${name}: ${formatValue(values.mean[i])} ± ${formatValue(values.std[i])} (n=${values.count[i]})`);
  });
  return lines;
}
