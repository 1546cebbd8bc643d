/**
 * Which part of a token row is on screen: the row's spans are measured once (per width and
 * scroll height) and clipped to the viewport and every clipping ancestor, so the token view
 * restyles visible tokens at once and the others later (`tokens.ts`).
 */
import { CLIPPING, VISIBLE_MARGIN_PX, visibleBand } from "./tokenstyle";

/** Vertical extent of each span in its row's content (0 = top of the scrolled content). */
export interface RowGeometry {
  /** The row's width and scroll height when measured: when they change, measure again. */
  width: number;
  height: number;
  tops: Float64Array;
  bottoms: Float64Array;
  /** Ancestors that clip the row (overflow other than visible), such as the notebook's scroller. */
  clips: Element[];
}

/**
 * The on-screen part of the row `el` ({@link visibleBand}) and the geometry of its `spans`
 * (`known` reused while the row keeps its size). Band null: no layout, every span counts as visible.
 */
export function visibleRowPart(
  el: HTMLElement,
  spans: readonly HTMLElement[],
  known: RowGeometry | null,
): { band: { top: number; bottom: number } | null; geometry: RowGeometry | null } {
  const view = el.ownerDocument.defaultView;
  if (!view) return { band: null, geometry: known };
  const rect = el.getBoundingClientRect();
  if (!(rect.bottom > rect.top)) return { band: null, geometry: known };
  const scrollTop = el.scrollTop;
  const height = el.scrollHeight;
  let geometry = known;
  if (!geometry || geometry.width !== rect.width || geometry.height !== height) {
    const n = spans.length;
    const clips: Element[] = [];
    for (let parent = el.parentElement; parent; parent = parent.parentElement) {
      const style = view.getComputedStyle(parent);
      if (CLIPPING.test(style.overflowX) || CLIPPING.test(style.overflowY)) clips.push(parent);
    }
    geometry = { width: rect.width, height, tops: new Float64Array(n), bottoms: new Float64Array(n), clips };
    const shift = scrollTop - rect.top;
    for (let i = 0; i < n; i++) {
      const r = spans[i].getBoundingClientRect();
      const shown = r.width > 0 || r.height > 0; // hidden (special) tokens have no box
      geometry.tops[i] = shown ? r.top + shift : Infinity;
      geometry.bottoms[i] = shown ? r.bottom + shift : -Infinity;
    }
  }
  let clipTop = 0;
  let clipBottom = view.innerHeight;
  for (const clip of geometry.clips) {
    const r = clip.getBoundingClientRect();
    clipTop = Math.max(clipTop, r.top);
    clipBottom = Math.min(clipBottom, r.bottom);
  }
  return { band: visibleBand(rect.top, rect.bottom, scrollTop, clipTop, clipBottom, VISIBLE_MARGIN_PX), geometry };
}
