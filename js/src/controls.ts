/**
 * The control bar: layer and head, colour scale, row normalisation, hiding special tokens,
 * the token-view direction, the section (encoder / decoder / cross) and PNG export.
 * It reports user changes and reflects state set elsewhere; it keeps no state of its own.
 */
import { AGGREGATES, COLOR_SCALES, type Direction, type HeadChoice, type ViewState } from "./types";

export interface ControlsCallbacks {
  change(patch: Partial<ViewState>): void;
  exportPng(): void;
}

/** Everything the controls display. */
export interface ControlsState {
  view: ViewState;
  layerIndices: readonly number[];
  numHeads: number;
  sections: readonly string[];
  /** Whether the rollout aggregate exists. */
  hasRollout: boolean;
  /** Whether a heatmap is shown (export enabled). */
  canExport: boolean;
}

const SCALE_HELP: Record<string, string> = {
  linear: "colour proportional to the weight",
  sqrt: "square root: small weights stay visible next to attention sinks",
  log: "logarithmic over three decades below the maximum",
};

const DIRECTION_HELP: Record<Direction, string> = {
  from: "shade tokens by how much the selected token attends to them",
  to: "shade tokens by how much they attend to the selected token",
};

/** `<select>` value of a head choice and back. */
export function headValue(head: HeadChoice): string {
  return String(head);
}
export function parseHead(value: string): HeadChoice {
  return (AGGREGATES as readonly string[]).includes(value) ? (value as HeadChoice) : Number(value);
}

export class Controls {
  private readonly el: HTMLDivElement;
  private readonly abort = new AbortController();
  private readonly layer: HTMLSelectElement;
  private readonly head: HTMLSelectElement;
  private readonly section: HTMLSelectElement;
  private readonly sectionControl: HTMLElement;
  private readonly scaleButtons: HTMLButtonElement[];
  private readonly directionButtons: HTMLButtonElement[];
  private readonly rowNormalize: HTMLInputElement;
  private readonly hideSpecial: HTMLInputElement;
  readonly exportButton: HTMLButtonElement;
  private optionsKey = "";

  constructor(
    host: HTMLElement,
    callbacks: ControlsCallbacks,
  ) {
    const doc = host.ownerDocument;
    const signal = this.abort.signal;
    this.el = doc.createElement("div");
    this.el.className = "attnviz-controls";
    this.el.setAttribute("role", "toolbar");

    // a <label> for one form field; a <span> for button groups (a click on a button inside a
    // <label> would also activate the label's first button)
    const control = (label: string, ...children: HTMLElement[]): HTMLElement => {
      const wrap = doc.createElement(children[0] instanceof HTMLSpanElement ? "span" : "label");
      wrap.className = "attnviz-control";
      const text = doc.createElement("span");
      text.textContent = label;
      wrap.append(text, ...children);
      return wrap;
    };
    const select = (className: string, onChange: (value: string) => void): HTMLSelectElement => {
      const s = doc.createElement("select");
      s.className = className;
      s.addEventListener("change", () => onChange(s.value), { signal });
      return s;
    };
    const checkbox = (className: string, onChange: (checked: boolean) => void): HTMLInputElement => {
      const c = doc.createElement("input");
      c.type = "checkbox";
      c.className = className;
      c.addEventListener("change", () => onChange(c.checked), { signal });
      return c;
    };
    const segmented = <T extends string>(values: readonly T[], help: Record<string, string>, onPick: (v: T) => void) => {
      const group = doc.createElement("span");
      group.className = "attnviz-segmented";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", Object.keys(help).join(" / "));
      const buttons = values.map((value) => {
        const b = doc.createElement("button");
        b.type = "button";
        b.textContent = value;
        b.dataset.value = value;
        b.title = help[value] ?? "";
        b.addEventListener("click", () => onPick(value), { signal });
        return b;
      });
      group.append(...buttons);
      return { group, buttons };
    };

    this.layer = select("attnviz-layer-select", (v) => callbacks.change({ layer: Number(v) }));
    this.head = select("attnviz-head-select", (v) => callbacks.change({ head: parseHead(v) }));
    this.section = select("attnviz-section-select", (v) => callbacks.change({ section: v }));
    const scale = segmented(COLOR_SCALES, SCALE_HELP, (v) => callbacks.change({ colorScale: v }));
    this.scaleButtons = scale.buttons;
    const direction = segmented(["from", "to"] as const, DIRECTION_HELP, (v) => callbacks.change({ direction: v }));
    this.directionButtons = direction.buttons;
    this.rowNormalize = checkbox("attnviz-row-normalize", (v) => callbacks.change({ rowNormalize: v }));
    this.hideSpecial = checkbox("attnviz-hide-special", (v) => callbacks.change({ hideSpecial: v }));
    this.exportButton = doc.createElement("button");
    this.exportButton.type = "button";
    this.exportButton.className = "attnviz-export";
    this.exportButton.textContent = "Export PNG";
    this.exportButton.title = "download the focused heatmap with its labels as a PNG image";
    this.exportButton.addEventListener("click", () => callbacks.exportPng(), { signal });

    this.sectionControl = control("section", this.section);
    const rowControl = control("normalise rows", this.rowNormalize);
    rowControl.title = "scale each query row to its own maximum";
    const hideControl = control("hide special tokens", this.hideSpecial);
    hideControl.title = "remove [CLS], [SEP], <s>, </s> and padding; renormalise rows to sum 1";
    this.el.append(
      this.sectionControl,
      control("layer", this.layer),
      control("head", this.head),
      control("colour", scale.group),
      rowControl,
      hideControl,
      control("token view", direction.group),
      this.exportButton,
    );
    host.appendChild(this.el);
  }

  /** Reflect `state` (rebuilding option lists only when they change). */
  update(state: ControlsState): void {
    const { view } = state;
    const key = JSON.stringify([state.layerIndices, state.numHeads, state.sections]);
    if (key !== this.optionsKey) {
      this.optionsKey = key;
      setOptions(this.layer, state.layerIndices.map((l) => [String(l), String(l)]));
      const heads: [string, string][] = Array.from({ length: state.numHeads }, (_, h) => [String(h), String(h)]);
      heads.push(["mean", "mean"], ["max", "max"], ["rollout", "rollout"]);
      setOptions(this.head, heads);
      setOptions(this.section, state.sections.map((s) => [s, s]));
    }
    const rollout = Array.from(this.head.options).find((o) => o.value === "rollout");
    if (rollout) {
      rollout.disabled = !state.hasRollout;
      rollout.title = state.hasRollout ? "" : "needs self-attention of every layer from layer 0";
    }
    this.sectionControl.hidden = state.sections.length < 2;
    this.layer.value = String(view.layer);
    this.head.value = headValue(view.head);
    if (view.section) this.section.value = view.section;
    for (const b of this.scaleButtons) b.setAttribute("aria-pressed", String(b.dataset.value === view.colorScale));
    for (const b of this.directionButtons) b.setAttribute("aria-pressed", String(b.dataset.value === view.direction));
    this.rowNormalize.checked = view.rowNormalize;
    this.hideSpecial.checked = view.hideSpecial;
    this.exportButton.disabled = !state.canExport;
  }

  destroy(): void {
    this.abort.abort();
    this.el.remove();
  }
}

function setOptions(select: HTMLSelectElement, options: [value: string, label: string][]): void {
  const doc = select.ownerDocument;
  select.replaceChildren(
    ...options.map(([value, label]) => {
      const o = doc.createElement("option");
      o.value = value;
      o.textContent = label;
      return o;
    }),
  );
}
