/**
 * The token view: the text as tokens (set with `textContent`, never as HTML). Hovering a
 * token selects it; the other tokens are shaded by the attention weights the app passes in.
 * Self-attention shows one row of tokens; cross-attention shows the query (decoder) row and
 * the key (encoder) row.
 */
import { VIRIDIS, colorIndex, textColorOn } from "./colormap";
import { formatValue, type ValueMapper } from "./scale";

/** Which token list a token belongs to. */
export type Axis = "query" | "key";

export interface TokenCallbacks {
  hover(index: number | null, axis: Axis): void;
  click(index: number, axis: Axis): void;
  /** Show (or hide, with null) a tooltip at client coordinates. */
  tooltip?(lines: string[] | null, clientX: number, clientY: number): void;
}

/** What the token view shows. `keys` is null for self-attention (keys are the queries). */
export interface TokenContent {
  queries: readonly string[];
  keys: readonly string[] | null;
  querySpecial: readonly boolean[];
  keySpecial: readonly boolean[];
}

interface TokenRow {
  axis: Axis;
  el: HTMLDivElement;
  spans: HTMLSpanElement[];
  /** Shade step ({@link shadeStep}) last written to each span. */
  have: Uint8Array;
  /** Shade step each span should show. */
  want: Uint8Array;
  /** Where the spans are in the row's scrolled content, measured when first needed. */
  geometry: RowGeometry | null;
}

/** Vertical extent of each span in its row's content (0 = top of the scrolled content). */
interface RowGeometry {
  /** The row's width and scroll height when measured: when they change, measure again. */
  width: number;
  height: number;
  tops: Float64Array;
  bottoms: Float64Array;
  /** Ancestors that clip the row (overflow other than visible), such as the notebook's scroller. */
  clips: Element[];
}

/** The visible text of a token: line breaks and tabs as symbols, empty as ∅. */
export function displayToken(token: string): string {
  if (token === "") return "\u2205";
  return token.replace(/\r\n|\n|\r/g, "\u21b5").replace(/\t/g, "\u21e5");
}

/** Shades are quantised to this many steps, so similar weights share one style. */
export const SHADE_STEPS = 32;

/** A token's shade: inline `background-color` and `color` ("" for none). */
export interface Shade {
  readonly background: string;
  readonly color: string;
}

/** The shade step of a weight already mapped to `t` in [0, 1]: 0 for none, else 1…{@link SHADE_STEPS}. */
export function shadeStep(t: number): number {
  if (!(t > 0.02)) return 0;
  return Math.max(1, Math.round(Math.min(t, 1) * SHADE_STEPS));
}

/** The shade of every step, built once (hovering then writes ready-made strings). */
const SHADES: readonly Shade[] = Array.from({ length: SHADE_STEPS + 1 }, (_, step): Shade => {
  if (step === 0) return { background: "", color: "" };
  const t = step / SHADE_STEPS;
  const index = colorIndex(t);
  const alpha = 0.2 + 0.8 * t;
  const i = 4 * index;
  return {
    background: `rgba(${VIRIDIS[i]}, ${VIRIDIS[i + 1]}, ${VIRIDIS[i + 2]}, ${alpha.toFixed(3)})`,
    color: alpha >= 0.55 ? textColorOn(index) : "",
  };
});

/** Background and text colour for a weight already mapped to `t` in [0, 1]. */
export function shadeFor(t: number): Shade {
  return SHADES[shadeStep(t)];
}

/**
 * Shades of tokens off screen are written this long after the shading last changed, not at
 * once: while the pointer moves, restyling hundreds of unseen spans would cost each hover a
 * frame (style recalculation against the host page's whole stylesheet, then paint).
 */
export const OFFSCREEN_DELAY_MS = 120;

/** Overflow values that clip an element's content. */
const CLIPPING = /^(hidden|clip|scroll|auto|overlay)$/;

/** Tokens this far (CSS px) outside the visible part of their row are shaded at once too. */
const VISIBLE_MARGIN_PX = 16;

/**
 * The part of a token row's content that is on screen, in content coordinates (0 at the top
 * of the scrolled content), widened by `margin`: the row's box (`rowTop`…`rowBottom`, client
 * coordinates) clipped to `clipTop`…`clipBottom` (the viewport and clipping ancestors),
 * shifted by the row's `scrollTop`. Null when the row has no layout (not rendered, or no
 * layout engine): then every token counts as visible.
 */
