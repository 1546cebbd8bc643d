/**
 * The difference panel of a comparison view: B − A on the aligned grid of two runs, a
 * diverging colour map centred on zero with a symmetric range, and the colour bar's words
 * for which side is which. Pure functions over typed arrays; the payload they read is
 * described in `attnviz_widget/comparison/wire.py` (`align_queries`, `align_keys`,
 * `scores`, `compare_meta`). The same rules as the static figures
 * (`attnviz_widget/comparison/figures.py`): blue where A attends more, red where B does,
 * grey at gaps.
 */
import { COLORMAP_SIZE, tableFromHex, type ColorTable } from "./colormap";
import { tableWords } from "./raster";
import type { Matrix } from "./types";

/** matplotlib's RdBu_r sampled at 256 points, as RRGGBB hex: blue (negative) to red (positive). */
const RDBU_R_HEX =
  "05306106326407346708366a09386d0a3b700c3d730d3f760e41790f437b10457e114781124984134c87144e8a15508d" +
  "1752901854931956961a58991b5a9c1c5c9f1d5fa21e61a51f63a82065ab2267ac2369ad246aae266caf276eb02870b1" +
  "2a71b22b73b32c75b42e77b52f79b5307ab6327cb7337eb83480b93681ba3783bb3885bc3a87bd3b88be3c8abe3e8cbf" +
  "3f8ec0408fc14291c24393c34695c44997c54c99c64f9bc7529dc8569fc959a1ca5ca3cb5fa5cd62a7ce65a9cf68abd0" +
  "6bacd16eaed271b0d375b2d478b4d57bb6d67eb8d781bad884bcd987beda8ac0db8dc2dc90c4dd93c6de96c7df98c8e0" +
  "9bc9e09dcbe1a0cce2a2cde3a5cee3a7d0e4a9d1e5acd2e5aed3e6b1d5e7b3d6e8b6d7e8b8d8e9bbdaeabddbeac0dceb" +
  "c2ddecc5dfecc7e0edcae1eecce2efcfe4efd1e5f0d2e6f0d4e6f1d5e7f1d7e8f1d8e9f1dae9f2dbeaf2ddebf2deebf2" +
  "e0ecf3e1edf3e3edf3e4eef4e6eff4e7f0f4e9f0f4eaf1f5ecf2f5edf2f5eff3f5f0f4f6f2f5f6f3f5f6f5f6f7f6f7f7" +
  "f7f6f6f7f5f4f8f4f2f8f3f0f8f2eff8f1edf9f0ebf9efe9f9eee7f9ede5f9ebe3faeae1fae9dffae8defae7dcfbe6da" +
  "fbe5d8fbe4d6fbe3d4fce2d2fce0d0fcdfcffcdecdfdddcbfddcc9fddbc7fdd9c4fcd7c2fcd5bffcd3bcfbd0b9fbceb7" +
  "fbccb4facab1fac8aff9c6acf9c4a9f9c2a7f8bfa4f8bda1f8bb9ef7b99cf7b799f7b596f6b394f6b191f6af8ef5ac8b" +
  "f5aa89f5a886f4a683f3a481f2a17ff19e7df09c7bef9979ee9677ec9374eb9172ea8e70e98b6ee8896ce6866ae58368" +
  "e48066e37e64e27b62e17860df765ede735cdd7059dc6e57db6b55da6853d86551d7634fd6604dd55d4cd35a4ad25849" +
  "d05548cf5246ce4f45cc4c44cb4942c94741c84440c6413ec53e3dc43b3cc2383ac13639bf3338be3036bd2d35bb2a34" +
  "ba2832b82531b72230b61f2eb41c2db3192cb1182bae172aab162aa81529a51429a213289f12289c1127991027960f27" +
  "930e26900d268d0c258a0b25870a248409248108237f08237c07227906227605217304217003206d02206a011f67001f";

