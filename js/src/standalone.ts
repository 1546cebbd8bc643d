/**
 * An in-memory stand-in for the anywidget model, for use without Jupyter (a self-contained
 * HTML export, docs, tests): it holds the trait values and answers `layer`, `rollout`, `tile`,
 * `row` and `rows` requests from embedded float16 buffers exactly as Python would (see
 * PROTOCOL.md); `replaceData` shows another data set as Python replaces one.
 */
import { toBytes, uint16LE, type BinaryLike } from "./buffers";
import { blockProblem, pooledMaxHalves, pooledMeanHalves, pooledShape, type HalfStack } from "./localtiles";
import type { Block } from "./types";
import { EventStore } from "./events";
import type { AnyModelLike } from "./model";

/** Binary data as base64 text, an ArrayBuffer or a typed array / DataView. */
export type EmbeddedBinary = string | BinaryLike;

/** Trait values (as Python syncs them) plus the full-resolution data. */
export interface StandaloneState {
  /** Model layer index → float16 `[heads, Q, K]`, C order, little-endian. */
  layers: Record<string, EmbeddedBinary>;
  /** float16 `[layers, Q, K]` rollout through each kept layer, if available. */
  rollout?: EmbeddedBinary | null;
  /** uint8 thumbnails (see `overview_shape`). */
  overview?: EmbeddedBinary | null;
  /** float32 thumbnail scales. */
  overview_scale?: EmbeddedBinary | null;
  /** Every other trait: tokens, meta, prediction, layer, head, … */
  [trait: string]: unknown;
}

const BINARY_TRAITS = ["overview", "overview_scale"];

/** A model whose traits live in memory and whose "kernel" is a lookup in `state.layers`. */
export class LocalModel extends EventStore implements AnyModelLike {
  private readonly values = new Map<string, unknown>();
  private readonly layers = new Map<string, Uint8Array>();
  private rollout: Uint8Array | null;

  constructor(state: StandaloneState) {
    super();
    for (const [name, value] of Object.entries(state)) {
      if (name === "layers" || name === "rollout") continue;
      this.values.set(name, BINARY_TRAITS.includes(name) && value != null ? asDataView(value as EmbeddedBinary) : value);
    }
    if (!this.values.has("data_version")) this.values.set("data_version", 1);
    if (!this.values.has("status")) this.values.set("status", "ready");
    for (const [layer, data] of Object.entries(state.layers ?? {})) this.layers.set(String(layer), toBytes(data));
    this.rollout = state.rollout ? toBytes(state.rollout) : null;
  }

  get(name: string): any {
    return this.values.get(name);
  }

  /**
   * Show another data set, as Python replaces one (a streamed generation's next token): the
   * embedded layers, then every trait, `data_version` last (it must grow, so replies to
   * requests of the old data are refused).
   */
  replaceData(state: StandaloneState): void {
    this.layers.clear();
    for (const [layer, data] of Object.entries(state.layers ?? {})) this.layers.set(String(layer), toBytes(data));
    this.rollout = state.rollout ? toBytes(state.rollout) : null;
    for (const [name, value] of Object.entries(state)) {
      if (name === "layers" || name === "rollout" || name === "data_version") continue;
      this.set(name, BINARY_TRAITS.includes(name) && value != null ? asDataView(value as EmbeddedBinary) : value);
    }
    const version = Number.isInteger(state.data_version) ? (state.data_version as number) : (this.values.get("data_version") as number) + 1;
    this.set("data_version", version);
  }

  set(name: string, value: unknown): void {
    if (Object.is(this.values.get(name), value)) return;
    this.values.set(name, value);
    this.emit(`change:${name}`, this, value);
  }

  /** Answer a request asynchronously, as a kernel round trip would. */
  send(content: unknown): void {
    const msg = content as Request;
    if (msg?.type !== "request") return;
    setTimeout(() => {
      const [reply, buffers] = this.answer(msg);
      this.emit("msg:custom", reply, buffers);
    }, 0);
  }

