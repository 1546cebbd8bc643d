/**
 * The token view at length: a row shows a window of at most {@link WINDOW_TOKENS} tokens
 * (only those are in the DOM), moved by the earlier/later buttons, by a search, or to the
 * token locked in the heatmap. Pure index arithmetic and search.
 */

/** A token row shows at most this many tokens at once. */
export const WINDOW_TOKENS = 1024;

/**
 * First index of the window that shows token `index` of `n`: windows start at multiples of
 * a quarter window, so the token sits in the middle half of its window (or at an end of
 * the text), and nearby tokens share a window.
 */
export function windowStart(index: number, n: number, size = WINDOW_TOKENS): number {
  if (n <= size) return 0;
  const quarter = Math.max(1, Math.floor(size / 4));
  const i = Math.min(Math.max(0, Math.floor(index)), n - 1);
  const start = Math.floor(Math.max(0, i - size / 2) / quarter) * quarter;
  return Math.min(start, n - size);
}

/**
 * The next token after `from` (wrapping around) whose text contains `query`, ignoring
 * case and surrounding whitespace of the query; -1 when none does or the query is empty.
 */
export function findToken(tokens: readonly string[], query: string, from: number): number {
  const needle = query.trim().toLowerCase();
  if (!needle) return -1;
  const n = tokens.length;
  for (let step = 1; step <= n; step++) {
    const i = (((from + step) % n) + n) % n;
    if (tokens[i].toLowerCase().includes(needle)) return i;
  }
  return -1;
}
