/**
 * IEEE 754 half-precision floats: decoding through a 65,536-entry lookup table (one table
 * read per value, no branches), and an exact round-to-nearest-even encoder.
 */

/** float32 value of every 16-bit pattern; built once at import (256 KiB), never mutated. */
const TABLE: Float32Array = buildTable();

function buildTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) table[bits] = halfBitsToNumber(bits);
  return table;
}

/** The number a 16-bit half-float pattern stands for (NaN and ±Infinity included). */
export function halfBitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Decode half floats into float32 (into `out` when given; it must be at least as long). */
export function decodeFloat16(halves: Uint16Array, out?: Float32Array): Float32Array {
  const n = halves.length;
  const result = out ?? new Float32Array(n);
  if (result.length < n) throw new RangeError(`output holds ${result.length} values, need ${n}`);
  const table = TABLE;
  for (let i = 0; i < n; i++) result[i] = table[halves[i]];
  return result;
}

/** Bit pattern of +Infinity: the positive finite halves are the patterns below it. */
const POSITIVE_INFINITY_BITS = 0x7c00;

/**
 * Decode `slices` equal parts of `halves` (a layer's heads) into float32, and the largest
 * finite value of each part (0 when none is positive), as `maxValue` of the decoded part
 * would find it, in the same pass: positive finite halves order as their bit patterns do.
 * A head switch so needs no pass over the matrix for its colour scale's maximum.
 */
export function decodeFloat16Slices(halves: Uint16Array, slices: number): { values: Float32Array; maxima: Float32Array } {
  const n = halves.length;
  if (slices <= 0 || n % slices !== 0) throw new RangeError(`${n} values do not split into ${slices} equal slices`);
  const size = n / slices;
  const values = new Float32Array(n);
  const maxima = new Float32Array(slices);
  const table = TABLE;
  for (let s = 0, i = 0; s < slices; s++) {
    let top = 0;
    for (const end = i + size; i < end; i++) {
      const h = halves[i];
      values[i] = table[h];
      if (h > top && h < POSITIVE_INFINITY_BITS) top = h;
    }
    maxima[s] = table[top];
  }
  return { values, maxima };
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const frac = x - floor;
  if (frac > 0.5) return floor + 1;
  if (frac < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The half-float bit pattern nearest to `value` (ties to even; overflow to ±Infinity). */
export function encodeFloat16(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a >= 65520) return sign | 0x7c00; // 65504 is the largest half; 65520 rounds up to Infinity
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24); // subnormal (1024 -> smallest normal)
  let exponent = Math.floor(Math.log2(a));
  if (2 ** exponent > a) exponent -= 1; // guard log2 rounding
  else if (2 ** (exponent + 1) <= a) exponent += 1;
  let mantissa = roundHalfEven((a / 2 ** exponent - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    exponent += 1;
  }
  if (exponent > 15) return sign | 0x7c00;
  return sign | ((exponent + 15) << 10) | mantissa;
}

/** Encode numbers as half floats (for tests, demos and the standalone model). */
export function encodeFloat16Array(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encodeFloat16(values[i]);
  return out;
}
