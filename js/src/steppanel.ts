/**
 * The step control of a generation: a slider over the generated tokens, ◀ ▶ buttons, a
 * play button (one step every {@link PLAY_INTERVAL_MS}, stopping at the end), ←/→ (and
 * Home/End) while the panel has focus, and for the current step the chosen token, its
 * probability (and sampled probability where it differs), the entropy in nats and the top-5
 * alternatives as small bars. It reports the step the user asks for and keeps no state but
 * the play timer; all text is set with `textContent`.
 */
import { describeGeneration, percent, type Alternative, type Generation, type GenerationStep } from "./generation";

export { percent } from "./generation";
import { displayToken } from "./tokenstyle";

/** Play advances one step this often. */
export const PLAY_INTERVAL_MS = 500;

export interface StepPanelCallbacks {
  /** The user asks for step `step` (an index into `generation.steps`). */
  setStep(step: number): void;
}

/** What the panel shows: the generation and the current step (null: none chosen). */
export interface StepPanelContent {
  generation: Generation | null;
  step: number | null;
}

/** The chosen token in quotes, as the token view writes it. */
export function quoted(display: string): string {
  return `\u201c${displayToken(display)}\u201d`;
}

/** The facts line of a step: probability, sampled probability where it differs, entropy. */
export function stepFacts(step: GenerationStep): string {
  const parts = [`probability ${percent(step.probability)}`];
  const sampled = step.sampledProbability;
  if (sampled !== null && Math.abs(sampled - step.probability) > 5e-4) parts.push(`sampled with ${percent(sampled)}`);
  parts.push(Number.isFinite(step.entropy) ? `entropy ${step.entropy.toFixed(2)} nats` : "entropy unknown");
  return parts.join(" \u00b7 ");
}

/** The alternatives to draw as bars: the top list, plus the chosen token where it is not among them. */
export function alternativeRows(step: GenerationStep): { alt: Alternative; chosen: boolean; outside: boolean }[] {
  const rows = step.top.map((alt) => ({ alt, chosen: alt.token === step.token, outside: false }));
  if (!rows.some((r) => r.chosen)) rows.push({ alt: step, chosen: true, outside: true });
  return rows;
}

export class StepPanel {
  readonly el: HTMLDivElement;
  /** Where the layer × head grid of the step's row goes. */
  readonly gridHost: HTMLDivElement;
  private readonly abort = new AbortController();
  private readonly slider: HTMLInputElement;
  private readonly prev: HTMLButtonElement;
  private readonly next: HTMLButtonElement;
  private readonly play: HTMLButtonElement;
  private readonly count: HTMLSpanElement;
  private readonly summary: HTMLSpanElement;
  private readonly token: HTMLDivElement;
  private readonly facts: HTMLDivElement;
  private readonly end: HTMLDivElement;
  private readonly top: HTMLDivElement;
  private content: StepPanelContent = { generation: null, step: null };
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;

  constructor(
    host: HTMLElement,
    private readonly callbacks: StepPanelCallbacks,
  ) {
    const doc = host.ownerDocument;
    const make = <K extends keyof HTMLElementTagNameMap>(tag: K, className: string, parent: HTMLElement, text = ""): HTMLElementTagNameMap[K] => {
      const el = doc.createElement(tag);
      el.className = className;
      if (text) el.textContent = text;
      parent.appendChild(el);
      return el;
    };
    this.el = make("div", "attnviz-generation", host);
    this.el.setAttribute("role", "group");
    this.el.setAttribute("aria-label", "generated tokens, step by step");
    this.el.hidden = true;
    const side = make("div", "attnviz-step-side", this.el);
    const bar = make("div", "attnviz-step-bar", side);
    const button = (className: string, text: string, label: string): HTMLButtonElement => {
      const b = make("button", `attnviz-step-button ${className}`, bar, text);
      b.type = "button";
      b.title = label;
      b.setAttribute("aria-label", label);
      return b;
    };
    this.prev = button("attnviz-step-prev", "\u25c0", "previous generated token (\u2190)");
    this.play = button("attnviz-step-play", "\u25b6 play", "play through the generated tokens");
    this.next = button("attnviz-step-next", "\u25b6", "next generated token (\u2192)");
    this.slider = make("input", "attnviz-step-slider", bar);
    this.slider.type = "range";
    this.slider.min = "0";
    this.slider.step = "1";
    this.slider.setAttribute("aria-label", "generated token");
    this.count = make("span", "attnviz-step-count", bar);
    this.summary = make("span", "attnviz-step-summary", side);
    this.summary.setAttribute("aria-live", "polite");
    this.token = make("div", "attnviz-step-chosen", side);
    this.facts = make("div", "attnviz-step-facts", side);
    this.end = make("div", "attnviz-step-end", side);
    this.top = make("div", "attnviz-step-top", this.el);
    this.top.setAttribute("aria-label", "the five likeliest next tokens");
    this.gridHost = make("div", "attnviz-step-grid-host", this.el);

    const signal = this.abort.signal;
    this.prev.addEventListener("click", () => this.move(-1), { signal });
    this.next.addEventListener("click", () => this.move(1), { signal });
    this.play.addEventListener("click", () => (this.playing ? this.stop() : this.start()), { signal });
    this.slider.addEventListener("input", () => this.go(Number(this.slider.value)), { signal });
    this.el.addEventListener("keydown", (e) => this.onKey(e), { signal });
  }

