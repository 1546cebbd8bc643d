/**
 * The one render pass: `render(state)` brings the DOM of {@link Dom} in line with an
 * {@link AppState}. The page is a list of parts; each names the inputs it is drawn from and
 * is redrawn only when one of them changed (compared with `Object.is`), so a hover redraws
 * the selection and nothing else, and a new data set redraws everything. Derived values
 * (special-token flags, the displayed matrix) are memoised the same way.
 */
import { setHidden, setStyle, setText } from "./domwrite";
import type { Dom } from "./builder";
import { generationBoundary, generationParts, tokenMarks } from "./generation-parts";
import type { Tile } from "./decode";
import { tiledView, type TiledSource } from "./picture";
import { inverseIndex, makeMapper, maxValue, prepareDisplay, specialFlags, type DisplayMatrix } from "./scale";
import { tokenWeights } from "./shading";
import { NO_FOCUS, hasData, headTitle, isCross, scaleCaption, vocabularyOf, type AppState } from "./state";
import type { TileSource } from "./tiles";
import type { Matrix } from "./types";

/** Values computed from the state, shared by the parts. */
export interface Derived {
  cross: boolean;
  specialQ: boolean[];
  specialK: boolean[];
  /** The focused matrix as displayed (special tokens hidden, rows normalised), once loaded. */
  display: DisplayMatrix | null;
  rowOfQuery: Int32Array;
  colOfKey: Int32Array;
  /** Why the heatmap cannot show the focused matrix ("" when it can). */
  notice: string;
  /** Long inputs: the matrix as its tiles are drawn (null for a dense one). */
  tiled: TiledSource | null;
  /** The matrix before hiding and normalisation (empty data when tiled). */
  source: Matrix | null;
}

/** One part of the page. */
export interface Part {
  name: string;
  inputs(s: AppState, d: Derived): readonly unknown[];
  draw(s: AppState, d: Derived): void;
}

/** Memoise `compute` on `inputs`. */
function memo<T>(compute: (...inputs: any[]) => T): (...inputs: unknown[]) => T {
  let last: unknown[] | null = null;
  let value: T;
  return (...inputs: unknown[]) => {
    if (!last || !sameInputs(last, inputs)) {
      value = compute(...inputs);
      last = inputs;
    }
    return value;
  };
}

function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

export class Renderer {
  private readonly drawn = new Map<string, readonly unknown[]>();
  /** What the last pass derived from its state. */
  derived: Derived | null = null;
  private readonly parts: Part[];
  private readonly flags = memo((data: AppState["data"]) => ({
    cross: isCross(data),
    specialQ: specialFlags(data.tokens, data.special, vocabularyOf(data.meta)),
    specialK: specialFlags(data.keyTokens, data.keySpecial, vocabularyOf(data.meta)),
  }));
  private readonly display = memo(
    (matrix: AppState["focus"]["matrix"], hideSpecial: boolean, rowNormalize: boolean, q: boolean[], k: boolean[]) => {
      if (!matrix) return null;
      const display = prepareDisplay(matrix, { hideSpecial, rowNormalize, specialRows: q, specialCols: k });
      return { display, rowOfQuery: inverseIndex(display.rowIndex, matrix.rows), colOfKey: inverseIndex(display.colIndex, matrix.cols) };
    },
  );

  private readonly tiledOf = memo((base: Tile, data: AppState["data"], cross: boolean) =>
    tiledView(base, this.tileSource, data.version, data.tokens.length, data.keyTokens.length, (data.meta?.causal ?? false) && !cross),
  );

  constructor(
    dom: Dom,
    private readonly tileSource: TileSource,
  ) {
    this.parts = parts(dom);
  }

  /** Draw `state`: every part whose inputs changed since it was last drawn. */
  render(state: AppState): void {
    const derived = this.derive(state);
    this.derived = derived;
    for (const part of this.parts) {
      const inputs = part.inputs(state, derived);
      const last = this.drawn.get(part.name);
      if (last && sameInputs(last, inputs)) continue;
      this.drawn.set(part.name, inputs);
      part.draw(state, derived);
    }
  }

