/**
 * A comparison without Jupyter (the self-contained HTML page of `save_html(comparison)`):
 * each side is a {@link LocalModel} over its embedded state, and this model presents them as
 * the comparison's one model: `a_*` / `b_*` traits read from the side, shared traits held
 * here, requests routed to the side they name and replies tagged with it.
 */
import { toBytes } from "./buffers";
import { SIDE_TRAITS, type Side } from "./compare-model";
import { EventStore } from "./events";
import type { AnyModelLike } from "./model";
import { LocalModel, type EmbeddedBinary, type StandaloneState } from "./standalone";

/** What `attnviz_widget/comparison/page.py` embeds. */
export interface ComparisonState {
  /** Shared traits: layer, head, compare_meta, align_queries, align_keys, scores (base64), ... */
  readonly shared: Record<string, unknown>;
  readonly a: StandaloneState;
  readonly b: StandaloneState;
}

const BINARY_SHARED = ["align_queries", "align_keys", "scores"];

export class ComparisonLocalModel extends EventStore implements AnyModelLike {
  private readonly values = new Map<string, unknown>();
  readonly sides: Record<Side, LocalModel>;

  constructor(state: ComparisonState) {
    super();
    for (const [name, value] of Object.entries(state.shared)) {
      const binary = BINARY_SHARED.includes(name) && value != null;
      this.values.set(name, binary ? dataView(toBytes(value as EmbeddedBinary)) : value);
    }
    this.sides = { a: new LocalModel(state.a), b: new LocalModel(state.b) };
    for (const side of ["a", "b"] as const) {
      this.sides[side].on("msg:custom", (reply: Record<string, unknown>, buffers: unknown) =>
        this.emit("msg:custom", { ...reply, side }, buffers),
      );
    }
  }

  /** The side model and trait name a prefixed name refers to, or null for a shared trait. */
  private route(name: string): [LocalModel, string] | null {
    const side = name.slice(0, 2);
    const rest = name.slice(2);
    if ((side === "a_" || side === "b_") && SIDE_TRAITS.has(rest)) return [this.sides[side[0] as Side], rest];
    return null;
  }

  get(name: string): any {
    const routed = this.route(name);
    return routed ? routed[0].get(routed[1]) : this.values.get(name);
  }

  set(name: string, value: unknown): void {
    const routed = this.route(name);
    if (routed) {
      if (Object.is(routed[0].get(routed[1]), value)) return;
      routed[0].set(routed[1], value);
    } else {
      if (Object.is(this.values.get(name), value)) return;
      this.values.set(name, value);
    }
    this.emit(`change:${name}`, this, value);
  }

  /** Route a request to the side it names (a request without a side is dropped, as Python refuses it). */
  send(content: unknown): void {
    const msg = content as { side?: unknown };
    if (msg?.side === "a" || msg?.side === "b") this.sides[msg.side].send(content);
  }
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
