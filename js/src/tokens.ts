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
  /** The shade last written to each span (`background|color`), to skip unchanged writes. */
  shades: string[];
}

/** The visible text of a token: line breaks and tabs as symbols, empty as ∅. */
export function displayToken(token: string): string {
  if (token === "") return "\u2205";
  return token.replace(/\r\n|\n|\r/g, "\u21b5").replace(/\t/g, "\u21e5");
}

/** Shades are quantised to this many steps, so similar weights share one style. */
export const SHADE_STEPS = 32;

/** Background and text colour for a weight already mapped to `t` in [0, 1]. */
export function shadeFor(t: number): { background: string; color: string } {
  if (!(t > 0.02)) return { background: "", color: "" };
  t = Math.max(1, Math.round(Math.min(t, 1) * SHADE_STEPS)) / SHADE_STEPS;
  const index = colorIndex(t);
  const alpha = 0.2 + 0.8 * Math.min(t, 1);
  const i = 4 * index;
  return {
    background: `rgba(${VIRIDIS[i]}, ${VIRIDIS[i + 1]}, ${VIRIDIS[i + 2]}, ${alpha.toFixed(3)})`,
    color: alpha >= 0.55 ? textColorOn(index) : "",
  };
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
      return { axis, el, spans, shades: spans.map(() => "|") };
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
  }

  /** Hide (or show again) special tokens. */
  setHideSpecial(hide: boolean): void {
    for (const row of this.rows) {
      for (const span of row.spans) span.hidden = hide && span.classList.contains("attnviz-special");
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
      if (row === target) continue;
      row.spans.forEach((span, i) => paint(row, span, i, "", ""));
    }
    if (!target || !weights) return;
    target.spans.forEach((span, i) => {
      const w = weights[i];
      if (Number.isNaN(w)) {
        paint(target, span, i, "", "");
        return;
      }
      const shade = shadeFor(mapper(w));
      paint(target, span, i, shade.background, shade.color);
    });
  }

  destroy(): void {
    this.abort.abort();
    this.el.remove();
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

/**
 * Shade one token span, writing styles only when they change: most tokens stay unshaded from
 * one hover to the next, and each style write costs a style recalculation of that token.
 */
function paint(row: TokenRow, span: HTMLSpanElement, i: number, background: string, color: string): void {
  const key = `${background}|${color}`;
  if (row.shades[i] === key) return;
  row.shades[i] = key;
  span.style.backgroundColor = background;
  span.style.color = color;
}