  /** Redraw part `name` on the next pass even if its inputs are the same (the user changed its DOM). */
  invalidate(name: string): void {
    this.drawn.delete(name);
  }

  private derive(state: AppState): Derived {
    const { cross, specialQ, specialK } = this.flags(state.data);
    const { view, focus } = state;
    const tiled = focus.base ? this.tiledOf(focus.base, state.data, cross) : null;
    const shown = tiled ?? this.display(focus.matrix, view.hideSpecial, view.rowNormalize, specialQ, specialK);
    const loading = focus.key !== "" && !focus.matrix && !focus.base ? `Loading layer ${view.layer}\u2026` : "";
    const notice = focus.error ?? state.exportError ?? loading;
    return {
      cross,
      specialQ,
      specialK,
      display: shown?.display ?? null,
      rowOfQuery: shown?.rowOfQuery ?? new Int32Array(0),
      colOfKey: shown?.colOfKey ?? new Int32Array(0),
      notice,
      tiled: tiled?.tiled ?? null,
      source: tiled?.source ?? focus.matrix,
    };
  }
}

/** The parts of the page, in drawing order. */
function parts(dom: Dom): Part[] {
  const { root } = dom;
  const core: Part[] = [
    {
      name: "header",
      inputs: (s, d) => [s.data, s.view.section, d.cross],
      draw: ({ data, view }, { cross }) => {
        const meta = data.meta;
        const name = meta?.model?.name || meta?.model?.architecture || "Attention";
        const section = meta && meta.sections.length > 1 ? ` \u00b7 ${view.section}` : "";
        dom.title.textContent = `${name}${section}`;
        const facts: string[] = [];
        if (meta) {
          facts.push(`${data.tokens.length} tokens`);
          if (cross) facts.push(`${data.keyTokens.length} key tokens`);
          facts.push(`${meta.layer_indices.length} layers \u00d7 ${meta.num_heads} heads`);
          if (meta.causal) facts.push("causal");
          if (meta.kind !== "self") facts.push(`${meta.kind} attention`);
        }
        dom.subtitle.textContent = facts.join(" \u00b7 ");
        root.dataset.version = String(data.version);
        dom.issues.textContent = data.issues.join("\n");
        dom.issues.hidden = data.issues.length === 0;
      },
    },
    {
      name: "status",
      inputs: (s) => [s.status, s.data, s.progress !== null],
      draw: ({ status: { status, error }, data, progress }) => {
        const present = hasData(data) || (progress !== null && status === "loading");
        root.dataset.status = status;
        dom.error.hidden = status !== "error";
        dom.error.textContent = status === "error" ? error || "extraction failed" : "";
        dom.banner.classList.toggle("attnviz-loading", status === "loading");
        if (status === "loading") dom.banner.textContent = "Computing attention\u2026";
        else if (!present && status !== "error") dom.banner.textContent = "Nothing to show yet: call show(text) on the widget.";
        else dom.banner.textContent = "";
        dom.banner.hidden = dom.banner.textContent === "";
        dom.body.hidden = !present;
        dom.body.classList.toggle("attnviz-stale", status === "loading" && present);
        root.setAttribute("aria-busy", String(status === "loading"));
      },
    },
    { name: "prediction", inputs: (s) => [s.data.prediction], draw: (s) => dom.prediction.setPrediction(s.data.prediction) },
    {
      name: "tokens",
      inputs: (s, d) => [s.data, d.specialQ, d.specialK, d.cross],
      draw: ({ data }, d) =>
        dom.tokens.setContent({
          queries: data.tokens,
          keys: d.cross ? data.keyTokens : null,
          querySpecial: d.specialQ,
          keySpecial: d.specialK,
          marks: tokenMarks(data.meta?.generation ?? null, data.tokens.length),
        }),
    },
    { name: "tokens-hidden", inputs: (s) => [s.data, s.view.hideSpecial], draw: (s) => dom.tokens.setHideSpecial(s.view.hideSpecial) },
    {
      name: "overview",
      inputs: (s, d) => [s.data, d.cross, s.status.status === "loading" ? s.progress : null],
      draw: ({ data, view, status, progress }, { cross }) => {
        const meta = data.meta;
        if (progress && status.status === "loading") {
          // progressive paint: the layers that have run, while the model runs
          const empty = Object.fromEntries(progress.missing.map((name) => [name, "computed when the model has run every layer"]));
          return dom.overview.setContent({
            overview: progress.overview,
            layerIndices: progress.layerIndices,
            numHeads: progress.numHeads,
            numQueries: progress.numQueries,
            numKeys: progress.numKeys,
            causal: false,
            rolloutProblem: null,
            emptyColumns: empty,
            scale: view.colorScale,
            vocabulary: vocabularyOf(meta),
          });
        }
        if (!meta || !data.overview) return dom.overview.clear();
        dom.overview.setContent({
          overview: data.overview,
          layerIndices: meta.layer_indices,
          numHeads: meta.num_heads,
          numQueries: data.tokens.length,
          numKeys: data.keyTokens.length,
          causal: meta.causal && !cross,
          rolloutProblem: meta.rollout_problem,
          emptyColumns: meta.thumbnail_problems,
          scale: view.colorScale,
          vocabulary: meta.vocabulary,
        });
      },
    },
    { name: "overview-scale", inputs: (s) => [s.data, s.view.colorScale], draw: (s) => dom.overview.setScale(s.view.colorScale) },
    {
      name: "overview-focus",
      inputs: (s) => [s.data, s.view.layer, s.view.head],
      draw: ({ view }) => dom.overview.setFocus(view.layer, view.head),
    },
    {
      name: "heatmap-title",
      inputs: (s, d) => [s.data, s.view.layer, s.view.head, d.notice],
      draw: ({ data, view }, { notice }) => {
        setText(dom.heatmapTitle, headTitle(view.layer, view.head, vocabularyOf(data.meta)));
        setText(dom.heatmapStatus, notice);
        dom.heatmapStatus.classList.toggle("attnviz-failed", notice !== "" && !notice.endsWith("\u2026"));
      },
    },
    {
      name: "heatmap",
      inputs: (s, d) => [s.data, d.display],
      draw: ({ data, view }, d) => {
        if (!hasData(data)) return dom.heatmap.clear();
        if (!d.display || !d.source) return; // keep the last picture while the next one loads
        dom.heatmap.setContent({
          display: d.display,
          source: d.source,
          tiled: d.tiled,
          rowLabels: data.tokens,
          colLabels: data.keyTokens,
          rowSpecial: d.specialQ,
          colSpecial: d.specialK,
          causal: (data.meta?.causal ?? false) && !d.cross,
          scale: view.colorScale,
          scaleCaption: scaleCaption(view),
          logDecades: vocabularyOf(data.meta).logDecades,
          boundary: generationBoundary(data.meta, d.cross),
        });
        // a heatmap wider than the space beside the overview wraps below it (and scrolls there)
        setStyle(dom.heatmapPanel, "minWidth", `min(${Math.ceil(dom.heatmap.minimalWidth)}px, 100%)`);
      },
    },
    {
      name: "heatmap-scale",
      inputs: (s) => [s.view.colorScale, s.view.rowNormalize],
      draw: ({ view }) => dom.heatmap.setScale(view.colorScale, scaleCaption(view)),
    },
    {
      name: "note",
      inputs: (s, d) => [s.view.hideSpecial, s.view.rowNormalize, d.display, d.tiled],
      draw: ({ view, data }, { display, tiled }) => {
        setHidden(dom.note, !display || !(view.hideSpecial || (tiled && view.rowNormalize)));
        setText(dom.note, dom.note.hidden
          ? ""
          : tiled
            ? `At ${data.tokens.length} tokens the heatmap shows the model's values as extracted: ` +
              "hiding special tokens and row normalisation apply to shorter inputs."
            : display?.hidden
            ? `Special tokens hidden (${display.hiddenRows} rows, ${display.hiddenCols} columns); ` +
              "each remaining row is renormalised to sum to 1, so values differ from the model's."
            : "No special tokens to hide.");
      },
    },
    {
      name: "selection",
      inputs: (s, d) => [s.data, s.view.selectedToken, s.view.tokenLocked, s.view.direction, s.view.colorScale, s.hoverKey, d.display, s.row],
      draw: ({ data, view, hoverKey, row }, d) => {
        const { selectedToken: query, tokenLocked: locked, direction } = view;
        const key = d.cross ? hoverKey : direction === "to" ? query : null;
        dom.heatmap.setSelection({ query, key, locked });
        dom.overview.setSelection(query, locked);
        if (locked && query !== null) dom.tokens.reveal(query); // a long text's window moves to it
        dom.tokens.setSelection(query, d.cross ? hoverKey : null, locked);
        // long inputs: the selected query's row, fetched at full resolution ("from" only)
        const rowShading = row.values && direction === "from" ? { axis: "key" as const, weights: row.values } : null;
        const shading = d.tiled
          ? rowShading
          : d.display
          ? tokenWeights({ display: d.display, rowOfQuery: d.rowOfQuery, colOfKey: d.colOfKey, direction, query, key: d.cross ? hoverKey : query })
          : null;
        const decades = vocabularyOf(data.meta).logDecades;
        if (shading) dom.tokens.setShading(shading.axis, shading.weights, makeMapper(view.colorScale, maxValue(shading.weights), decades));
        else dom.tokens.setShading("key", null, () => 0);
        const label = query === null ? "" : (data.tokens[query] ?? "");
        setText(dom.lockHint, locked ? `locked on \u201c${label}\u201d: click it again or press Esc to unlock` : "");
        setText(
          dom.legend,
          direction === "from"
            ? "Hover a token: the others are shaded by how much it attends to them."
            : "Hover a token: the others are shaded by how much they attend to it.",
        );
      },
    },
    {
      name: "attributes",
      inputs: (s) => [s.view],
      draw: ({ view }) => {
        const a = root.dataset;
        a.layer = String(view.layer);
        a.head = String(view.head);
        a.selectedToken = view.selectedToken === null ? "" : String(view.selectedToken);
        a.locked = String(view.tokenLocked);
        a.direction = view.direction;
      },
    },
    {
      name: "controls",
      inputs: (s) => [s.view, s.data.meta, dom.heatmap.painted],
      draw: ({ view, data: { meta } }) =>
        dom.controls.update({
          view,
          layerIndices: meta?.layer_indices ?? [],
          numHeads: meta?.num_heads ?? 0,
          sections: meta?.sections ?? [],
          rolloutProblem: meta ? meta.rollout_problem : null,
          vocabulary: vocabularyOf(meta),
          canExport: dom.heatmap.painted,
        }),
    },
    {
      // `data-attnviz-ready`: the overview and the focused heatmap show the current data
      name: "ready",
      inputs: (s, d) => [s.status.status, s.data, d.display, s.focus === NO_FOCUS, dom.overview.painted, dom.heatmap.painted],
      draw: ({ status: { status }, data, focus }, { display }) => {
        const overviewDone = dom.overview.painted || data.overview === null;
        const current = status !== "loading" && status !== "error";
        const loaded = focus.matrix !== null || (focus.base ?? null) !== null;
        const ready = current && overviewDone && dom.heatmap.painted && loaded && display !== null;
        root.dataset.attnvizReady = String(ready);
      },
    },
  ];
  return [...core, ...generationParts(dom)];
}