/** The diverging table of B − A (shared and read-only by convention). */
export const RDBU_R: ColorTable = tableFromHex(RDBU_R_HEX);

/** Grey of a gap (a token one side lacks), as the static figures draw it (#d9d9d9). */
export const GAP_RGBA: readonly [number, number, number, number] = [0xd9, 0xd9, 0xd9, 255];
const GAP_TABLE: ColorTable = Uint8ClampedArray.from(GAP_RGBA);

/** One axis of an alignment: each column's token index on side A and on side B, -1 at a gap. */
export interface Alignment {
  readonly a: Int32Array;
  readonly b: Int32Array;
}

/** Decode int32 `(2, columns)` little-endian bytes: A's row, then B's. */
export function decodeAlignment(bytes: Uint8Array): Alignment {
  if (bytes.byteLength % 8 !== 0) throw new Error(`alignment of ${bytes.byteLength} bytes is not (2, columns) int32`);
  const columns = bytes.byteLength / 8;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const a = new Int32Array(columns);
  const b = new Int32Array(columns);
  for (let i = 0; i < columns; i++) {
    a[i] = view.getInt32(4 * i, true);
    b[i] = view.getInt32(4 * (columns + i), true);
  }
  return { a, b };
}

/** The token on the other side aligned with token `index` of `side`, or -1 (a gap, or no such token). */
export function partner(alignment: Alignment, side: "a" | "b", index: number): number {
  const from = side === "a" ? alignment.a : alignment.b;
  const to = side === "a" ? alignment.b : alignment.a;
  const column = from.indexOf(index);
  return column < 0 || index < 0 ? -1 : to[column];
}

/**
 * The columns of `keys` where both sides have a key, as runs over which both sides' keys step
 * by one: `[column, keyA, keyB, length]` per run, flattened (a gap or a jump ends a run).
 */
export function keyRuns(keys: Alignment): Int32Array {
  const runs: number[] = [];
  const cols = keys.a.length;
  for (let j = 0; j < cols; ) {
    const ka = keys.a[j];
    const kb = keys.b[j];
    if (ka < 0 || kb < 0) {
      j++;
      continue;
    }
    let n = 1;
    while (j + n < cols && keys.a[j + n] === ka + n && keys.b[j + n] === kb + n) n++;
    runs.push(j, ka, kb, n);
    j += n;
  }
  return Int32Array.from(runs);
}

/** The smallest half-range of the colour bar, so an all-zero difference has a scale. */
const MIN_RANGE = 1e-6;

/** Table index of `value` on a scale from `-range` (0) through 0 (the middle) to `range` (255); -1 for NaN. */
export function divergingIndex(value: number, range: number): number {
  if (Number.isNaN(value)) return -1;
  const t = (value / range + 1) / 2;
  if (!(t > 0)) return 0;
  return t >= 1 ? COLORMAP_SIZE - 1 : Math.floor(t * COLORMAP_SIZE);
}

/** The picture of B − A on the aligned grid, and the half-range it is coloured on. */
export interface DifferencePicture {
  rows: number;
  cols: number;
  /** RGBA, one pixel per aligned cell, row-major. */
  pixels: Uint8ClampedArray;
  /** The largest |B − A| (float32) of a cell both sides have, at least 1e-6: the colour bar's half-range. */
  range: number;
}

/**
 * The colour bar's half-range of B − A on the aligned grid: the largest |B − A| (as float32)
 * of a cell both sides have, at least 1e-6 (so an all-zero difference has a scale). One pass
 * over the aligned cells, reading the two matrices directly; `runs` are {@link keyRuns}.
 */
