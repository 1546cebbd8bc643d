/**
 * The widget's state, in one value: the data Python sent, the view (user choices, synced
 * with Python), the focused matrix as loaded, and local pointer state. The app renders
 * from this value alone (`render.ts`); helpers here derive names and captions from it.
 */
import type { OverviewLayer, Tile } from "./decode";
import type { ColorScale, DataSet, HeadChoice, Matrix, Meta, Overview, Status, ViewState } from "./types";
import { stepQuery, validStep } from "./generation";
import type { StepRows } from "./steprows";
import { FALLBACK_VOCABULARY, aggregateInfo, type Vocabulary } from "./vocabulary";

/** The focused matrix: which one (`key`), and what is known of it. */
export interface FocusState {
  /** `version|layer|head` of the matrix asked for ("" when none). */
  readonly key: string;
  /** The matrix once it arrived (inputs drawn densely). */
  readonly matrix: Matrix | null;
  /** The whole matrix pooled, once it arrived (long inputs, drawn from tiles). */
  readonly base?: Tile | null;
  /** Why it could not be loaded. */
  readonly error: string | null;
}

/** Everything the widget shows. Replaced (never mutated) on every change. */
export interface AppState {
  readonly data: DataSet;
  readonly status: { readonly status: Status; readonly error: string };
  readonly view: ViewState;
  readonly focus: FocusState;
  /** Key token under the pointer in the key row of cross-attention (local, not synced). */
  readonly hoverKey: number | null;
  /** Why the last PNG export failed (null when it did not). */
  readonly exportError: string | null;
  /** The overview so far, from the layers that have run (progressive paint); null when none. */
  readonly progress: Progress | null;
  /** Long inputs: the selected query's full row (a `row` request), for the token shading. */
  readonly row: { readonly key: string; readonly values: Float32Array | null };
  /** A generation: the current step's row in every layer and head (a `rows` request). */
  readonly stepRows: StepRows;
}

/** An overview being filled layer by layer while the model runs. */
export interface Progress {
  readonly extraction: number;
  readonly layerIndices: readonly number[];
  readonly numHeads: number;
  readonly numQueries: number;
  readonly numKeys: number;
  /** Rows of layers not yet run are zero. */
  readonly overview: Overview;
  readonly missing: readonly string[];
  /** Layers that have arrived. */
  readonly done: number;
}

/** `progress` with `layer` added (a new run, or another shape, starts a new picture). */
export function addLayer(progress: Progress | null, layer: OverviewLayer): Progress {
  const fresh =
    !progress ||
    progress.extraction !== layer.extraction ||
    progress.overview.columns !== layer.columns ||
    progress.overview.tq !== layer.tq ||
    progress.overview.tk !== layer.tk ||
    progress.layerIndices.length !== layer.layerIndices.length;
  const rows = layer.layerIndices.length;
  const size = layer.columns * layer.tq * layer.tk;
  const overview: Overview = fresh
    ? { layers: rows, columns: layer.columns, tq: layer.tq, tk: layer.tk, data: new Uint8Array(rows * size), scale: new Float32Array(rows * layer.columns) }
    : progress.overview;
  const row = layer.layerIndices.indexOf(layer.layer);
  overview.data.set(layer.data, row * size);
  overview.scale.set(layer.scale, row * layer.columns);
  return {
    extraction: layer.extraction,
    layerIndices: layer.layerIndices,
    numHeads: layer.numHeads,
    numQueries: layer.numQueries,
    numKeys: layer.numKeys,
    overview,
    missing: layer.missing,
    done: (fresh ? 0 : progress.done) + 1,
  };
}

/** Above this many cells (queries × keys) the heatmap is drawn from tiles, never whole. */
export const TILED_FROM_CELLS = 1024 * 1024;

/** Whether the heatmap of `meta` is drawn from tiles (Python says so, or the matrix is large). */
export function isTiled(meta: Meta | null): boolean {
  return meta !== null && (meta.tiled || meta.num_queries * meta.num_keys > TILED_FROM_CELLS);
}

