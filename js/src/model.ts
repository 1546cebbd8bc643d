/**
 * The anywidget adapter: the only module (with the entry `widget.ts`) that knows the
 * anywidget model. It reads and validates traits, decodes binary payloads once, writes user
 * state back (deduplicated, hover changes coalesced), and runs the request/response protocol
 * of PROTOCOL.md (ids, per-`data_version` cache, timeouts, stale-response checks). Every
 * listener it registers is removed by {@link ModelAdapter.dispose}.
 */
import { float32LE, bytesOf, uint16LE, type BinaryLike } from "./buffers";
import { decodeFloat16 } from "./float16";
import {
  AGGREGATES,
  COLOR_SCALES,
  type ColorScale,
  type DataSet,
  type HeadChoice,
  type Matrix,
  type Meta,
  type Overview,
  type Prediction,
  type Stack,
  type Status,
  type ViewState,
} from "./types";

type Callback = (...args: any[]) => void;

/** The part of anywidget's `AnyModel` this package uses. */
export interface AnyModelLike {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, callback: Callback): void;
  off(event?: string | null, callback?: Callback | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void;
}

/** Why a request failed. */
export type RequestFailure = "timeout" | "stale" | "remote" | "protocol" | "disposed";

/** A failed request for full-resolution data. */
export class RequestError extends Error {
  constructor(
    readonly reason: RequestFailure,
    message: string,
  ) {
    super(message);
    this.name = "RequestError";
  }
}

/** Trait name of each field of {@link ViewState}. */
export const VIEW_TRAITS: { readonly [K in keyof ViewState]: string } = {
  layer: "layer",
  head: "head",
  selectedToken: "selected_token",
  tokenLocked: "token_locked",
  direction: "direction",
  colorScale: "color_scale",
  rowNormalize: "row_normalize",
  hideSpecial: "hide_special",
  section: "section",
};

const VIEW_KEYS = Object.keys(VIEW_TRAITS) as (keyof ViewState)[];

/** Adapter options; the defaults follow PROTOCOL.md. */
export interface AdapterOptions {
  /** A request without an answer fails after this long. */
  timeoutMs?: number;
  /** Deferred (hover) state is written back at most this often. */
  syncDelayMs?: number;
  /** Decoded layers kept per data version (least recently used are dropped). */
  cacheSize?: number;
}

interface Pending {
  resolve: (stack: Stack) => void;
  reject: (error: RequestError) => void;
  timer: ReturnType<typeof setTimeout>;
  version: number;
  what: "layer" | "rollout";
  layer?: number;
}

/** Wraps one anywidget model for the views. */
export class ModelAdapter {
  private readonly timeoutMs: number;
  private readonly syncDelayMs: number;
  private readonly cacheSize: number;
  private readonly listeners: [string, Callback][] = [];
  private readonly pending = new Map<string, Pending>();
  private readonly cache = new Map<string, Promise<Stack>>();
  private readonly idPrefix = randomId();
  private nextId = 0;
  private cacheVersion = -1;
  private deferred: Partial<ViewState> = {};
  private deferTimer: ReturnType<typeof setTimeout> | null = null;
  private writing = false;
  private disposed = false;

  constructor(
    private readonly model: AnyModelLike,
    options: AdapterOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.syncDelayMs = options.syncDelayMs ?? 80;
    this.cacheSize = Math.max(1, options.cacheSize ?? 4);
    this.listen("msg:custom", (msg: unknown, buffers: unknown) => this.handleMessage(msg, buffers));
    this.listen("change:data_version", () => this.dropStale());
  }

  /** The current `data_version`. */
  get version(): number {
    const v = this.model.get("data_version");
    return typeof v === "number" && Number.isFinite(v) ? v : 0;
  }

