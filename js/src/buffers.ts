/**
 * Typed views over binary payloads as anywidget delivers them: a DataView (bytes traits,
 * custom-message buffers), an ArrayBuffer, or any typed array. Views honour `byteOffset`;
 * a copy is made only when the offset is not aligned to the element size (or, on a
 * big-endian platform, to swap bytes: the wire format is little-endian).
 */

export type BinaryLike = ArrayBuffer | ArrayBufferView;

const PLATFORM_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The bytes of `src`, as a view over the same memory. */
export function bytesOf(src: BinaryLike): Uint8Array {
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  throw new TypeError(`expected binary data (ArrayBuffer or a view), got ${describe(src)}`);
}

/** Little-endian uint16 values of `src` (a view when aligned, else a copy). */
export function uint16LE(src: BinaryLike): Uint16Array {
  const bytes = bytesOf(src);
  if (bytes.byteLength % 2 !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of 2-byte values`);
  }
  const n = bytes.byteLength / 2;
  if (PLATFORM_LITTLE_ENDIAN) {
    if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    return new Uint16Array(bytes.slice().buffer);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, true);
  return out;
}

/** Little-endian float32 values of `src` (a view when aligned, else a copy). */
export function float32LE(src: BinaryLike): Float32Array {
  const bytes = bytesOf(src);
  if (bytes.byteLength % 4 !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of 4-byte values`);
  }
  const n = bytes.byteLength / 4;
  if (PLATFORM_LITTLE_ENDIAN) {
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    return new Float32Array(bytes.slice().buffer);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/** Decode standard base64 (as used to embed buffers in a self-contained HTML file). */
export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text.replace(/\s+/g, ""));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** A binary payload from base64 text or binary data. */
export function toBytes(src: string | BinaryLike): Uint8Array {
  return typeof src === "string" ? base64ToBytes(src) : bytesOf(src);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return typeof value;
}
