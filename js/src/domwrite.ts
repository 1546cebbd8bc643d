/**
 * DOM writes that skip an unchanged value. Writing the same text still replaces the text
 * node, and the same attribute still invalidates style, so a head switch that re-renders a
 * part would restyle, re-lay out and repaint what did not change; these compare first.
 */

/** Set `node`'s text to `text` unless it already is. */
export function setText(node: Node, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

/** Show or hide `node` (the `hidden` attribute) unless it already is. */
export function setHidden(node: HTMLElement, hidden: boolean): void {
  if (node.hidden !== hidden) node.hidden = hidden;
}

/** Set an inline style property unless it already has that value. */
export function setStyle(node: HTMLElement, name: "width" | "height" | "minWidth" | "left" | "top" | "display", value: string): void {
  if (node.style[name] !== value) node.style[name] = value;
}

/** Set attribute `name` to `value` unless it already has it. */
export function setAttr(node: Element, name: string, value: string): void {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

/** Select `value` in `select` unless it already is selected. */
export function setValue(select: HTMLSelectElement, value: string): void {
  if (select.value !== value) select.value = value;
}