/** Key of the row the token shading needs ("" for none). */
export function rowKey(state: Pick<AppState, "data" | "view">): string {
  const { selectedToken } = state.view;
  return selectedToken === null || !isTiled(state.data.meta) ? "" : `${focusKey(state)}|${selectedToken}`;
}

/** The current step of a generation (a valid step of `meta.generation`), or null. */
export function currentStep(state: Pick<AppState, "data" | "view">): number | null {
  const generation = state.data.meta?.generation;
  return generation ? validStep(generation, state.view.step, state.data.tokens.length) : null;
}

/** The query row the current step chose its token from (null: no step). */
export function currentStepQuery(state: Pick<AppState, "data" | "view">): number | null {
  const step = currentStep(state);
  const generation = state.data.meta?.generation;
  return step === null || !generation ? null : stepQuery(generation, step);
}

/** Key of the step rows the generation view needs (`version|query`; "" for none). */
export function stepRowsKey(state: Pick<AppState, "data" | "view">): string {
  const query = currentStepQuery(state);
  return query === null ? "" : `${state.data.version}|${query}`;
}

export const NO_FOCUS: FocusState = { key: "", matrix: null, error: null };
export const NO_ROW: AppState["row"] = { key: "", values: null };

/** The vocabulary Python sent with the data (the decode fallback before any data). */
export function vocabularyOf(meta: Meta | null): Vocabulary {
  return meta?.vocabulary ?? FALLBACK_VOCABULARY;
}

/** The focus key of a view of a data set: a new key means a new matrix to load. */
export function focusKey(state: Pick<AppState, "data" | "view">): string {
  return `${state.data.version}|${state.view.layer}|${String(state.view.head)}`;
}

/** Whether there is something to draw (meta and at least one token). */
export function hasData(data: DataSet): boolean {
  return data.meta !== null && data.tokens.length > 0;
}

/** Human name of a head choice: "head 3", "mean over heads", … */
export function headName(head: HeadChoice, vocabulary: Vocabulary): string {
  if (typeof head === "number") return `head ${head}`;
  return aggregateInfo(vocabulary, head)?.description ?? head;
}

/** Title of the focused matrix, as the plots title it: "Layer 2, head 3", "Rollout through layer 2". */
export function headTitle(layer: number, head: HeadChoice, vocabulary: Vocabulary): string {
  const template = typeof head === "number" ? `layer {layer}, head ${head}` : aggregateInfo(vocabulary, head)?.title;
  const title = (template ?? `layer {layer}, ${String(head)}`).replace("{layer}", String(layer));
  return title.charAt(0).toUpperCase() + title.slice(1);
}

/** Caption of the colour scale: "sqrt", "log, row max = 1", … */
export function scaleCaption(view: { colorScale: ColorScale; rowNormalize: boolean }): string {
  return view.rowNormalize ? `${view.colorScale}, row max = 1` : view.colorScale;
}

/** Whether `head` can be focused: a head of the model, or an aggregate (rollout only when defined). */
export function headAvailable(head: HeadChoice, meta: Meta): boolean {
  if (typeof head === "number") return Number.isInteger(head) && head >= 0 && head < meta.num_heads;
  if (!aggregateInfo(vocabularyOf(meta), head)) return false;
  return head !== "rollout" || meta.has_rollout;
}

/** Whether keys differ from queries (cross-attention), so the token view needs two rows. */
export function isCross(data: Pick<DataSet, "meta" | "tokens" | "keyTokens">): boolean {
  if (data.meta?.kind === "cross") return true;
  const { tokens, keyTokens } = data;
  return keyTokens.length !== tokens.length || keyTokens.some((t, i) => t !== tokens[i]);
}

/** `view` with a selection that fits `data` (a stale token index is dropped). */
export function fitView(view: ViewState, data: DataSet): ViewState {
  if (view.selectedToken !== null && view.selectedToken >= data.tokens.length) {
    return { ...view, selectedToken: null, tokenLocked: false };
  }
  return view;
}
