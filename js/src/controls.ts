/**
 * The control bar: layer and head, colour scale, row normalisation, hiding special tokens,
 * the token-view direction, the section (encoder / decoder / cross) and PNG export.
 * It reports user changes and reflects state set elsewhere; it keeps no state of its own.
 */
import { setAttr, setHidden, setValue } from "./domwrite";
import type { ColorScale, Direction, HeadChoice, ViewState } from "./types";
import type { AggregateInfo, Vocabulary } from "./vocabulary";

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
  /** Why the rollout aggregate is undefined (null where it is defined). */
  rolloutProblem: string | null;
  /** Aggregates and colour scales to offer, from Python. */
  vocabulary: Vocabulary;
  /** Whether a heatmap is shown (export enabled). */
  canExport: boolean;
}

/** Tooltip of a colour-scale button. */
export function scaleHelp(scale: ColorScale, logDecades: number): string {
  switch (scale) {
    case "linear":
      return "colour proportional to the weight";
    case "sqrt":
      return "square root: small weights stay visible next to attention sinks";
    case "log":
      return `logarithmic over ${logDecades} decades below the maximum`;
  }
}

const DIRECTION_HELP: Record<Direction, string> = {
  from: "shade tokens by how much the selected token attends to them",
  to: "shade tokens by how much they attend to the selected token",
};

/** `<select>` value of a head choice and back. */
export function headValue(head: HeadChoice): string {
  return String(head);
}
export function parseHead(value: string, aggregates: readonly AggregateInfo[]): HeadChoice {
  return aggregates.some((a) => a.name === value) ? value : Number(value);
}

export class Controls {
  private readonly el: HTMLDivElement;
  private readonly abort = new AbortController();
  private readonly layer: HTMLSelectElement;
  private readonly head: HTMLSelectElement;
  private readonly section: HTMLSelectElement;
  private readonly sectionControl: HTMLElement;
  private readonly scaleGroup: HTMLSpanElement;
  private scaleButtons: HTMLButtonElement[] = [];
  private aggregates: readonly AggregateInfo[] = [];
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
    const segmented = <T extends string>(values: readonly T[], help: (v: T) => string, onPick: (v: T) => void) => {
      const group = doc.createElement("span");
      group.className = "attnviz-segmented";
      group.setAttribute("role", "group");
      const buttons = segmentButtons(group, values, help, onPick, signal);
      return { group, buttons };
    };
    this.pickScale = (v) => callbacks.change({ colorScale: v });
    this.layer = select("attnviz-layer-select", (v) => callbacks.change({ layer: Number(v) }));
    this.head = select("attnviz-head-select", (v) => callbacks.change({ head: parseHead(v, this.aggregates) }));
    this.section = select("attnviz-section-select", (v) => callbacks.change({ section: v }));
    const scale = segmented<ColorScale>([], () => "", this.pickScale);
    this.scaleGroup = scale.group;
    this.scaleGroup.setAttribute("aria-label", "colour scale");
    const direction = segmented(["from", "to"] as const, (v) => DIRECTION_HELP[v], (v) => callbacks.change({ direction: v }));
    direction.group.setAttribute("aria-label", "from / to");
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
    const { aggregates, colorScales, logDecades } = state.vocabulary;
    const names = aggregates.map((a) => a.name);
    const key = JSON.stringify([state.layerIndices, state.numHeads, state.sections, names, colorScales, logDecades]);
    if (key !== this.optionsKey) {
      this.optionsKey = key;
      this.aggregates = aggregates;
      setOptions(this.layer, state.layerIndices.map((l) => [String(l), String(l)]));
      const heads: [string, string][] = Array.from({ length: state.numHeads }, (_, h) => [String(h), String(h)]);
      for (const a of aggregates) heads.push([a.name, a.name]);
      setOptions(this.head, heads);
      setOptions(this.section, state.sections.map((s) => [s, s]));
      this.scaleButtons = segmentButtons(this.scaleGroup, colorScales, (v) => scaleHelp(v, logDecades), this.pickScale, this.abort.signal);
    }
    for (const option of Array.from(this.head.options)) {
      const info = aggregates.find((a) => a.name === option.value);
      if (!info) continue;
      const problem = option.value === "rollout" ? state.rolloutProblem : null;
      if (option.disabled !== (problem !== null)) option.disabled = problem !== null;
      if (option.title !== (problem ?? info.description)) option.title = problem ?? info.description;
    }
    // only what changed is written: a head switch restyles one select, not every control
    setHidden(this.sectionControl, state.sections.length < 2);
    setValue(this.layer, String(view.layer));
    setValue(this.head, headValue(view.head));
    if (view.section) setValue(this.section, view.section);
    for (const b of this.scaleButtons) setAttr(b, "aria-pressed", String(b.dataset.value === view.colorScale));
    for (const b of this.directionButtons) setAttr(b, "aria-pressed", String(b.dataset.value === view.direction));
    if (this.rowNormalize.checked !== view.rowNormalize) this.rowNormalize.checked = view.rowNormalize;
    if (this.hideSpecial.checked !== view.hideSpecial) this.hideSpecial.checked = view.hideSpecial;
    if (this.exportButton.disabled !== !state.canExport) this.exportButton.disabled = !state.canExport;
  }

  private readonly pickScale: (scale: ColorScale) => void;

  destroy(): void {
    this.abort.abort();
    this.el.remove();
  }
}

/** Replace the buttons of a segmented group with one per value. */
function segmentButtons<T extends string>(
  group: HTMLElement,
  values: readonly T[],
  help: (value: T) => string,
  onPick: (value: T) => void,
  signal: AbortSignal,
): HTMLButtonElement[] {
  const doc = group.ownerDocument;
  const buttons = values.map((value) => {
    const b = doc.createElement("button");
    b.type = "button";
    b.textContent = value;
    b.dataset.value = value;
    b.title = help(value);
    b.addEventListener("click", () => onPick(value), { signal });
    return b;
  });
  group.replaceChildren(...buttons);
  return buttons;
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

