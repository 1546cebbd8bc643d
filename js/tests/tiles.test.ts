import { describe, expect, it } from "vitest";
import type { Tile } from "../src/decode";
import { RequestError } from "../src/protocol";
import { TileStore, type TileSource } from "../src/tiles";
import type { Block, HeadChoice } from "../src/types";
import { tileBlock } from "../src/zoom";

/** A tile source whose requests the test answers by hand. */
class ManualSource implements TileSource {
  readonly open: { block: Block; head: HeadChoice; signal?: AbortSignal; resolve: (t: Tile) => void; reject: (e: Error) => void }[] = [];
  requestTile(_layer: number, head: HeadChoice, block: Block, signal?: AbortSignal): Promise<Tile> {
    return new Promise((resolve, reject) => {
      this.open.push({ block, head, signal, resolve, reject });
      signal?.addEventListener("abort", () => reject(new RequestError("cancelled", "cancelled")));
    });
  }
  answer(index: number): void {
    const { block, head } = this.open[index];
    const rows = Math.ceil((block.q1 - block.q0) / block.pool);
    const cols = Math.ceil((block.k1 - block.k0) / block.pool);
    this.open[index].resolve({ layer: 0, head, ...block, rows, cols, data: new Float32Array(rows * cols).fill(0.5) });
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
const focus = { version: 1, layer: 0, head: 0 as HeadChoice };
const tile = (i: number, j: number, pool = 1) => ({ pool, block: tileBlock(pool, i, j, 4096, 4096) });

describe("TileStore", () => {
  it("requests each wanted tile once and caches it", async () => {
    const source = new ManualSource();
    let changes = 0;
    const store = new TileStore(source, () => changes++);
    store.want(focus, [tile(0, 0), tile(0, 1)]);
    store.want(focus, [tile(0, 0), tile(0, 1)]); // in flight: not asked again
    expect(source.open).toHaveLength(2);
    source.answer(0);
    await settle();
    expect(changes).toBe(1);
    expect(store.get(focus, tile(0, 0))?.rows).toBe(256);
    expect(store.get(focus, tile(0, 1))).toBeUndefined();
    store.want(focus, [tile(0, 0)]); // cached: no request
    expect(source.open).toHaveLength(2);
    expect(store.get({ ...focus, head: 1 }, tile(0, 0))).toBeUndefined(); // another head is another matrix
  });

  it("cancels requests the view no longer wants, and ignores their late answers", async () => {
    const source = new ManualSource();
    let changes = 0;
    const store = new TileStore(source, () => changes++);
    store.want(focus, [tile(0, 0), tile(0, 1), tile(1, 0)]);
    store.want(focus, [tile(1, 0), tile(2, 0)]); // panned down
    expect(source.open.map((r) => r.signal?.aborted)).toEqual([true, true, false, false]);
    expect([store.cancelled, store.pending, store.requested]).toEqual([2, 2, 4]);
    source.answer(0); // the answer to a cancelled request arrives anyway
    await settle();
    expect(store.get(focus, tile(0, 0))).toBeUndefined();
    expect(changes).toBe(0);
    store.want({ ...focus, layer: 3 }, []); // another focus: everything in flight is stale
    expect(store.pending).toBe(0);
  });

  it("keeps the most recently used tiles within its capacity", async () => {
    const source = new ManualSource();
    const store = new TileStore(source, () => undefined, 2);
    store.want(focus, [tile(0, 0), tile(0, 1), tile(0, 2)]);
    source.answer(0);
    source.answer(1);
    await settle();
    store.get(focus, tile(0, 0)); // used: kept
    source.answer(2);
    await settle();
    expect(store.get(focus, tile(0, 1))).toBeUndefined();
    expect(store.get(focus, tile(0, 0))).toBeDefined();
    expect(store.get(focus, tile(0, 2))).toBeDefined();
  });

  it("remembers a failed tile instead of asking again in a loop", async () => {
    const source = new ManualSource();
    let changes = 0;
    const store = new TileStore(source, () => changes++);
    store.want(focus, [tile(9, 9)]);
    source.open[0].reject(new RequestError("remote", "tile [2304:2560, 2304:2560] is outside the matrix"));
    await settle();
    expect(store.error(focus, tile(9, 9))).toMatch(/outside the matrix/);
    expect(changes).toBe(1);
    store.want(focus, [tile(9, 9)]);
    expect(source.open).toHaveLength(1);
    store.clearErrors();
    store.want(focus, [tile(9, 9)]);
    expect(source.open).toHaveLength(2);
    store.dispose();
    expect(source.open[1].signal?.aborted).toBe(true);
  });
});

describe("tiles of a causal matrix", () => {
  it("leaves pooled cells wholly after their queries transparent, and only those", async () => {
    const { maskedCells } = await import("../src/picture");
    // rows 0-3 and keys 0-3 pooled by 2: block (0, 1) covers queries 0-1 and keys 2-3: masked
    const tile = { layer: 0, head: 0, q0: 0, q1: 4, k0: 0, k1: 4, pool: 2, rows: 2, cols: 2, data: new Float32Array(4) };
    expect(Array.from(maskedCells(tile))).toEqual([0, 1, 0, 0]);
    // an off-diagonal tile: queries 256-511, keys 0-255: nothing masked
    const below = { ...tile, q0: 256, q1: 512, k0: 0, k1: 256, pool: 128 };
    expect(Array.from(maskedCells(below))).toEqual([0, 0, 0, 0]);
    // a partial last block (5 queries pooled by 2): block row 2 holds query 4 only
    const partial = { ...tile, q0: 0, q1: 5, k0: 0, k1: 6, pool: 2, rows: 3, cols: 3, data: new Float32Array(9) };
    expect(Array.from(maskedCells(partial))).toEqual([0, 1, 1, 0, 0, 1, 0, 0, 0]);
  });
});
