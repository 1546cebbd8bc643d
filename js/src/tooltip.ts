/**
 * A tooltip floating inside the widget root; content is set as text, never as HTML.
 * Positioning needs the tooltip's size, so it happens once per animation frame (when the
 * browser lays out anyway), not inside every pointer event.
 */
import { placeTooltip } from "./layout";

export class Tooltip {
  private readonly el: HTMLDivElement;
  private text = "";
  private pointer = { x: 0, y: 0 };
  private frame: number | null = null;

  constructor(private readonly root: HTMLElement) {
    this.el = root.ownerDocument.createElement("div");
    this.el.className = "attnviz-tooltip";
    this.el.setAttribute("role", "tooltip");
    this.el.hidden = true;
    root.appendChild(this.el);
  }

  /** Show `lines` (the first one bold) near the pointer, given in client coordinates. */
  show(lines: readonly string[], clientX: number, clientY: number): void {
    const text = lines.join("\n");
    if (text !== this.text) {
      this.text = text;
      const doc = this.root.ownerDocument;
      this.el.replaceChildren(
        ...lines.map((line, i) => {
          const div = doc.createElement("div");
          if (i === 0) div.className = "attnviz-tooltip-title";
          div.textContent = line;
          return div;
        }),
      );
    }
    this.el.hidden = false;
    this.pointer = { x: clientX, y: clientY };
    const view = this.root.ownerDocument.defaultView;
    if (!view || typeof view.requestAnimationFrame !== "function") {
      this.place();
    } else if (this.frame === null) {
      this.frame = view.requestAnimationFrame(() => {
        this.frame = null;
        this.place();
      });
    }
  }

  hide(): void {
    this.el.hidden = true;
  }

  destroy(): void {
    if (this.frame !== null) this.root.ownerDocument.defaultView?.cancelAnimationFrame(this.frame);
    this.frame = null;
    this.el.remove();
  }

  private place(): void {
    if (this.el.hidden) return;
    const rootRect = this.root.getBoundingClientRect();
    const { x, y } = placeTooltip(
      this.pointer.x - rootRect.left,
      this.pointer.y - rootRect.top,
      this.el.offsetWidth,
      this.el.offsetHeight,
      Math.max(this.root.clientWidth, rootRect.width),
      Math.max(this.root.scrollHeight, rootRect.height),
    );
    this.el.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  }
}