  private answer(msg: Request): [object, DataView[]] {
    const { id } = msg;
    const version = this.values.get("data_version") as number;
    const meta = (this.values.get("meta") ?? {}) as { num_heads?: number; layer_indices?: number[] };
    const q = (this.values.get("tokens") as unknown[] | undefined)?.length ?? 0;
    const keyTokens = this.values.get("key_tokens") as unknown[] | undefined;
    const k = keyTokens && keyTokens.length > 0 ? keyTokens.length : q;
    const fail = (message: string): [object, DataView[]] => [{ type: "error", id, version, message }, []];
    // the same refusals as Python's attnviz_widget/protocol.py (tests/protocol_fixtures)
    if (msg.version !== version) return fail("the data changed since this request");
    if (msg.what === "layer") {
      if (!Number.isInteger(msg.layer)) {
        return fail(`request field 'layer' must be an integer, got ${JSON.stringify(msg.layer)}`);
      }
      const bytes = this.layers.get(String(msg.layer));
      if (!bytes) return fail(`layer ${String(msg.layer)} is not embedded in this page`);
      const heads = meta.num_heads ?? bytes.byteLength / (2 * q * k);
      return [
        { type: "layer", id, version, layer: msg.layer, dtype: "float16", shape: [heads, q, k] },
        [asDataView(bytes)],
      ];
    }
    if (msg.what === "rollout") {
      if (!this.rollout) return fail("attention rollout is not embedded in this page");
      const layers = meta.layer_indices?.length ?? this.rollout.byteLength / (2 * q * k);
      return [{ type: "rollout", id, version, dtype: "float16", shape: [layers, q, k] }, [asDataView(this.rollout)]];
    }
    if (msg.what === "rows") {
      if (!Number.isInteger(msg.query)) return fail(`request field 'query' must be an integer, got ${JSON.stringify(msg.query)}`);
      const query = msg.query as number;
      if (!(query >= 0 && query < q)) return fail(`query ${query} is out of range; valid queries are 0 to ${q - 1}`);
      const layers = meta.layer_indices ?? [];
      const heads = meta.num_heads ?? 0;
      const halves = this.rowsHalves(layers, heads, query, q, k);
      if (typeof halves === "string") return fail(halves);
      const reply = { type: "rows", id, version, query, dtype: "float16", shape: [layers.length, heads, k] };
      return [reply, [new DataView(halves.buffer, halves.byteOffset, halves.byteLength)]];
    }
    if (msg.what === "tile" || msg.what === "row") {
      const fields = msg.what === "tile" ? ["layer", "q0", "q1", "k0", "k1", "pool"] : ["layer", "query"];
      for (const name of fields) {
        if (!Number.isInteger(msg[name])) return fail(`request field '${name}' must be an integer, got ${JSON.stringify(msg[name])}`);
      }
      const head = msg.head;
      if (typeof head !== "string" && !Number.isInteger(head)) {
        return fail(`request field 'head' must be an integer, got ${JSON.stringify(head)}`);
      }
      const query = msg.query as number;
      if (msg.what === "row" && !(query >= 0 && query < q)) {
        return fail(`query ${query} is out of range; valid query indices are 0 to ${q - 1}`);
      }
      const block: Block =
        msg.what === "tile"
          ? { q0: msg.q0 as number, q1: msg.q1 as number, k0: msg.k0 as number, k1: msg.k1 as number, pool: msg.pool as number }
          : { q0: query, q1: query + 1, k0: 0, k1: k, pool: 1 };
      const problem = blockProblem(block, q, k);
      if (problem) return fail(problem);
      const values = this.blockHalves(msg.layer as number, head as number | string, block, q, k);
      if (typeof values === "string") return fail(values);
      const { q0, q1, k0, k1, pool } = block;
      const where = msg.what === "tile" ? { q0, q1, k0, k1, pool } : { query };
      const reply = { type: msg.what, layer: msg.layer, head, ...where, dtype: "float16", shape: pooledShape(block), id, version };
      return [reply, [new DataView(values.buffer, values.byteOffset, values.byteLength)]];
    }
    return fail(`unknown request ${String(msg.what)}`);
  }

  /** The float16 bits `[layers, heads, K]` of query `query` in every kept layer and head, or why not. */
  private rowsHalves(layers: readonly number[], heads: number, query: number, q: number, k: number): Uint16Array | string {
    const out = new Uint16Array(layers.length * heads * k);
    for (let l = 0; l < layers.length; l++) {
      const bytes = this.layers.get(String(layers[l]));
      if (!bytes) return `layer ${layers[l]} is not embedded in this page`;
      const halves = uint16LE(bytes);
      for (let h = 0; h < heads; h++) out.set(halves.subarray((h * q + query) * k, (h * q + query + 1) * k), (l * heads + h) * k);
    }
    return out;
  }

  /** The float16 bits of `block` of (layer, head), pooled by max, or why not (Python's words). */
  private blockHalves(layer: number, head: number | string, block: Block, q: number, k: number): Uint16Array | string {
    const meta = (this.values.get("meta") ?? {}) as { num_heads?: number; layer_indices?: number[] };
    const indices = meta.layer_indices ?? [];
    const bytes = this.layers.get(String(layer));
    if (head === "rollout") {
      const position = indices.indexOf(layer);
      if (!this.rollout) return "attention rollout is not embedded in this page";
      if (position < 0) return `layer ${layer} is not embedded in this page`;
      const stack: HalfStack = { n: indices.length, rows: q, cols: k, halves: uint16LE(this.rollout) };
      return pooledMaxHalves(stack, [position], block);
    }
    if (!bytes) return `layer ${layer} is not embedded in this page`;
    const halves = uint16LE(bytes);
    const heads = meta.num_heads ?? halves.length / (q * k);
    const stack: HalfStack = { n: heads, rows: q, cols: k, halves };
    if (head === "mean") return pooledMeanHalves(stack, block);
    if (head === "max") return pooledMaxHalves(stack, Array.from({ length: heads }, (_, h) => h), block);
    if (typeof head === "string") return `unknown aggregate '${head}'; ${heads} heads and the mean, max or rollout`;
    if (!(head >= 0 && head < heads)) return `head ${head} is out of range; valid heads are 0 to ${heads - 1}`;
    return pooledMaxHalves(stack, [head], block);
  }
}

/** A request as the page receives it. */
interface Request {
  type?: string;
  id?: string;
  version?: number;
  what?: string;
  [field: string]: unknown;
}

function asDataView(data: EmbeddedBinary): DataView {
  const bytes = toBytes(data);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
