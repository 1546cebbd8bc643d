import { describe, expect, it } from "vitest";
import { base64ToBytes, bytesOf, float32LE, toBytes, uint16LE } from "../src/buffers";

function dataViewAt(bytes: number[], offset: number): DataView {
  const buffer = new ArrayBuffer(bytes.length + offset + 4);
  new Uint8Array(buffer, offset).set(bytes);
  return new DataView(buffer, offset, bytes.length);
}

describe("bytesOf", () => {
  it("views DataView, ArrayBuffer and typed arrays without copying", () => {
    const view = dataViewAt([1, 2, 3], 5);
    const bytes = bytesOf(view);
    expect(Array.from(bytes)).toEqual([1, 2, 3]);
    expect(bytes.buffer).toBe(view.buffer);
    expect(bytes.byteOffset).toBe(5);
    expect(Array.from(bytesOf(new Uint8Array([9, 8]).buffer))).toEqual([9, 8]);
    expect(bytesOf(new Uint16Array([1])).byteLength).toBe(2);
  });

  it("rejects non-binary input", () => {
    expect(() => bytesOf("abc" as unknown as ArrayBuffer)).toThrow(TypeError);
  });
});

describe("uint16LE", () => {
  it("views aligned data in place, honouring byteOffset", () => {
    const view = dataViewAt([0x00, 0x3c, 0x00, 0xc0], 6);
    const halves = uint16LE(view);
    expect(Array.from(halves)).toEqual([0x3c00, 0xc000]);
    expect(halves.buffer).toBe(view.buffer);
  });

  it("copies when the offset is odd", () => {
    const view = dataViewAt([0x00, 0x3c, 0x01, 0x00], 3);
    const halves = uint16LE(view);
    expect(Array.from(halves)).toEqual([0x3c00, 0x0001]);
    expect(halves.buffer).not.toBe(view.buffer);
  });

  it("rejects an odd byte count", () => {
    expect(() => uint16LE(new Uint8Array(3))).toThrow(RangeError);
  });
});

describe("float32LE", () => {
  it("reads little-endian floats at aligned and unaligned offsets", () => {
    const raw = new Uint8Array(new Float32Array([1.5, -0.25]).buffer);
    for (const offset of [0, 2, 4, 7]) {
      const values = float32LE(dataViewAt(Array.from(raw), offset));
      expect(Array.from(values)).toEqual([1.5, -0.25]);
    }
    expect(() => float32LE(new Uint8Array(6))).toThrow(RangeError);
  });
});

describe("base64", () => {
  it("decodes standard base64, ignoring whitespace", () => {
    expect(Array.from(base64ToBytes("AAE8\n/w=="))).toEqual([0, 1, 60, 255]);
    expect(Array.from(toBytes("AQI="))).toEqual([1, 2]);
    expect(Array.from(toBytes(new Uint8Array([7])))).toEqual([7]);
  });
});
