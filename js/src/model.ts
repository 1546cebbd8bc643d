/**
 * The anywidget adapter: the only module (with the entry `widget.ts`) that knows the
 * anywidget model. It reads traits through the decoders (`decode.ts`), writes user state
 * back (deduplicated, hover changes coalesced), and asks Python for full-resolution data
 * through the request channel (`protocol.ts`). Every listener it registers is removed by
 * {@link ModelAdapter.dispose}.
 */
import { boolList, decodeOverviewLayer, decodeRow, decodeRows, decodeStack, decodeTile, readHead, readMeta, readOverview, readPrediction, readStatus, stringList } from "./decode";
import { stackSlice } from "./aggregate";
import { tryReadGeneration } from "./generation";
import { RequestChannel } from "./protocol";
import type { Block, ColorScale, DataSet, HeadChoice, Matrix, Meta, Overview, Stack, Status, ViewState } from "./types";
import { FALLBACK_VOCABULARY } from "./vocabulary";
import type { OverviewLayer, Tile } from "./decode";

export { RequestError, type RequestFailure } from "./protocol";

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
  step: "step",
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

/** Wraps one anywidget model for the views. */
export class ModelAdapter {
  private readonly syncDelayMs: number;
  private readonly listeners: [string, Callback][] = [];
  /** Requests, replies, timeouts and the per-version cache (PROTOCOL.md). */
  readonly channel: RequestChannel;
  private deferred: Partial<ViewState> = {};
  private deferTimer: ReturnType<typeof setTimeout> | null = null;
  private writing = false;
  private disposed = false;

  constructor(
    private readonly model: AnyModelLike,
    options: AdapterOptions = {},
  ) {
    this.syncDelayMs = options.syncDelayMs ?? 80;
    this.channel = new RequestChannel((message) => this.model.send(message), () => this.version, options);
    this.listen("msg:custom", (msg: unknown, buffers: unknown) => this.channel.handleMessage(msg, buffers));
    this.listen("change:data_version", () => this.channel.dropStale());
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
    const generation = tryReadGeneration((this.model.get("meta") as { generation?: unknown } | null)?.generation);
    if (generation.problem) issues.push(generation.problem);
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
      head: readHead(m.get("head"), meta?.num_heads ?? Infinity, (meta?.vocabulary ?? FALLBACK_VOCABULARY).aggregates),
      selectedToken: Number.isInteger(token) && token >= 0 ? token : null,
      tokenLocked: m.get("token_locked") === true,
      direction: m.get("direction") === "to" ? "to" : "from",
      colorScale: readColorScale(m.get("color_scale"), meta),
      rowNormalize: m.get("row_normalize") === true,
      hideSpecial: m.get("hide_special") === true,
      section: typeof section === "string" && section ? section : (meta?.sections[0] ?? ""),
      step: Number.isInteger(m.get("step")) && m.get("step") >= 0 ? (m.get("step") as number) : null,
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

  /** Call `callback` with each layer's thumbnails sent while the forward pass runs (malformed ones are dropped). */
  onOverviewLayer(callback: (layer: OverviewLayer) => void): void {
    this.listen("msg:custom", (msg: unknown, buffers: unknown) => {
      if (typeof msg !== "object" || msg === null || (msg as { type?: unknown }).type !== "overview_layer") return;
      try {
        callback(decodeOverviewLayer(msg as Record<string, unknown>, buffers));
      } catch {
        // a progress picture is a courtesy: the full overview follows with the data
      }
    });
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
    return this.channel.cached(`layer:${layer}`, () => this.channel.request({ what: "layer", layer }, decodeStack));
  }

  /** Layer `layer`'s stack if it has arrived (cached for this version), else null; asks for nothing. */
  loadedLayer(layer: number): Stack | null {
    return this.channel.peek<Stack>(`layer:${layer}`) ?? null;
  }

  /** The rollout stack if it has arrived, else null; asks for nothing. */
  loadedRollout(): Stack | null {
    return this.channel.peek<Stack>("rollout") ?? null;
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
      return stackSlice(decodeStack({ dtype: "float16", shape: [1, rows, cols] }, [this.model.get("first_matrix")]), 0);
    } catch {
      return null; // ask Python instead
    }
  }

  /** Attention rollout through every kept layer, `[layers, Q, K]` (cached per version). */
  requestRollout(): Promise<Stack> {
    return this.channel.cached("rollout", () => this.channel.request({ what: "rollout" }, decodeStack));
  }

  /**
   * The block `[q0:q1, k0:k1]` of (layer, head), max-pooled by `pool` (not cached here: the
   * tile store caches). Aborting `signal` drops the request.
   */
  requestTile(layer: number, head: HeadChoice, block: Block, signal?: AbortSignal): Promise<Tile> {
    return this.channel.request({ what: "tile", layer, head, ...block }, decodeTile, signal);
  }

  /** One query's full row `(K)` of (layer, head) at full resolution. */
  requestRow(layer: number, head: HeadChoice, query: number, signal?: AbortSignal): Promise<Float32Array> {
    return this.channel.request({ what: "row", layer, head, query }, decodeRow, signal);
  }

  /**
   * Query `query`'s row in every kept layer and head, `[layers, heads, K]` (a `rows` request;
   * not cached here: the step view caches). Aborting `signal` drops the request.
   */
  requestRows(query: number, signal?: AbortSignal): Promise<Stack> {
    return this.channel.request({ what: "rows", query }, decodeRows, signal);
  }

  /** Remove every listener, reject open requests, send deferred state. */
  dispose(): void {
    if (this.disposed) return;
    this.flush();
    this.disposed = true;
    for (const [event, callback] of this.listeners) this.model.off(event, callback);
    this.listeners.length = 0;
    this.channel.dispose();
  }

  private listen(event: string, callback: Callback): void {
    this.model.on(event, callback);
    this.listeners.push([event, callback]);
  }
}

/** A colour scale Python offers (`sqrt`, the protocol default, for anything else). */
function readColorScale(raw: unknown, meta: Meta | null): ColorScale {
  const offered = (meta?.vocabulary ?? FALLBACK_VOCABULARY).colorScales;
  return offered.includes(raw as ColorScale) ? (raw as ColorScale) : "sqrt";
}