  /** Read every data trait; problems with the payload are listed in `issues`. */
  readData(): DataSet {
    const issues: string[] = [];
    const tokens = stringList(this.model.get("tokens"));
    const keyTokensRaw = stringList(this.model.get("key_tokens"));
    const keyTokens = keyTokensRaw.length > 0 ? keyTokensRaw : tokens;
    const meta = readMeta(this.model.get("meta"), tokens.length, keyTokens.length);
    let overview: Overview | null = null;
    try {
      overview = readOverview(this.model.get("overview"), this.model.get("overview_shape"), this.model.get("overview_scale"));
    } catch (error) {
      issues.push(`overview ignored: ${(error as Error).message}`);
    }
    if (meta && overview && overview.layers !== meta.layer_indices.length) {
      issues.push(`overview has ${overview.layers} layers, meta lists ${meta.layer_indices.length}`);
    }
    return {
      version: this.version,
      tokens,
      keyTokens,
      special: boolList(this.model.get("special")),
      keySpecial: boolList(this.model.get("key_special") ?? this.model.get("special")),
      meta,
      prediction: readPrediction(this.model.get("prediction")),
      overview,
      status: readStatus(this.model.get("status")),
      error: String(this.model.get("error") ?? ""),
      issues,
    };
  }

  /** The `status` and `error` traits. */
  readStatus(): { status: Status; error: string } {
    return { status: readStatus(this.model.get("status")), error: String(this.model.get("error") ?? "") };
  }

  /** Read the user-state traits, with PROTOCOL.md defaults for missing or invalid values. */
  readView(meta: Meta | null): ViewState {
    const m = this.model;
    const layers = meta?.layer_indices ?? [];
    const layer = m.get("layer");
    const section = m.get("section");
    const token = m.get("selected_token");
    return {
      layer: typeof layer === "number" && (layers.length === 0 || layers.includes(layer)) ? layer : (layers[0] ?? 0),
      head: readHead(m.get("head"), meta?.num_heads ?? Infinity),
      selectedToken: Number.isInteger(token) && token >= 0 ? token : null,
      tokenLocked: m.get("token_locked") === true,
      direction: m.get("direction") === "to" ? "to" : "from",
      colorScale: COLOR_SCALES.includes(m.get("color_scale")) ? (m.get("color_scale") as ColorScale) : "sqrt",
      rowNormalize: m.get("row_normalize") === true,
      hideSpecial: m.get("hide_special") === true,
      section: typeof section === "string" && section ? section : (meta?.sections[0] ?? ""),
    };
  }

  /**
   * Write user state. Unchanged values are skipped. With `defer` (hover), writes are
   * coalesced and sent at most every `syncDelayMs`; a later immediate write sends them too.
   */
  setView(patch: Partial<ViewState>, options: { defer?: boolean } = {}): void {
    if (this.disposed) return;
    Object.assign(this.deferred, patch);
    if (options.defer) {
      if (this.deferTimer === null) this.deferTimer = setTimeout(() => this.flush(), this.syncDelayMs);
      return;
    }
    this.flush();
  }

  /** Send deferred state now. */
  flush(): void {
    if (this.deferTimer !== null) clearTimeout(this.deferTimer);
    this.deferTimer = null;
    const patch = this.deferred;
    this.deferred = {};
    let changed = false;
    this.writing = true;
    try {
      for (const key of Object.keys(patch) as (keyof ViewState)[]) {
        const trait = VIEW_TRAITS[key];
        const value = patch[key];
        if (value === undefined || this.model.get(trait) === value) continue;
        this.model.set(trait, value);
        changed = true;
      }
      if (changed) this.model.save_changes();
    } finally {
      this.writing = false;
    }
  }

  /** Call `callback` when data arrive (a new `data_version`). */
  onData(callback: () => void): void {
    this.listen("change:data_version", callback);
  }

  /** Call `callback` when `status` or `error` change. */
  onStatus(callback: () => void): void {
    this.listen("change:status", callback);
    this.listen("change:error", callback);
  }

  /**
   * Call `callback` with user state changed on the other side (Python, or another view of the
   * same model). Changes this adapter wrote itself are not reported.
   */
  onView(callback: (patch: Partial<ViewState>) => void, meta: () => Meta | null): void {
    for (const key of VIEW_KEYS) {
      this.listen(`change:${VIEW_TRAITS[key]}`, () => {
        if (this.writing) return;
        delete this.deferred[key]; // the other side's value wins over an unsent hover
        const value = this.readView(meta())[key];
        callback({ [key]: value } as Partial<ViewState>);
      });
    }
  }

  /** The full-resolution layer `[heads, Q, K]` of model layer `layer` (cached per version). */
  requestLayer(layer: number): Promise<Stack> {
    return this.cached(`layer:${layer}`, () => this.request({ what: "layer", layer }));
  }

