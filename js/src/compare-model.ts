/**
 * One side of a comparison seen as a single-run model, so the existing views (`App`) show it
 * unchanged. The comparison's model holds each side's data traits prefixed (`a_tokens`,
 * `b_tokens`, ...; see `attnviz_widget/comparison/view.py`) and the user's choices once,
 * which links focus, hover and lock across the sides:
 *
 * - per-side traits are read and written under the side's prefix;
 * - `layer` is shared in A's numbering; side B reads and writes its paired layer;
 * - `selected_token` is per side: selecting a token on one side also selects its alignment
 *   partner on the other (none when the token is a gap there);
 * - requests carry `side`, and only replies for this side reach this side's listeners.
 */
import { partner, type Alignment } from "./compare-diff";
import type { AnyModelLike } from "./model";

type Callback = (...args: any[]) => void;

export type Side = "a" | "b";

/** Traits each side has under its own prefix (as `SIDE_TRAITS` in `comparison/view.py`). */
export const SIDE_TRAITS: ReadonlySet<string> = new Set([
  "data_version", "tokens", "key_tokens", "special", "key_special", "meta", "prediction", "overview",
  "overview_shape", "overview_scale", "first_matrix", "first_matrix_of", "selected_token",
]);

export class SideModel implements AnyModelLike {
  private readonly bound: { event: string; callback: Callback; target: string; wrapped: Callback }[] = [];

  /**
   * @param model the comparison's anywidget model
   * @param side which side this view shows
   * @param queries the alignment of the query tokens (maps a selection to the other side)
   * @param layerPairs `[A layer, B layer]` of each compared layer
   */
  constructor(
    private readonly model: AnyModelLike,
    readonly side: Side,
    private readonly queries: Alignment,
    private readonly layerPairs: readonly (readonly [number, number])[],
  ) {}

  private trait(name: string): string {
    return SIDE_TRAITS.has(name) ? `${this.side}_${name}` : name;
  }

  /** A's layer `layer` as this side numbers it (unchanged for A, or when not compared). */
  private toSide(layer: unknown): unknown {
    if (this.side === "a") return layer;
    return this.layerPairs.find(([a]) => a === layer)?.[1] ?? layer;
  }

  private fromSide(layer: unknown): unknown {
    if (this.side === "a") return layer;
    return this.layerPairs.find(([, b]) => b === layer)?.[0] ?? layer;
  }

  get(name: string): any {
    const value = this.model.get(this.trait(name));
    return name === "layer" ? this.toSide(value) : value;
  }

  set(name: string, value: unknown): void {
    if (name === "layer") {
      this.model.set("layer", this.fromSide(value));
      return;
    }
    this.model.set(this.trait(name), value);
    if (name === "selected_token") {
      const other: Side = this.side === "a" ? "b" : "a";
      const mapped = typeof value === "number" ? partner(this.queries, this.side, value) : -1;
      this.model.set(`${other}_selected_token`, mapped >= 0 ? mapped : null);
    }
  }

  save_changes(): void {
    this.model.save_changes();
  }

  on(event: string, callback: Callback): void {
    let target = event;
    let wrapped = callback;
    if (event.startsWith("change:")) {
      target = `change:${this.trait(event.slice("change:".length))}`;
    } else if (event === "msg:custom") {
      wrapped = (msg: any, buffers: unknown) => {
        if (msg && msg.side === this.side) callback(msg, buffers);
      };
    }
    this.bound.push({ event, callback, target, wrapped });
    this.model.on(target, wrapped);
  }

  off(event?: string | null, callback?: Callback | null): void {
    for (let i = this.bound.length - 1; i >= 0; i--) {
      const entry = this.bound[i];
      if ((event && entry.event !== event) || (callback && entry.callback !== callback)) continue;
      this.model.off(entry.target, entry.wrapped);
      this.bound.splice(i, 1);
    }
  }

  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void {
    this.model.send({ ...(content as Record<string, unknown>), side: this.side }, callbacks, buffers);
  }
}
