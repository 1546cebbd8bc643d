/**
 * How tokens look in the token view: their visible text, the quantised shades of attention
 * (built once, so hovering writes ready-made strings), and which part of a token row is on
 * screen (tokens off screen are restyled later). Pure: no DOM is created here.
 */
import { VIRIDIS, colorIndex, textColorOn } from "./colormap";

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
export const SHADES: readonly Shade[] = Array.from({ length: SHADE_STEPS + 1 }, (_, step): Shade => {
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
export const CLIPPING = /^(hidden|clip|scroll|auto|overlay)$/;

/** Tokens this far (CSS px) outside the visible part of their row are shaded at once too. */
export const VISIBLE_MARGIN_PX = 16;

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

