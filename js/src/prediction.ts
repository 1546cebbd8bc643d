/** The prediction panel of classifiers: one bar per label, most probable first. */
import { formatValue } from "./scale";
import type { Prediction } from "./types";

/** At most this many labels are listed; the rest are summarised in one line. */
export const MAX_PREDICTION_ROWS = 10;

/** Label rows to show: sorted by probability, the predicted label flagged. */
export function predictionRows(
  prediction: Prediction,
  limit = MAX_PREDICTION_ROWS,
): { rows: { label: string; probability: number; predicted: boolean }[]; more: number } {
  const all = prediction.labels.map((label, i) => ({
    label,
    probability: prediction.probabilities[i] ?? 0,
    predicted: label === prediction.label,
  }));
  all.sort((a, b) => b.probability - a.probability);
  return { rows: all.slice(0, limit), more: Math.max(0, all.length - limit) };
}

export class PredictionView {
  private readonly el: HTMLDivElement;

  constructor(host: HTMLElement) {
    this.el = host.ownerDocument.createElement("div");
    this.el.className = "attnviz-prediction";
    this.el.hidden = true;
    host.appendChild(this.el);
  }

  /** Show `prediction`, or hide the panel when it is null. */
  setPrediction(prediction: Prediction | null): void {
    this.el.hidden = prediction === null;
    if (!prediction) {
      this.el.replaceChildren();
      return;
    }
    const doc = this.el.ownerDocument;
    const div = (className: string, text?: string): HTMLDivElement => {
      const d = doc.createElement("div");
      d.className = className;
      if (text !== undefined) d.textContent = text;
      return d;
    };
    const title = div("attnviz-panel-title", "Prediction");
    const { rows, more } = predictionRows(prediction);
    const items = rows.map(({ label, probability, predicted }) => {
      const row = div(predicted ? "attnviz-prediction-row attnviz-predicted" : "attnviz-prediction-row");
      const name = div("attnviz-prediction-label", label);
      name.title = label;
      const bar = div("attnviz-prediction-bar");
      const fill = div("attnviz-prediction-fill");
      fill.style.width = `${(Math.min(Math.max(probability, 0), 1) * 100).toFixed(1)}%`;
      bar.appendChild(fill);
      bar.setAttribute("role", "meter");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "1");
      bar.setAttribute("aria-valuenow", String(probability));
      bar.setAttribute("aria-label", label);
      row.append(name, bar, div("attnviz-prediction-value", `${(probability * 100).toFixed(probability < 0.1 ? 1 : 0)}%`));
      return row;
    });
    const extra = more > 0 ? [div("attnviz-prediction-more", `+ ${more} more labels`)] : [];
    this.el.replaceChildren(title, ...items, ...extra);
    this.el.title = `predicted: ${prediction.label} (${formatValue(rows.find((r) => r.predicted)?.probability ?? 0, 3)})`;
  }

  destroy(): void {
    this.el.remove();
  }
}
