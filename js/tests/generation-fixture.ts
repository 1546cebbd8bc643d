/** A generation as Python sends it in `meta.generation`, and a standalone state that carries one. */
import { encodeFloat16Array } from "../src/float16";
import { traits } from "./fake-model";

/** Prompt "t1 t2 t3" (with [CLS] first): 4 prompt tokens, then generated tokens. */
export const PROMPT = ["[CLS]", "t1", "t2", "t3"];
export const GENERATED = [" the", " <b>film</b>", "\n", "</s>"];

/** `meta.generation` for {@link GENERATED} (step 1 sampled away from its model probability). */
export function generationMeta(count = GENERATED.length, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const steps = GENERATED.slice(0, count).map((token, i) => ({
    token,
    display: token,
    probability: [0.5, 0.25, 0.9, 0.6][i],
    entropy: [1.2345, 2.5, 0.1, 0.75][i],
    ...(i === 1 ? { sampled_probability: 0.4 } : { sampled_probability: [0.5, 0.25, 0.9, 0.6][i] }),
    top:
      i === 1
        ? // the sampled token is not among the five likeliest
          ["a", "b", "c", "d", "e"].map((t, j) => ({ token: t, display: t, probability: 0.3 - 0.01 * j }))
        : [
            { token, display: token, probability: [0.5, 0.25, 0.9, 0.6][i] },
            { token: " a", display: " a", probability: 0.1 },
            { token: " <img>", display: " <img>", probability: 0.05 },
            { token: " x", display: " x", probability: 0.02 },
            { token: " y", display: " y", probability: 0.01 },
          ],
  }));
  return {
    prompt_tokens: PROMPT.length,
    steps,
    finish_reason: "eos",
    streaming: false,
    text: GENERATED.slice(0, count).join(""),
    ...extra,
  };
}

/** Deterministic attention over `q` tokens: row r of (layer l, head h) peaks at key (r + l + h) % (r + 1). */
export function layerStack(heads: number, q: number, layer: number): Float32Array {
  const values = new Float32Array(heads * q * q);
  for (let h = 0; h < heads; h++) {
    for (let r = 0; r < q; r++) {
      const peak = (r + layer + h) % (r + 1);
      for (let k = 0; k <= r; k++) values[(h * q + r) * q + k] = k === peak ? 0.5 + 0.5 / (r + 1) : 0.5 / (r + 1);
    }
  }
  return values;
}

function base64(values: Float32Array): string {
  const bytes = new Uint8Array(encodeFloat16Array(values).buffer);
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

/**
 * A standalone state of a causal model whose query axis holds the prompt and `count`
 * generated tokens (`pending` of them not yet in the matrix, as while streaming).
 */
export function generationState(count = GENERATED.length, options: { pending?: number; extra?: Record<string, unknown> } = {}) {
  const pending = options.pending ?? 0;
  const tokens = [...PROMPT, ...GENERATED.slice(0, count - pending)];
  const q = tokens.length;
  const base = traits(q, 2, 2);
  const meta = {
    ...(base.meta as Record<string, unknown>),
    causal: true,
    sections: ["self"],
    generation: generationMeta(count, pending > 0 ? { streaming: true, finish_reason: null } : {}),
  };
  const layers = { "0": base64(layerStack(2, q, 0)), "1": base64(layerStack(2, q, 1)) };
  return {
    ...base,
    tokens,
    key_tokens: tokens,
    special: tokens.map((t) => t === "[CLS]"),
    key_special: tokens.map((t) => t === "[CLS]"),
    section: "self",
    step: null,
    meta,
    layers,
    ...options.extra,
  };
}
