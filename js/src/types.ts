/**
 * Shared types of the attnviz frontend. Nothing here knows anywidget: these are the
 * decoded, typed forms of the traits and messages described in PROTOCOL.md.
 */

import type { Generation } from "./generation";
import type { Vocabulary } from "./vocabulary";

/**
 * A focused head: a head number, or the name of an aggregate over heads (the names come
 * from Python in `meta.vocabulary.aggregates`).
 */
export type HeadChoice = number | string;

/** The colour scales the mappers implement (Python's list says which to offer, in order). */
export type ColorScale = "linear" | "sqrt" | "log";

export type Direction = "from" | "to";

export type Status = "empty" | "loading" | "ready" | "error";

export type AttentionKind = "self" | "encoder" | "decoder" | "cross";

/** Model description carried in `meta.model`. */
export interface ModelInfo {
  model_type: string;
  architecture: string;
  num_layers: number;
  num_heads: number;
  name: string;
}

/** The `meta` trait. */
export interface Meta {
  num_layers: number;
  num_heads: number;
  layer_indices: number[];
  num_queries: number;
  num_keys: number;
  causal: boolean;
  kind: AttentionKind;
  sections: string[];
  /** Whether rollout exists (self-attention of every layer from layer 0). */
  has_rollout: boolean;
  /** Why rollout is undefined (Python's words), null where it is defined. */
  rollout_problem: string | null;
  /** Names and constants shared with Python (aggregates, colour scales, …). */
  vocabulary: Vocabulary;
  model: ModelInfo | null;
  text: string;
  /** Python asks for the heatmap to be drawn from tiles (a long or lazily computed input). */
  tiled: boolean;
  /** Aggregate columns of the overview Python left empty, and why (rollout's is `rollout_problem`). */
  thumbnail_problems: Record<string, string>;
  /** The generation whose tokens the query axis holds (`meta.generation`), null when none. */
  generation: Generation | null;
}

/** The `prediction` trait (classifiers only). */
export interface Prediction {
  labels: string[];
  probabilities: number[];
  label: string;
}

/** A dense row-major matrix of `rows × cols` float32 values. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
  /** The largest finite value of `data` (0 when none is positive), when known (a decoded head). */
  readonly max?: number;
}

/** A dense C-order tensor `[n, rows, cols]` (a layer's heads, or rollout per layer). */
export interface Stack {
  readonly n: number;
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
  /** Each slice's largest finite value (0 when none is positive), when known (decoded from float16). */
  readonly maxima?: Float32Array;
}

/** The overview thumbnails: uint8 values, shape `[layers, columns, tq, tk]`. */
export interface Overview {
  readonly layers: number;
  /** heads + one column per aggregate. */
  readonly columns: number;
  readonly tq: number;
  readonly tk: number;
  readonly data: Uint8Array;
  /** float32 `[layers, columns]`: value = uint8 / 255 * scale. */
  readonly scale: Float32Array;
}

/** Everything Python sends for one extraction (one `data_version`). */
export interface DataSet {
  version: number;
  tokens: string[];
  keyTokens: string[];
  special: boolean[];
  keySpecial: boolean[];
  meta: Meta | null;
  prediction: Prediction | null;
  overview: Overview | null;
  status: Status;
  error: string;
  /** Problems found in the payload (shown to the user; the rest still renders). */
  issues: string[];
}

/** The state both sides write (user choices). */
export interface ViewState {
  layer: number;
  head: HeadChoice;
  selectedToken: number | null;
  tokenLocked: boolean;
  direction: Direction;
  colorScale: ColorScale;
  rowNormalize: boolean;
  hideSpecial: boolean;
  section: string;
  /** The generated token the step control shows (`step` trait), null for none. */
  step: number | null;
}

/** A block of a matrix, `[q0:q1, k0:k1]`, max-pooled in `pool × pool` blocks (a `tile` request). */
export interface Block {
  q0: number;
  q1: number;
  k0: number;
  k1: number;
  pool: number;
}