export function visibleBand(
  rowTop: number,
  rowBottom: number,
  scrollTop: number,
  clipTop: number,
  clipBottom: number,
  margin: number,
): { top: number; bottom: number } | null {
  if (!(rowBottom > rowTop)) return null;
  const shift = scrollTop - rowTop;
  return { top: Math.max(rowTop, clipTop) + shift - margin, bottom: Math.min(rowBottom, clipBottom) + shift + margin };
}

export class TokenView {
  private readonly el: HTMLDivElement;
  private readonly abort = new AbortController();
  private rows: TokenRow[] = [];
  private hovered: { index: number; axis: Axis } | null = null;
  private selected: HTMLSpanElement[] = [];
  /** The weights shown (axis and one value per token) for the tooltip. */
  private shown: { axis: Axis; weights: Float32Array } | null = null;
  private locked = false;
  /** Timer that writes the shades {@link apply} deferred. */
  private flushTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    host: HTMLElement,
    private readonly callbacks: TokenCallbacks,
  ) {
    this.el = host.ownerDocument.createElement("div");
    this.el.className = "attnviz-tokens";
    host.appendChild(this.el);
    const signal = this.abort.signal;
    this.el.addEventListener("mousemove", (e) => this.onMove(e), { signal });
    this.el.addEventListener("mouseleave", () => this.onLeave(), { signal });
    this.el.addEventListener("click", (e) => this.onClick(e), { signal });
  }

  /** Build the token spans. */
  setContent(content: TokenContent): void {
    const doc = this.el.ownerDocument;
    const makeRow = (axis: Axis, tokens: readonly string[], special: readonly boolean[], label: string | null): TokenRow => {
      const el = doc.createElement("div");
      el.className = "attnviz-token-row";
      el.dataset.axis = axis;
      if (label) {
        const caption = doc.createElement("span");
        caption.className = "attnviz-token-row-label";
        caption.textContent = label;
        el.appendChild(caption);
      }
      const spans = tokens.map((token, index) => {
        const span = doc.createElement("span");
        span.className = special[index] ? "attnviz-token attnviz-special" : "attnviz-token";
        span.dataset.index = String(index);
        span.dataset.axis = axis;
        span.textContent = displayToken(token);
        return span;
      });
      el.append(...spans);
      return { axis, el, spans, have: new Uint8Array(spans.length), want: new Uint8Array(spans.length), geometry: null };
    };
    this.rows = content.keys
      ? [
          makeRow("query", content.queries, content.querySpecial, "queries"),
          makeRow("key", content.keys, content.keySpecial, "keys"),
        ]
      : [makeRow("query", content.queries, content.querySpecial, null)];
    this.el.replaceChildren(...this.rows.map((r) => r.el));
    this.hovered = null;
    this.selected = [];
    this.cancelFlush();
  }

  /** Hide (or show again) special tokens. */
  setHideSpecial(hide: boolean): void {
    for (const row of this.rows) {
      for (const span of row.spans) span.hidden = hide && span.classList.contains("attnviz-special");
      row.geometry = null;
    }
  }

  /** Outline the selected query (and key) token. */
  setSelection(query: number | null, key: number | null, locked: boolean): void {
    this.locked = locked;
    for (const span of this.selected) span.classList.remove("attnviz-selected", "attnviz-locked");
    this.selected = [];
    const mark = (axis: Axis, index: number | null): void => {
      const span = index === null ? undefined : this.rowFor(axis)?.spans[index];
      if (!span) return;
      span.classList.add(locked && axis === "query" ? "attnviz-locked" : "attnviz-selected");
      this.selected.push(span);
    };
    mark("query", query);
    mark("key", key);
  }

  /**
   * Shade the tokens of `axis` by `weights` (one per token, NaN for none), mapped to colour
   * by `mapper`. Null weights clear all shading.
   */
  setShading(axis: Axis, weights: Float32Array | null, mapper: ValueMapper): void {
    const target = weights ? this.rowFor(axis) : undefined;
    this.shown = target && weights ? { axis: target.axis, weights } : null;
    for (const row of this.rows) {
      const want = row.want;
      if (row !== target || !weights) {
        want.fill(0);
        continue;
      }
      for (let i = 0; i < want.length; i++) {
        const w = weights[i];
        want[i] = Number.isNaN(w) ? 0 : shadeStep(mapper(w));
      }
    }
    this.apply(false);
  }

  destroy(): void {
    this.cancelFlush();
    this.abort.abort();
    this.el.remove();
  }

  /**
   * Write the shades that changed: at once for tokens on screen (or all, with `all`), after
   * {@link OFFSCREEN_DELAY_MS} for the others. Each write restyles and repaints one span.
   */
  private apply(all: boolean): void {
    let deferred = false;
    for (const row of this.rows) {
      const { spans, have, want } = row;
      let band: { top: number; bottom: number } | null | undefined = all ? null : undefined;
      for (let i = 0; i < spans.length; i++) {
        const step = want[i];
        if (step === have[i]) continue;
        if (band === undefined) band = this.visiblePart(row); // layout is read before this row's writes
        const geometry = row.geometry;
        if (band && geometry && !(geometry.tops[i] < band.bottom && geometry.bottoms[i] > band.top)) {
          deferred = true;
          continue;
        }
        have[i] = step;
        const shade = SHADES[step];
        spans[i].style.backgroundColor = shade.background;
        spans[i].style.color = shade.color;
      }
    }
    this.cancelFlush();
    if (deferred) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.apply(true);
      }, OFFSCREEN_DELAY_MS);
    }
  }

  private cancelFlush(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  /** The on-screen part of `row` ({@link visibleBand}), measuring its spans when needed. */
  private visiblePart(row: TokenRow): { top: number; bottom: number } | null {
    const view = row.el.ownerDocument.defaultView;
    if (!view) return null;
    const rect = row.el.getBoundingClientRect();
    if (!(rect.bottom > rect.top)) return null;
    const scrollTop = row.el.scrollTop;
    const height = row.el.scrollHeight;
    let geometry = row.geometry;
    if (!geometry || geometry.width !== rect.width || geometry.height !== height) {
      const n = row.spans.length;
      const clips: Element[] = [];
      for (let el = row.el.parentElement; el; el = el.parentElement) {
        const style = view.getComputedStyle(el);
        if (CLIPPING.test(style.overflowX) || CLIPPING.test(style.overflowY)) clips.push(el);
      }
      geometry = { width: rect.width, height, tops: new Float64Array(n), bottoms: new Float64Array(n), clips };
      const shift = scrollTop - rect.top;
      for (let i = 0; i < n; i++) {
        const r = row.spans[i].getBoundingClientRect();
        const shown = r.width > 0 || r.height > 0; // hidden (special) tokens have no box
        geometry.tops[i] = shown ? r.top + shift : Infinity;
        geometry.bottoms[i] = shown ? r.bottom + shift : -Infinity;
      }
      row.geometry = geometry;
    }
    let clipTop = 0;
    let clipBottom = view.innerHeight;
    for (const el of geometry.clips) {
      const r = el.getBoundingClientRect();
      clipTop = Math.max(clipTop, r.top);
      clipBottom = Math.min(clipBottom, r.bottom);
    }
    return visibleBand(rect.top, rect.bottom, scrollTop, clipTop, clipBottom, VISIBLE_MARGIN_PX);
  }

  /** The row holding tokens of `axis` (the only row for self-attention). */
  private rowFor(axis: Axis): TokenRow | undefined {
    return this.rows.find((r) => r.axis === axis) ?? this.rows[0];
  }

  private tokenAt(event: Event): { index: number; axis: Axis } | null {
    const target = event.target as Element | null;
    const span = target?.closest?.(".attnviz-token") as HTMLElement | null;
    if (!span || !this.el.contains(span)) return null;
    return { index: Number(span.dataset.index), axis: span.dataset.axis === "key" ? "key" : "query" };
  }

  private onMove(event: MouseEvent): void {
    const token = this.tokenAt(event);
    this.setHovered(token);
    // with a locked selection, hovering another token tells its weight
    const shown = this.shown;
    const span = token ? this.rowFor(token.axis)?.spans[token.index] : undefined;
    if (this.locked && token && shown && span && this.rowFor(shown.axis) === this.rowFor(token.axis)) {
      const w = shown.weights[token.index];
      if (!Number.isNaN(w)) {
        this.callbacks.tooltip?.([`\u201c${span.textContent ?? ""}\u201d`, `attention ${formatValue(w, 3)}`], event.clientX, event.clientY);
        return;
      }
    }
    this.callbacks.tooltip?.(null, 0, 0);
  }

  private onLeave(): void {
    this.setHovered(null);
    this.callbacks.tooltip?.(null, 0, 0);
  }

  private setHovered(token: { index: number; axis: Axis } | null): void {
    const h = this.hovered;
    if (h === token || (h && token && h.index === token.index && h.axis === token.axis)) return;
    this.hovered = token;
    this.callbacks.hover(token ? token.index : null, token ? token.axis : "query");
  }

  private onClick(event: MouseEvent): void {
    const token = this.tokenAt(event);
    if (token) this.callbacks.click(token.index, token.axis);
  }
}
