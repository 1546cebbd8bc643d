/**
 * Decoders of the traits and replies of PROTOCOL.md: each validates one raw value from
 * anywidget (JSON, DataView buffers) and returns its typed form, or throws / falls back with
 * a clear message. Pure functions: no model, no DOM.
 */
import { bytesOf, float32LE, uint16LE, type BinaryLike } from "./buffers";
import { decodeFloat16Slices } from "./float16";
import { tryReadGeneration } from "./generation";
import type { HeadChoice, Meta, Overview, Prediction, Stack, Status } from "./types";
import { readVocabulary, type AggregateInfo } from "./vocabulary";

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
  if (n === 0) return { n, rows, cols, data: new Float32Array(0) };
  const { values, maxima } = decodeFloat16Slices(halves, n);
  return { n, rows, cols, data: values, maxima };
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
  // rollout is defined unless Python says otherwise (`has_rollout: false` or a problem text)
  const hasRollout = raw.has_rollout !== false && (raw.rollout_problem === undefined || raw.rollout_problem === null);
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
    has_rollout: hasRollout,
    rollout_problem: hasRollout ? null : typeof raw.rollout_problem === "string" ? raw.rollout_problem : "rollout is undefined for this data",
    vocabulary: readVocabulary(raw.vocabulary),
    model,
    text: String(raw.text ?? ""),
    tiled: raw.tiled === true,
    thumbnail_problems: isRecord(raw.thumbnail_problems)
      ? Object.fromEntries(Object.entries(raw.thumbnail_problems).map(([k, v]) => [k, String(v)]))
      : {},
    generation: tryReadGeneration(raw.generation).generation,
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

/** A valid `head` value: an integer below `numHeads` or the name of one of `aggregates`, else 0. */
export function readHead(raw: unknown, numHeads: number, aggregates: readonly AggregateInfo[]): HeadChoice {
  if (typeof raw === "number" && Number.isInteger(raw) && raw >= 0 && raw < numHeads) return raw;
  if (typeof raw === "string" && aggregates.some((a) => a.name === raw)) return raw;
  return 0;
}

/** A valid `status` value ("empty" for anything else). */
export function readStatus(raw: unknown): Status {
  return raw === "loading" || raw === "ready" || raw === "error" || raw === "empty" ? raw : "empty";
}

export function stringList(raw: unknown): string[] {
  return Array.isArray(raw) ? raw.map((t) => String(t)) : [];
}

export function boolList(raw: unknown): boolean[] {
  return Array.isArray(raw) ? raw.map((b) => b === true) : [];
}

export function isRecord(value: unknown): value is Record<string, any> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A decoded `tile` reply: the block `[q0:q1, k0:k1]` pooled by `pool`, `rows × cols` values. */
export interface Tile {
  readonly layer: number;
  readonly head: HeadChoice;
  readonly q0: number;
  readonly q1: number;
  readonly k0: number;
  readonly k1: number;
  readonly pool: number;
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}

/** Decode a `tile` reply (one float16 buffer, shape `[ceil((q1-q0)/pool), ceil((k1-k0)/pool)]`). */
export function decodeTile(msg: Record<string, unknown>, buffers: unknown): Tile {
  const field = (name: string): number => {
    const v = msg[name];
    if (!Number.isInteger(v)) throw new Error(`tile field ${name} is ${JSON.stringify(v)}`);
    return v as number;
  };
  const [q0, q1, k0, k1, pool, layer] = ["q0", "q1", "k0", "k1", "pool", "layer"].map(field);
  const matrix = decodeMatrix(msg, buffers);
  if (matrix.rows !== Math.ceil((q1 - q0) / pool) || matrix.cols !== Math.ceil((k1 - k0) / pool)) {
    throw new Error(`tile shape ${matrix.rows}\u00d7${matrix.cols} does not fit [${q0}:${q1}, ${k0}:${k1}] at pool ${pool}`);
  }
  const head = typeof msg.head === "string" ? msg.head : field("head");
  return { layer, head, q0, q1, k0, k1, pool, ...matrix };
}

/** Decode a `row` reply: one float16 buffer of shape `[1, K]`. */
export function decodeRow(msg: Record<string, unknown>, buffers: unknown): Float32Array {
  const matrix = decodeMatrix(msg, buffers);
  if (matrix.rows !== 1) throw new Error(`a row reply has ${matrix.rows} rows`);
  return matrix.data;
}

/** Decode a `rows` reply: one float16 buffer `[layers, heads, K]` of one query (`n` layers, `rows` heads). */
export function decodeRows(msg: Record<string, unknown>, buffers: unknown): Stack {
  if (!Number.isInteger(msg.query)) throw new Error(`rows field query is ${JSON.stringify(msg.query)}`);
  return decodeStack(msg, buffers);
}

/** One float16 buffer of a 2-d `shape`. */
function decodeMatrix(msg: Record<string, unknown>, buffers: unknown): { rows: number; cols: number; data: Float32Array } {
  const shape = msg.shape;
  if (!Array.isArray(shape) || shape.length !== 2) throw new Error(`bad shape ${JSON.stringify(shape)}`);
  const stack = decodeStack({ ...msg, shape: [1, ...shape] }, buffers);
  return { rows: stack.rows, cols: stack.cols, data: stack.data };
}

/** One layer's thumbnails sent while the forward pass runs (`overview_layer`, progressive paint). */
export interface OverviewLayer {
  extraction: number;
  section: string;
  /** Model layer index of this layer, and every layer the run keeps (the overview's rows). */
  layer: number;
  layerIndices: number[];
  numHeads: number;
  numQueries: number;
  numKeys: number;
  /** `heads + aggregates` columns of `tq × tk` uint8 cells, value = byte / 255 × scale. */
  columns: number;
  tq: number;
  tk: number;
  data: Uint8Array;
  scale: Float32Array;
  /** Aggregate columns this message leaves empty (rollout needs every layer). */
  missing: string[];
}

/** Decode an `overview_layer` message; throws on an inconsistent one. */
export function decodeOverviewLayer(msg: Record<string, unknown>, buffers: unknown): OverviewLayer {
  const int = (name: string): number => {
    if (!Number.isInteger(msg[name])) throw new Error(`overview_layer field ${name} is ${JSON.stringify(msg[name])}`);
    return msg[name] as number;
  };
  const shape = msg.shape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`bad overview_layer shape ${JSON.stringify(shape)}`);
  }
  const [columns, tq, tk] = shape as number[];
  const list = Array.isArray(buffers) ? buffers : [];
  const data = list.length === 1 ? bytesOf(list[0] as BinaryLike) : new Uint8Array(0);
  if (data.byteLength !== columns * tq * tk) throw new Error(`overview_layer holds ${data.byteLength} bytes, shape needs ${columns * tq * tk}`);
  const scale = Array.isArray(msg.scale) ? Float32Array.from(msg.scale.map(Number)) : new Float32Array(0);
  if (scale.length !== columns) throw new Error(`overview_layer has ${scale.length} scales for ${columns} columns`);
  const layerIndices = Array.isArray(msg.layer_indices) && msg.layer_indices.every(Number.isInteger) ? (msg.layer_indices as number[]) : [];
  const layer = int("layer");
  if (!layerIndices.includes(layer)) throw new Error(`layer ${layer} is not among the run's layers`);
  return {
    extraction: int("extraction"),
    section: String(msg.section ?? ""),
    layer,
    layerIndices,
    numHeads: int("num_heads"),
    numQueries: int("num_queries"),
    numKeys: int("num_keys"),
    columns,
    tq,
    tk,
    data,
    scale,
    missing: stringList(msg.missing),
  };
}
