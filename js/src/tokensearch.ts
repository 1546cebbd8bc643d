/**
 * The bar above a long token view: a search box that jumps to the next token containing
 * the text (Enter again for the one after), the earlier / later buttons that move the window
 * of tokens shown, and which tokens are shown. Shown only when a row is windowed.
 */
export interface SearchCallbacks {
  /** Find the next match of `text` after the last one; returns whether one was found. */
  find(text: string): boolean;
  /** Move the window by `direction` (-1 earlier, +1 later). */
  page(direction: -1 | 1): void;
}

export class TokenSearch {
  readonly el: HTMLDivElement;
  private readonly input: HTMLInputElement;
  private readonly label: HTMLSpanElement;
  private readonly earlier: HTMLButtonElement;
  private readonly later: HTMLButtonElement;

  constructor(host: HTMLElement, callbacks: SearchCallbacks, signal: AbortSignal) {
    const doc = host.ownerDocument;
    this.el = doc.createElement("div");
    this.el.className = "attnviz-token-search";
    this.input = doc.createElement("input");
    this.input.type = "search";
    this.input.className = "attnviz-token-find";
    this.input.placeholder = "find a token\u2026";
    this.input.setAttribute("aria-label", "find a token (Enter: next match)");
    const button = (text: string, title: string, direction: -1 | 1): HTMLButtonElement => {
      const b = doc.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.title = title;
      b.className = direction < 0 ? "attnviz-token-earlier" : "attnviz-token-later";
      b.addEventListener("click", () => callbacks.page(direction), { signal });
      return b;
    };
    this.earlier = button("\u25c0 earlier", "show the tokens before these", -1);
    this.later = button("later \u25b6", "show the tokens after these", 1);
    this.label = doc.createElement("span");
    this.label.className = "attnviz-token-range";
    this.el.append(this.input, this.earlier, this.later, this.label);
    this.input.addEventListener(
      "keydown",
      (e) => {
        if (e.key !== "Enter") return;
        e.preventDefault();
        e.stopPropagation();
        const found = callbacks.find(this.input.value);
        this.input.classList.toggle("attnviz-not-found", !found && this.input.value.trim() !== "");
      },
      { signal },
    );
    host.prepend(this.el);
    this.update(null);
  }

  /** Show the bar for a window `[start, end)` of `n` tokens, or hide it (null: not windowed). */
  update(range: { start: number; end: number; n: number } | null): void {
    this.el.hidden = range === null;
    if (!range) return;
    this.label.textContent = `tokens ${range.start}\u2013${range.end - 1} of ${range.n}`;
    this.earlier.disabled = range.start <= 0;
    this.later.disabled = range.end >= range.n;
  }
}