export function differenceRange(a: Matrix, b: Matrix, queries: Alignment, runs: Int32Array): number {
  const valuesA = a.data;
  const valuesB = b.data;
  let largest = 0;
  for (let i = 0; i < queries.a.length; i++) {
    const qa = queries.a[i];
    const qb = queries.b[i];
    if (qa < 0 || qb < 0) continue;
    for (let r = 0; r < runs.length; r += 4) {
      const fromA = qa * a.cols + runs[r + 1];
      const fromB = qb * b.cols + runs[r + 2];
      const n = runs[r + 3];
      for (let t = 0; t < n; t++) {
        const d = Math.fround(valuesB[fromB + t] - valuesA[fromA + t]);
        if (d > largest) largest = d;
        else if (-d > largest) largest = -d; // NaN compares false: skipped
      }
    }
  }
  return Math.max(largest, MIN_RANGE);
}

/**
 * B − A of one head on the aligned grid (`queries.a.length × keys.a.length` cells), drawn:
 * a cell both sides have gets `table[divergingIndex(B − A, range)]` (the difference as
 * float32), a cell one side lacks (a gap row or column, never a shifted row) the gap grey.
 * `range` is {@link differenceRange}, found here unless the caller knows it already (a view
 * keeps it per head); then one pass over the cells, reading the two matrices directly, with
 * no grid of differences in between. `runs` are {@link keyRuns} of `keys` (a view keeps
 * them), `out` a buffer to fill when it is large enough (a head switch reuses the last one).
 */
export function differencePicture(
  a: Matrix,
  b: Matrix,
  queries: Alignment,
  keys: Alignment,
  runs: Int32Array = keyRuns(keys),
  table: ColorTable = RDBU_R,
  out?: Uint8ClampedArray,
  range: number = differenceRange(a, b, queries, runs),
): DifferencePicture {
  const rows = queries.a.length;
  const cols = keys.a.length;
  const size = rows * cols * 4;
  const pixels = out !== undefined && out.length >= size && out.byteOffset % 4 === 0 ? out : new Uint8ClampedArray(size);
  // whole RGBA pixels as uint32 (the same bytes in the same order on any platform)
  const words = new Uint32Array(pixels.buffer, pixels.byteOffset, rows * cols);
  const valuesA = a.data;
  const valuesB = b.data;
  const colors = tableWords(table);
  const gap = tableWords(GAP_TABLE)[0];
  const top = COLORMAP_SIZE - 1;
  for (let i = 0; i < rows; i++) {
    const qa = queries.a[i];
    const qb = queries.b[i];
    const row = i * cols;
    words.fill(gap, row, row + cols); // the runs overwrite every column both sides have
    if (qa < 0 || qb < 0) continue;
    for (let r = 0; r < runs.length; r += 4) {
      const at = row + runs[r];
      const fromA = qa * a.cols + runs[r + 1];
      const fromB = qb * b.cols + runs[r + 2];
      const n = runs[r + 3];
      for (let t = 0; t < n; t++) {
        // divergingIndex, written out: the same arithmetic, so the same pixels
        const d = Math.fround(valuesB[fromB + t] - valuesA[fromA + t]);
        const x = (d / range + 1) / 2;
        words[at + t] = d !== d ? gap : colors[x > 0 ? (x >= 1 ? top : Math.floor(x * COLORMAP_SIZE)) : 0];
      }
    }
  }
  return { rows, cols, pixels, range };
}

/** The colour bar's caption: which colour means which side, with the sides' names. */
export function differenceCaption(names: readonly [string, string]): string {
  return `B − A: red = more in ${names[1]}, blue = more in ${names[0]}`;
}

/** One metric's `(layers, heads)` score grid out of the float32 `(metrics, layers, heads)` bytes. */
export function scoreGrid(bytes: Uint8Array, metric: number, layers: number, heads: number): Matrix {
  const size = layers * heads;
  if (metric < 0 || bytes.byteLength < 4 * size * (metric + 1)) {
    throw new Error(`scores of ${bytes.byteLength} bytes hold no metric ${metric} of ${layers} × ${heads} heads`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = view.getFloat32(4 * (metric * size + i), true);
  return { rows: layers, cols: heads, data };
}