  /**
   * The one matrix Python sent together with the data (`first_matrix`: the head or aggregate
   * focused when the data arrived), so the first paint waits for no request; null for any
   * other choice, or when it is absent or does not fit the tokens.
   */
  firstMatrix(layer: number, head: HeadChoice): Matrix | null {
    const of = this.model.get("first_matrix_of") as { layer?: unknown; head?: unknown } | null | undefined;
    if (of?.layer !== layer || of?.head !== head) return null;
    const rows = stringList(this.model.get("tokens")).length;
    const cols = stringList(this.model.get("key_tokens")).length || rows;
    try {
      const stack = decodeStack({ dtype: "float16", shape: [1, rows, cols] }, [this.model.get("first_matrix")]);
      return { rows, cols, data: stack.data };
    } catch {
      return null; // ask Python instead
    }
  }

  /** Attention rollout through every kept layer, `[layers, Q, K]` (cached per version). */
  requestRollout(): Promise<Stack> {
    return this.cached("rollout", () => this.request({ what: "rollout" }));
  }

  /** Remove every listener, reject open requests, send deferred state. */
  dispose(): void {
    if (this.disposed) return;
    this.flush();
    this.disposed = true;
    for (const [event, callback] of this.listeners) this.model.off(event, callback);
    this.listeners.length = 0;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RequestError("disposed", "the widget view was closed"));
      this.pending.delete(id);
    }
    this.cache.clear();
  }

  private listen(event: string, callback: Callback): void {
    this.model.on(event, callback);
    this.listeners.push([event, callback]);
  }

  private cached(key: string, load: () => Promise<Stack>): Promise<Stack> {
    this.dropStale();
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key); // most recently used goes last
      this.cache.set(key, hit);
      return hit;
    }
    const promise = load();
    this.cache.set(key, promise);
    promise.catch(() => {
      if (this.cache.get(key) === promise) this.cache.delete(key);
    });
    while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    return promise;
  }

  private request(body: { what: "layer"; layer: number } | { what: "rollout" }): Promise<Stack> {
    if (this.disposed) return Promise.reject(new RequestError("disposed", "the widget view was closed"));
    const id = `${this.idPrefix}-${++this.nextId}`;
    const version = this.version;
    return new Promise<Stack>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        const what = body.what === "layer" ? `layer ${body.layer}` : "rollout";
        reject(new RequestError("timeout", `no answer from Python for ${what} after ${this.timeoutMs / 1000} s`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer, version, ...body });
      try {
        this.model.send({ type: "request", id, version, ...body });
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new RequestError("protocol", `could not send the request: ${(error as Error).message}`));
      }
    });
  }

  /** Drop cached layers and fail open requests of an older data version. */
  private dropStale(): void {
    const version = this.version;
    if (version === this.cacheVersion) return;
    this.cacheVersion = version;
    this.cache.clear();
    for (const [id, p] of this.pending) {
      if (p.version === version) continue;
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new RequestError("stale", `data version ${p.version} was replaced by ${version}`));
    }
  }

  private handleMessage(msg: unknown, buffers: unknown): void {
    if (!isRecord(msg) || typeof msg.id !== "string") return;
    const p = this.pending.get(msg.id);
    if (!p) return; // not ours, timed out, or already answered
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    const fail = (reason: RequestFailure, text: string): void => p.reject(new RequestError(reason, text));
    if (msg.version !== p.version || p.version !== this.version) {
      fail("stale", `answer for data version ${String(msg.version)}, current is ${this.version}`);
      return;
    }
    if (msg.type === "error") {
      fail("remote", String(msg.message ?? "Python reported an error"));
      return;
    }
    if (msg.type !== p.what) {
      fail("protocol", `expected a "${p.what}" answer, got "${String(msg.type)}"`);
      return;
    }
    try {
      p.resolve(decodeStack(msg, buffers));
    } catch (error) {
      fail("protocol", (error as Error).message);
    }
  }
}

/** Decode a `layer` / `rollout` answer: one float16 buffer of shape `[n, Q, K]`. */
export function decodeStack(msg: Record<string, unknown>, buffers: unknown): Stack {
  if (msg.dtype !== "float16") throw new Error(`unsupported dtype ${String(msg.dtype)}`);
  const shape = msg.shape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`bad shape ${JSON.stringify(shape)}`);
  }
  const list = Array.isArray(buffers) ? buffers : [];
  if (list.length !== 1) throw new Error(`expected exactly one buffer, got ${list.length}`);
  const [n, rows, cols] = shape as number[];
  const halves = uint16LE(list[0] as BinaryLike);
  if (halves.length !== n * rows * cols) {
    throw new Error(`buffer holds ${halves.length} values, shape ${shape.join("×")} needs ${n * rows * cols}`);
  }
  return { n, rows, cols, data: decodeFloat16(halves) };
}

