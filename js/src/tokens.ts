/**
 * The token view: the text as tokens (set with `textContent`, never as HTML). Hovering a
 * token selects it; the other tokens are shaded by the attention weights the app passes in.
 * Self-attention shows one row of tokens; cross-attention shows the query (decoder) row and
 * the key (encoder) row.
 */
import { formatValue, type ValueMapper } from "./scale";
import { type RowGeometry, visibleRowPart } from "./tokengeometry";
import { PENDING_TITLE, markStepToken, markedChildren, tokenClass, type TokenMarks } from "./tokenmarks";
import { OFFSCREEN_DELAY_MS, SHADES, displayToken, shadeStep } from "./tokenstyle";
import { TokenSearch } from "./tokensearch";
import { WINDOW_TOKENS, findToken, windowStart } from "./tokenwindow";

export { OFFSCREEN_DELAY_MS, SHADE_STEPS, displayToken, shadeFor, shadeStep, visibleBand } from "./tokenstyle";

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
  /** A generation's marks on the query row (generated tokens, pending ones); absent: none. */
  marks?: TokenMarks | null;
}

interface TokenRow {
  axis: Axis;
  el: HTMLDivElement;
  tokens: readonly string[];
  special: readonly boolean[];
  /** Generated tokens of this row (the query row of a generation), else null. */
  marks: TokenMarks | null;
  label: string | null;
  /** Index of the first token in the DOM: a long row shows a window of {@link WINDOW_TOKENS}. */
  start: number;
  /** The spans of tokens `start …`, in order. */
  spans: HTMLSpanElement[];
  /** Shade step ({@link shadeStep}) last written to each span. */
  have: Uint8Array;
  /** Shade step each span should show. */
  want: Uint8Array;
  /** Where the spans are in the row's scrolled content, measured when first needed. */
  geometry: RowGeometry | null;
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
  private hideSpecial = false;
  private selection: { query: number | null; key: number | null } = { query: null, key: null };
  private mapper: ValueMapper = () => 0;
  private readonly search: TokenSearch;
  /** Query position outlined as the current step's token. */
  private stepToken: number | null = null;
  /** The last token a search found. */
  private found = -1;

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
    this.search = new TokenSearch(host, { find: (text) => this.find(text), page: (d) => this.page(d) }, signal);
  }

  /** Show token `index` of the query row (moving a long row's window to it). */
  reveal(index: number): void {
    const row = this.rows[0];
    if (!row || index < 0 || index >= row.tokens.length) return;
    if (index < row.start || index >= row.start + row.spans.length) this.fill(row, windowStart(index, row.tokens.length));
  }

  /** Jump to the next token containing `text`; whether there is one. */
  private find(text: string): boolean {
    const row = this.rows[0];
    const index = row ? findToken(row.tokens, text, this.found) : -1;
    if (index < 0 || !row) return false;
    this.found = index;
    this.reveal(index);
    for (const span of row.el.querySelectorAll(".attnviz-found")) span.classList.remove("attnviz-found");
    const span = row.spans[index - row.start];
    span.classList.add("attnviz-found");
    span.scrollIntoView?.({ block: "nearest" });
    return true;
  }

  /** Move every windowed row by most of a window. */
  private page(direction: -1 | 1): void {
    for (const row of this.rows) {
      const n = row.tokens.length;
      if (n <= WINDOW_TOKENS) continue;
      const start = Math.min(Math.max(0, row.start + direction * (WINDOW_TOKENS * 3) / 4), n - WINDOW_TOKENS);
      this.fill(row, Math.round(start));
    }
  }

  /** Put the spans of tokens `start …` (at most a window) into `row`, styled as they should be. */
  private fill(row: TokenRow, start: number): void {
    const doc = this.el.ownerDocument;
    const end = Math.min(row.tokens.length, start + WINDOW_TOKENS);
    row.start = start;
    row.spans = [];
    for (let index = start; index < end; index++) {
      const span = doc.createElement("span");
      span.className = tokenClass(row.special[index] === true, row.marks, index);
      span.dataset.index = String(index);
      span.dataset.axis = row.axis;
      span.textContent = displayToken(row.tokens[index]);
      span.hidden = this.hideSpecial && row.special[index] === true;
      row.spans.push(span);
    }
    const caption = row.label ? [Object.assign(doc.createElement("span"), { className: "attnviz-token-row-label", textContent: row.label })] : [];
    row.el.replaceChildren(...caption, ...markedChildren(doc, row.spans, row.marks, start, row.tokens.length));
    row.have = new Uint8Array(row.spans.length);
    row.want = new Uint8Array(row.spans.length);
    row.geometry = null;
    if (this.shown && this.rowFor(this.shown.axis) === row) this.setShading(this.shown.axis, this.shown.weights, this.mapper);
    this.setSelection(this.selection.query, this.selection.key, this.locked);
    if (row.axis === "query") markStepToken(row.el, this.stepToken);
    const windowed = this.rows.find((r) => r.tokens.length > WINDOW_TOKENS);
    this.search.update(windowed ? { start: windowed.start, end: windowed.start + windowed.spans.length, n: windowed.tokens.length } : null);
  }

  /** Build the token spans. */
  setContent(content: TokenContent): void {
    const doc = this.el.ownerDocument;
    const marks = content.marks ?? null;
    const makeRow = (axis: Axis, tokens: readonly string[], special: readonly boolean[], label: string | null): TokenRow => {
      const el = doc.createElement("div");
      el.className = "attnviz-token-row";
      el.dataset.axis = axis;
      return { axis, el, tokens, special, marks: axis === "query" ? marks : null, label, start: 0, spans: [], have: new Uint8Array(0), want: new Uint8Array(0), geometry: null };
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
    this.shown = null;
    this.found = -1;
    this.cancelFlush();
    for (const row of this.rows) this.fill(row, 0);
  }

  /** Outline the token at query position `index` (the current step's; may be a pending one), or none. */
  setStepToken(index: number | null): void {
    this.stepToken = index;
    markStepToken(this.rowFor("query")?.el, index);
  }

  /** Hide (or show again) special tokens. */
  setHideSpecial(hide: boolean): void {
    this.hideSpecial = hide;
    for (const row of this.rows) {
      for (const span of row.spans) span.hidden = hide && span.classList.contains("attnviz-special");
      row.geometry = null;
    }
  }

  /** Outline the selected query (and key) token. */
  setSelection(query: number | null, key: number | null, locked: boolean): void {
    this.locked = locked;
    this.selection = { query, key };
    for (const span of this.selected) span.classList.remove("attnviz-selected", "attnviz-locked");
    this.selected = [];
    const mark = (axis: Axis, index: number | null): void => {
      const row = this.rowFor(axis);
      const span = index === null || !row ? undefined : row.spans[index - row.start];
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
    this.mapper = mapper;
    for (const row of this.rows) {
      const want = row.want;
      if (row !== target || !weights) {
        want.fill(0);
        continue;
      }
      for (let i = 0; i < want.length; i++) {
        const w = weights[row.start + i];
        want[i] = Number.isNaN(w) ? 0 : shadeStep(mapper(w));
      }
    }
    this.apply(false);
  }

  destroy(): void {
    this.cancelFlush();
    this.abort.abort();
    this.search.el.remove();
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
    const { band, geometry } = visibleRowPart(row.el, row.spans, row.geometry);
    row.geometry = geometry;
    return band;
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
    const pending = (event.target as Element | null)?.closest?.(".attnviz-pending");
    if (pending) {
      this.setHovered(null);
      this.callbacks.tooltip?.([`\u201c${pending.textContent ?? ""}\u201d`, PENDING_TITLE], event.clientX, event.clientY);
      return;
    }
    const token = this.tokenAt(event);
    this.setHovered(token);
    // with a locked selection, hovering another token tells its weight
    const shown = this.shown;
    const row = token ? this.rowFor(token.axis) : undefined;
    const span = token && row ? row.spans[token.index - row.start] : undefined;
    const lines: string[] = [];
    if (this.locked && token && shown && span && this.rowFor(shown.axis) === this.rowFor(token.axis)) {
      const w = shown.weights[token.index];
      if (!Number.isNaN(w)) lines.push(`attention ${formatValue(w, 3)}`);
    }
    // a generated token tells how likely it was
    const note = token && row?.marks ? row.marks.notes[token.index - row.marks.firstGenerated] : undefined;
    if (note) lines.push(note);
    if (span && lines.length > 0) this.callbacks.tooltip?.([`\u201c${span.textContent ?? ""}\u201d`, ...lines], event.clientX, event.clientY);
    else this.callbacks.tooltip?.(null, 0, 0);
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