  /** Whether play is running. */
  get playing(): boolean {
    return this.running;
  }

  /** Show `content` (the DOM is kept: focus stays on the slider or button the user is on). */
  update(content: StepPanelContent): void {
    this.content = content;
    const { generation, step } = content;
    this.el.hidden = generation === null;
    if (!generation) {
      this.stop();
      return;
    }
    const n = generation.steps.length;
    this.slider.max = String(Math.max(0, n - 1));
    this.slider.value = String(step ?? 0);
    this.slider.disabled = n === 0;
    this.slider.setAttribute("aria-valuetext", step === null ? "none chosen" : `token ${step + 1} of ${n}`);
    this.prev.disabled = n === 0 || step === 0;
    this.next.disabled = n === 0 || (step !== null && step >= n - 1);
    this.play.disabled = n < 2;
    this.count.textContent = step === null ? `\u2014 / ${n}` : `${step + 1} / ${n}`;
    this.summary.textContent = describeGeneration(generation);
    this.summary.classList.toggle("attnviz-streaming", generation.streaming);
    const current = step === null ? undefined : generation.steps[step];
    this.el.dataset.step = step === null ? "" : String(step);
    if (!current) {
      this.token.textContent = n > 0 ? "Choose a generated token: the slider, \u25c0 \u25b6 or \u2190/\u2192." : "No tokens generated yet.";
      this.facts.textContent = "";
      this.end.hidden = true;
      this.top.replaceChildren();
      return;
    }
    this.token.textContent = `token ${step! + 1}: ${quoted(current.display)}`;
    this.facts.textContent = stepFacts(current);
    const last = step === n - 1 && !generation.streaming;
    this.end.hidden = !(last && generation.finishReason === "eos");
    this.end.textContent = this.end.hidden ? "" : "stopped at end-of-sequence";
    this.drawTop(current);
    if (this.playing && step! >= n - 1) this.stop();
  }

  destroy(): void {
    this.stop();
    this.abort.abort();
    this.el.remove();
  }

  private drawTop(step: GenerationStep): void {
    const doc = this.el.ownerDocument;
    const div = (className: string, text = ""): HTMLDivElement => {
      const d = doc.createElement("div");
      d.className = className;
      d.textContent = text;
      return d;
    };
    const rows = alternativeRows(step).map(({ alt, chosen, outside }) => {
      const row = div(chosen ? "attnviz-step-alt attnviz-step-alt-chosen" : "attnviz-step-alt");
      const label = div("attnviz-step-alt-label", `${chosen ? "\u2713 " : ""}${quoted(alt.display)}${outside ? " (chosen, not in the top 5)" : ""}`);
      label.title = chosen ? "the generated token" : alt.token;
      const barEl = div("attnviz-step-alt-bar");
      const fill = div("attnviz-step-alt-fill");
      fill.style.width = `${(Math.min(Math.max(alt.probability, 0), 1) * 100).toFixed(1)}%`;
      barEl.appendChild(fill);
      barEl.setAttribute("role", "meter");
      barEl.setAttribute("aria-valuemin", "0");
      barEl.setAttribute("aria-valuemax", "1");
      barEl.setAttribute("aria-valuenow", String(alt.probability));
      barEl.setAttribute("aria-label", displayToken(alt.display));
      row.append(label, barEl, div("attnviz-step-alt-value", percent(alt.probability)));
      return row;
    });
    this.top.replaceChildren(div("attnviz-step-top-title", "likeliest next tokens"), ...rows);
  }

  /** Ask for step `step` (clamped to the steps). */
  private go(step: number): void {
    const n = this.content.generation?.steps.length ?? 0;
    if (n === 0 || !Number.isFinite(step)) return;
    const target = Math.min(Math.max(Math.round(step), 0), n - 1);
    if (target !== this.content.step) this.callbacks.setStep(target);
  }

  private move(delta: number): void {
    const { step } = this.content;
    this.go(step === null ? (delta > 0 ? 0 : (this.content.generation?.steps.length ?? 1) - 1) : step + delta);
  }

  private start(): void {
    const n = this.content.generation?.steps.length ?? 0;
    if (n < 2) return;
    const { step } = this.content;
    this.running = true;
    if (step === null || step >= n - 1) this.callbacks.setStep(0); // from the start again
    this.play.setAttribute("aria-pressed", "true");
    this.play.textContent = "\u275a\u275a pause";
    const tick = (): void => {
      const count = this.content.generation?.steps.length ?? 0;
      const current = this.content.step ?? -1;
      if (current + 1 >= count) return this.stop();
      this.callbacks.setStep(current + 1);
      if (this.running) this.timer = setTimeout(tick, PLAY_INTERVAL_MS); // the last step stopped it
    };
    this.timer = setTimeout(tick, PLAY_INTERVAL_MS);
  }

  private stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.running = false;
    this.play.setAttribute("aria-pressed", "false");
    this.play.textContent = "\u25b6 play";
  }

  private onKey(event: KeyboardEvent): void {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const n = this.content.generation?.steps.length ?? 0;
    let handled = true;
    if (event.key === "ArrowLeft" || event.key === "ArrowDown") this.move(-1);
    else if (event.key === "ArrowRight" || event.key === "ArrowUp") this.move(1);
    else if (event.key === "Home") this.go(0);
    else if (event.key === "End") this.go(n - 1);
    else handled = false;
    if (!handled) return;
    event.preventDefault(); // the slider would move a second time
    event.stopPropagation();
  }
}
