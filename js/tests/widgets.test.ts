// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { Controls, parseHead } from "../src/controls";
import { exportFileName } from "../src/export";
import { PredictionView, predictionRows } from "../src/prediction";
import type { ViewState } from "../src/types";
import { FALLBACK_VOCABULARY, readVocabulary } from "../src/vocabulary";

const vocabulary = FALLBACK_VOCABULARY;

afterEach(() => document.body.replaceChildren());

const state: ViewState = {
  layer: 2,
  head: "mean",
  selectedToken: null,
  tokenLocked: false,
  direction: "from",
  colorScale: "sqrt",
  rowNormalize: false,
  hideSpecial: true,
  section: "decoder",
  step: null,
};

describe("Controls", () => {
  it("reflects state and reports changes", () => {
    const host = document.createElement("div");
    document.body.appendChild(host);
    const changes: unknown[] = [];
    let exports = 0;
    const controls = new Controls(host, { change: (p) => changes.push(p), exportPng: () => exports++ });
    controls.update({ view: state, layerIndices: [0, 2, 4], numHeads: 2, sections: ["encoder", "decoder", "cross"], rolloutProblem: null, vocabulary, canExport: true });
    const layer = host.querySelector<HTMLSelectElement>(".attnviz-layer-select")!;
    const head = host.querySelector<HTMLSelectElement>(".attnviz-head-select")!;
    expect(Array.from(layer.options).map((o) => o.value)).toEqual(["0", "2", "4"]);
    expect(Array.from(head.options).map((o) => o.value)).toEqual(["0", "1", "mean", "max", "rollout"]);
    expect(head.value).toBe("mean");
    expect(host.querySelector<HTMLInputElement>(".attnviz-hide-special")!.checked).toBe(true);
    expect(host.querySelector<HTMLSelectElement>(".attnviz-section-select")!.closest("label")!.hidden).toBe(false);

    layer.value = "4";
    layer.dispatchEvent(new Event("change"));
    head.value = "1";
    head.dispatchEvent(new Event("change"));
    host.querySelector<HTMLButtonElement>('button[data-value="log"]')!.click();
    host.querySelector<HTMLButtonElement>('button[data-value="to"]')!.click();
    host.querySelector<HTMLButtonElement>(".attnviz-export")!.click();
    expect(changes).toEqual([{ layer: 4 }, { head: 1 }, { colorScale: "log" }, { direction: "to" }]);
    expect(exports).toBe(1);

    controls.update({ view: { ...state, colorScale: "log" }, layerIndices: [0, 2, 4], numHeads: 2, sections: ["encoder"], rolloutProblem: "rollout needs every layer from layer 0 on", vocabulary, canExport: false });
    expect(host.querySelector('button[data-value="log"]')!.getAttribute("aria-pressed")).toBe("true");
    expect(host.querySelector<HTMLButtonElement>(".attnviz-export")!.disabled).toBe(true);
    const rollout = host.querySelector<HTMLOptionElement>('.attnviz-head-select option[value="rollout"]')!;
    expect(rollout.disabled).toBe(true);
    expect(rollout.title).toBe("rollout needs every layer from layer 0 on");
    expect(host.querySelector<HTMLSelectElement>(".attnviz-section-select")!.closest("label")!.hidden).toBe(true);
    controls.destroy();
    expect(host.children).toHaveLength(0);
  });

  it("offers the aggregates and colour scales Python sends, in its order", () => {
    const host = document.createElement("div");
    const changes: unknown[] = [];
    const controls = new Controls(host, { change: (p) => changes.push(p), exportPng: () => undefined });
    const python = readVocabulary({
      aggregates: [{ name: "max", label: "max", title: "layer {layer}, max", description: "max over heads" }],
      color_scales: ["log", "linear"],
      log_decades: 4,
    });
    controls.update({ view: state, layerIndices: [0], numHeads: 1, sections: [], rolloutProblem: null, vocabulary: python, canExport: true });
    const head = host.querySelector<HTMLSelectElement>(".attnviz-head-select")!;
    expect(Array.from(head.options).map((o) => o.value)).toEqual(["0", "max"]);
    const scales = Array.from(host.querySelectorAll<HTMLButtonElement>(".attnviz-segmented button")).slice(0, 2);
    expect(scales.map((b) => b.dataset.value)).toEqual(["log", "linear"]);
    expect(scales[0].title).toMatch(/over 4 decades/);
    scales[1].click();
    head.value = "max";
    head.dispatchEvent(new Event("change"));
    expect(changes).toEqual([{ colorScale: "linear" }, { head: "max" }]);
  });

  it("parses head values", () => {
    expect(parseHead("3", vocabulary.aggregates)).toBe(3);
    expect(parseHead("rollout", vocabulary.aggregates)).toBe("rollout");
  });
});

describe("PredictionView", () => {
  it("lists labels by probability with the prediction marked, as text", () => {
    const host = document.createElement("div");
    const view = new PredictionView(host);
    view.setPrediction({ labels: ["NEGATIVE", "<i>POSITIVE</i>"], probabilities: [0.2, 0.8], label: "<i>POSITIVE</i>" });
    const rows = host.querySelectorAll(".attnviz-prediction-row");
    expect(rows).toHaveLength(2);
    expect(rows[0].classList.contains("attnviz-predicted")).toBe(true);
    expect(rows[0].querySelector(".attnviz-prediction-label")!.textContent).toBe("<i>POSITIVE</i>");
    expect(host.querySelector("i")).toBeNull();
    expect((rows[0].querySelector(".attnviz-prediction-fill") as HTMLElement).style.width).toBe("80.0%");
    view.setPrediction(null);
    expect(host.querySelector<HTMLElement>(".attnviz-prediction")!.hidden).toBe(true);
  });

  it("caps long label lists", () => {
    const labels = Array.from({ length: 15 }, (_, i) => `l${i}`);
    const { rows, more } = predictionRows({ labels, probabilities: labels.map((_, i) => i / 100), label: "l14" }, 10);
    expect(rows).toHaveLength(10);
    expect(rows[0].label).toBe("l14");
    expect(more).toBe(5);
  });
});

describe("exportFileName", () => {
  it("names the file after model, layer and head, safely", () => {
    expect(exportFileName("bert-base-uncased", 3, 5)).toBe("attention_bert-base-uncased_layer3_head5.png");
    expect(exportFileName("org/My Model:v2", 0, "rollout")).toBe("attention_My-Model-v2_layer0_rollout.png");
    expect(exportFileName("", 1, "mean")).toBe("attention_layer1_mean.png");
  });
});
