/**
 * Tiles of the focused matrix, fetched on demand: a least-recently-used cache per data
 * version, requests only for tiles not cached or in flight, and cancellation of every
 * request the view no longer wants (panned or zoomed away, another head focused). Late
 * replies of cancelled requests are dropped by the request channel.
 */
import type { Tile } from "./decode";
import { isAbandoned } from "./protocol";
import type { Block, HeadChoice } from "./types";
import type { TileKey } from "./zoom";

/** Where tiles come from (the model adapter, or a test double). */
export interface TileSource {
  requestTile(layer: number, head: HeadChoice, block: Block, signal?: AbortSignal): Promise<Tile>;
}

/** Which matrix tiles belong to. */
export interface TileFocus {
  version: number;
  layer: number;
  head: HeadChoice;
}

/** Tiles kept by default (256 × 256 float32 each: 256 KB; 64 tiles = 16 MB). */
export const TILE_CACHE_SIZE = 64;

function keyOf(focus: TileFocus, tile: Pick<TileKey, "pool" | "block">): string {
  const { q0, q1, k0, k1 } = tile.block;
  return `${focus.version}|${focus.layer}|${String(focus.head)}|${tile.pool}|${q0}:${q1}|${k0}:${k1}`;
}

export class TileStore {
  private readonly cache = new Map<string, Tile>();
  private readonly inFlight = new Map<string, AbortController>();
  private readonly errors = new Map<string, string>();
  /** Requests sent (for tests and the benchmark). */
  requested = 0;
  /** Requests cancelled because the view moved on. */
  cancelled = 0;
  private disposed = false;

  constructor(
    private readonly source: TileSource,
    /** Called when a wanted tile arrives or fails (repaint). */
    private readonly onChange: () => void,
    private readonly capacity = TILE_CACHE_SIZE,
  ) {}

  /** The cached tile, if any (marks it recently used). */
  get(focus: TileFocus, tile: Pick<TileKey, "pool" | "block">): Tile | undefined {
    const key = keyOf(focus, tile);
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
    }
    return hit;
  }

  /** Why a tile could not be loaded, if it failed. */
  error(focus: TileFocus, tile: Pick<TileKey, "pool" | "block">): string | undefined {
    return this.errors.get(keyOf(focus, tile));
  }

  /** Number of requests waiting for an answer. */
  get pending(): number {
    return this.inFlight.size;
  }

  /**
   * Make `tiles` of `focus` the wanted set: request those neither cached nor in flight,
   * and cancel every request in flight that is not wanted any more.
   */
  want(focus: TileFocus, tiles: readonly Pick<TileKey, "pool" | "block">[]): void {
    if (this.disposed) return;
    const wanted = new Map(tiles.map((t) => [keyOf(focus, t), t] as const));
    for (const [key, controller] of this.inFlight) {
      if (wanted.has(key)) continue;
      this.inFlight.delete(key);
      this.cancelled++;
      controller.abort();
    }
    for (const [key, tile] of wanted) {
      if (this.cache.has(key) || this.inFlight.has(key) || this.errors.has(key)) continue;
      const controller = new AbortController();
      this.inFlight.set(key, controller);
      this.requested++;
      this.source
        .requestTile(focus.layer, focus.head, tile.block, controller.signal)
        .then((value) => {
          if (this.inFlight.get(key) !== controller) return;
          this.inFlight.delete(key);
          this.cache.set(key, value);
          while (this.cache.size > this.capacity) this.cache.delete(this.cache.keys().next().value as string);
          this.onChange();
        })
        .catch((error: unknown) => {
          if (this.inFlight.get(key) !== controller) return;
          this.inFlight.delete(key);
          if (isAbandoned(error)) return;
          this.errors.set(key, (error as Error).message);
          this.onChange();
        });
    }
  }

  /** Forget failures (a retry asks again), e.g. after new data arrived. */
  clearErrors(): void {
    this.errors.clear();
  }

  /** Cancel everything in flight and drop the cache. */
  dispose(): void {
    this.disposed = true;
    for (const controller of this.inFlight.values()) controller.abort();
    this.inFlight.clear();
    this.cache.clear();
  }
}
