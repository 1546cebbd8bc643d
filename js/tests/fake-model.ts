/** A scriptable stand-in for anywidget's model: records sends and saves, emits on demand. */
import type { AnyModelLike } from "../src/model";

type Callback = (...args: any[]) => void;

export class FakeModel implements AnyModelLike {
  readonly values = new Map<string, unknown>();
  readonly handlers = new Map<string, Set<Callback>>();
  readonly sent: any[] = [];
  saves = 0;

  constructor(values: Record<string, unknown> = {}) {
    for (const [k, v] of Object.entries(values)) this.values.set(k, v);
  }
  get(name: string): any {
    return this.values.get(name);
  }
  set(name: string, value: unknown): void {
    if (Object.is(this.values.get(name), value)) return;
    this.values.set(name, value);
    this.emit(`change:${name}`, this, value);
  }
  save_changes(): void {
    this.saves += 1;
  }
  on(event: string, callback: Callback): void {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)!.add(callback);
  }
  off(event?: string | null, callback?: Callback | null): void {
    if (!event) this.handlers.clear();
    else if (!callback) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(callback);
  }
  send(content: unknown): void {
    this.sent.push(content);
  }
  emit(event: string, ...args: unknown[]): void {
    for (const cb of [...(this.handlers.get(event) ?? [])]) cb(...args);
  }
  /** What Python does: change a trait and notify. */
  pythonSets(name: string, value: unknown): void {
    this.set(name, value);
  }
  listenerCount(): number {
    let n = 0;
    for (const s of this.handlers.values()) n += s.size;
    return n;
  }
}

/** `values` as float16 bytes inside a DataView at `offset` of a larger buffer. */
export function halfView(halves: Uint16Array, offset: number): DataView {
  const buffer = new ArrayBuffer(halves.byteLength + offset + 2);
  new Uint8Array(buffer, offset, halves.byteLength).set(new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength));
  return new DataView(buffer, offset, halves.byteLength);
}

/** Minimal consistent traits for `q` self-attention tokens, `layers × heads`. */
export function traits(q: number, layers = 2, heads = 2, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const tokens = Array.from({ length: q }, (_, i) => (i === 0 ? "[CLS]" : i === q - 1 ? "[SEP]" : `t${i}`));
  const columns = heads + 3;
  const tq = Math.min(q, 64);
  const overview = new Uint8Array(layers * columns * tq * tq).fill(128);
  const scale = new Float32Array(layers * columns).fill(0.5);
  return {
    data_version: 1,
    tokens,
    key_tokens: tokens,
    special: tokens.map((t) => t.startsWith("[")),
    key_special: tokens.map((t) => t.startsWith("[")),
    meta: {
      num_layers: layers,
      num_heads: heads,
      layer_indices: Array.from({ length: layers }, (_, i) => i),
      num_queries: q,
      num_keys: q,
      causal: false,
      kind: "self",
      sections: ["encoder"],
      model: { model_type: "bert", architecture: "BertModel", num_layers: layers, num_heads: heads, name: "bert-base-uncased" },
      text: tokens.join(" "),
    },
    prediction: null,
    overview: new DataView(overview.buffer),
    overview_shape: [layers, columns, tq, tq],
    overview_scale: new DataView(scale.buffer),
    status: "ready",
    error: "",
    layer: 0,
    head: 0,
    selected_token: null,
    token_locked: false,
    direction: "from",
    color_scale: "sqrt",
    row_normalize: false,
    hide_special: false,
    section: "encoder",
    ...extra,
  };
}