/** Decode the overview traits; null when there is none. Throws on inconsistent payloads. */
export function readOverview(bytes: unknown, shape: unknown, scale: unknown): Overview | null {
  if (bytes === null || bytes === undefined) return null;
  const data = bytesOf(bytes as BinaryLike);
  if (data.byteLength === 0) return null;
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`bad overview_shape ${JSON.stringify(shape)}`);
  }
  const [layers, columns, tq, tk] = shape as number[];
  if (data.byteLength !== layers * columns * tq * tk) {
    throw new Error(`${data.byteLength} bytes do not match overview_shape ${shape.join("×")}`);
  }
  const scales = scale ? float32LE(scale as BinaryLike) : new Float32Array(0);
  if (scales.length !== layers * columns) {
    throw new Error(`overview_scale has ${scales.length} values, expected ${layers * columns}`);
  }
  return { layers, columns, tq, tk, data, scale: scales };
}

/** Validate the `meta` trait (null when absent); missing counts come from the tokens. */
export function readMeta(raw: unknown, numQueries: number, numKeys: number): Meta | null {
  if (!isRecord(raw) || Object.keys(raw).length === 0) return null;
  const int = (v: unknown, fallback: number): number => (Number.isInteger(v) ? (v as number) : fallback);
  const numLayers = int(raw.num_layers, 0);
  const layerIndices =
    Array.isArray(raw.layer_indices) && raw.layer_indices.every(Number.isInteger)
      ? (raw.layer_indices as number[])
      : Array.from({ length: numLayers }, (_, i) => i);
  const kinds = ["self", "encoder", "decoder", "cross"] as const;
  const model = isRecord(raw.model)
    ? {
        model_type: String(raw.model.model_type ?? ""),
        architecture: String(raw.model.architecture ?? ""),
        num_layers: int(raw.model.num_layers, numLayers),
        num_heads: int(raw.model.num_heads, 0),
        name: String(raw.model.name ?? ""),
      }
    : null;
  return {
    num_layers: numLayers || layerIndices.length,
    num_heads: int(raw.num_heads, 0),
    layer_indices: layerIndices,
    num_queries: int(raw.num_queries, numQueries),
    num_keys: int(raw.num_keys, numKeys),
    causal: raw.causal === true,
    kind: kinds.includes(raw.kind as (typeof kinds)[number]) ? (raw.kind as Meta["kind"]) : "self",
    sections: stringList(raw.sections),
    has_rollout: raw.has_rollout !== false,
    model,
    text: String(raw.text ?? ""),
  };
}

/** Validate the `prediction` trait; null unless labels and probabilities line up. */
export function readPrediction(raw: unknown): Prediction | null {
  if (!isRecord(raw)) return null;
  const labels = stringList(raw.labels);
  const probabilities = Array.isArray(raw.probabilities) ? raw.probabilities.map(Number) : [];
  if (labels.length === 0 || labels.length !== probabilities.length) return null;
  return { labels, probabilities, label: String(raw.label ?? "") };
}

/** A valid `head` value: an integer below `numHeads` or an aggregate name, else 0. */
export function readHead(raw: unknown, numHeads: number): HeadChoice {
  if (typeof raw === "number" && Number.isInteger(raw) && raw >= 0 && raw < numHeads) return raw;
  if (typeof raw === "string" && (AGGREGATES as readonly string[]).includes(raw)) return raw as HeadChoice;
  return 0;
}

function readStatus(raw: unknown): Status {
  return raw === "loading" || raw === "ready" || raw === "error" || raw === "empty" ? raw : "empty";
}

function stringList(raw: unknown): string[] {
  return Array.isArray(raw) ? raw.map((t) => String(t)) : [];
}

function boolList(raw: unknown): boolean[] {
  return Array.isArray(raw) ? raw.map((b) => b === true) : [];
}

function isRecord(value: unknown): value is Record<string, any> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function randomId(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID().slice(0, 8);
  return Math.random().toString(36).slice(2, 10);
}
