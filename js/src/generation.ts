/**
 * The generation record Python sends in `meta.generation` (PROTOCOL.md, "Generation"), in
 * typed form, and the index arithmetic of its steps. Step `i` is the generated token at
 * query position `prompt_tokens + i`; the attention that chose it is query row
 * `prompt_tokens + i - 1`. Pure: no DOM, no model.
 */

function isRecord(value: unknown): value is Record<string, any> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** One candidate for a step's token. */
export interface Alternative {
  readonly token: string;
  /** Readable form of the token (what the view shows). */
  readonly display: string;
  readonly probability: number;
}

/** One generated token and the distribution it was chosen from. */
export interface GenerationStep extends Alternative {
  /** Entropy of the model's next-token distribution, in nats. */
  readonly entropy: number;
  /** Its probability under the processed distribution it was sampled from (absent: same as `probability`). */
  readonly sampledProbability: number | null;
  /** The five likeliest tokens, most probable first. */
  readonly top: readonly Alternative[];
}

export type FinishReason = "eos" | "length" | "stop" | null;

/** `meta.generation`: a prompt and the tokens the model wrote after it. */
export interface Generation {
  /** How many query positions precede the first generated token. */
  readonly promptTokens: number;
  readonly steps: readonly GenerationStep[];
  readonly finishReason: FinishReason;
  /** More tokens are coming (each as a new data set). */
  readonly streaming: boolean;
  /** The generated text. */
  readonly text: string;
}

/** A probability in [0, 1] (anything else is not one: NaN). */
function probability(raw: unknown): number {
  const p = typeof raw === "number" ? raw : NaN;
  return p >= 0 && p <= 1 ? p : NaN;
}

function alternative(raw: unknown): Alternative | null {
  if (!isRecord(raw)) return null;
  const token = String(raw.token ?? "");
  const p = probability(raw.probability);
  if (Number.isNaN(p)) return null;
  return { token, display: typeof raw.display === "string" ? raw.display : token, probability: p };
}

function step(raw: unknown): GenerationStep | null {
  const chosen = alternative(raw);
  if (!chosen || !isRecord(raw)) return null;
  const entropy = typeof raw.entropy === "number" && raw.entropy >= 0 ? raw.entropy : NaN;
  const sampled = probability(raw.sampled_probability);
  const top = Array.isArray(raw.top) ? raw.top.map(alternative).filter((a): a is Alternative => a !== null) : [];
  return { ...chosen, entropy, sampledProbability: Number.isNaN(sampled) ? null : sampled, top };
}

/**
 * Validate `meta.generation`: null when absent; throws with a one-line reason when it is
 * malformed (the caller reports it and shows the data without the generation view).
 */
export function readGeneration(raw: unknown): Generation | null {
  if (raw === undefined || raw === null) return null;
  if (!isRecord(raw)) throw new Error("meta.generation is not an object");
  const prompt = raw.prompt_tokens;
  if (!Number.isInteger(prompt) || (prompt as number) < 0) {
    throw new Error(`meta.generation.prompt_tokens must be a non-negative integer, got ${JSON.stringify(prompt)}`);
  }
  if (!Array.isArray(raw.steps)) throw new Error("meta.generation.steps is not a list");
  const steps = raw.steps.map(step);
  const bad = steps.indexOf(null);
  if (bad >= 0) throw new Error(`meta.generation.steps[${bad}] has no token with a probability in [0, 1]`);
  const reasons = ["eos", "length", "stop"];
  return {
    promptTokens: prompt as number,
    steps: steps as GenerationStep[],
    finishReason: reasons.includes(raw.finish_reason as string) ? (raw.finish_reason as FinishReason) : null,
    streaming: raw.streaming === true,
    text: String(raw.text ?? ""),
  };
}

/** {@link readGeneration} that never throws: the record, or null and why. */
export function tryReadGeneration(raw: unknown): { generation: Generation | null; problem: string | null } {
  try {
    return { generation: readGeneration(raw), problem: null };
  } catch (error) {
    return { generation: null, problem: `generation view off: ${(error as Error).message}` };
  }
}

/** Query row whose attention chose step `step`'s token ("where it looked"). */
export function stepQuery(generation: Generation, step: number): number {
  return generation.promptTokens + step - 1;
}

/** Query position of step `step`'s token. */
export function stepPosition(generation: Generation, step: number): number {
  return generation.promptTokens + step;
}

/** The step whose choosing row is query `query`, or null when that row chose no generated token. */
export function stepOfQuery(generation: Generation, query: number): number | null {
  const s = query - generation.promptTokens + 1;
  return s >= 0 && s < generation.steps.length ? s : null;
}

/** `step` when it names a step of `generation` whose choosing row lies in `numQueries` rows, else null. */
export function validStep(generation: Generation, step: number | null, numQueries: number): number | null {
  if (step === null || !Number.isInteger(step) || step < 0 || step >= generation.steps.length) return null;
  const query = stepQuery(generation, step);
  return query >= 0 && query < numQueries ? step : null;
}

/**
 * Steps whose tokens are not in the data yet (streaming: the newest token's own row comes
 * with the next step), in order; `numQueries` is the length of the query axis.
 */
export function pendingSteps(generation: Generation, numQueries: number): GenerationStep[] {
  const first = Math.max(0, numQueries - generation.promptTokens);
  return generation.steps.slice(first);
}

/** What the token view marks: the first generated position and the tokens still to come. */
export interface TokenMarks {
  /** Query index of the first generated token (`prompt_tokens`). */
  readonly firstGenerated: number;
  /** Display text of generated tokens after the last query (streaming), in order. */
  readonly pending: readonly string[];
  /** One line per generated token, for its tooltip ({@link stepNote}); absent: none. */
  readonly notes: readonly string[];
}

/** The token view's marks for `generation` over `numQueries` queries (null: none). */
export function tokenMarks(generation: Generation | null, numQueries: number): TokenMarks | null {
  if (!generation) return null;
  const notes = generation.steps.map((step, i) => stepNote(step, i, generation.steps.length));
  return { firstGenerated: generation.promptTokens, pending: pendingSteps(generation, numQueries).map((s) => s.display), notes };
}

/** "41.2%", "<0.1%": a probability for reading. */
export function percent(p: number): string {
  if (!(p >= 0)) return "?";
  if (p > 0 && p < 0.001) return "<0.1%";
  return `${(p * 100).toFixed(1)}%`;
}

/** "generated token 3 of 12 · probability 41.2%": a generated token's tooltip line. */
export function stepNote(step: GenerationStep, index: number, count: number): string {
  return `generated token ${index + 1} of ${count} \u00b7 probability ${percent(step.probability)}`;
}

/** One line of what was generated: "12 tokens generated · stopped at end-of-sequence". */
export function describeGeneration(generation: Generation): string {
  const n = generation.steps.length;
  const count = `${n} token${n === 1 ? "" : "s"}`;
  if (generation.streaming) return `generating\u2026 ${count} so far`;
  const reason =
    generation.finishReason === "eos"
      ? "stopped at end-of-sequence"
      : generation.finishReason === "length"
        ? "reached max_new_tokens"
        : generation.finishReason === "stop"
          ? "stopped by a stop criterion"
          : "";
  return [`${count} generated`, reason].filter(Boolean).join(" \u00b7 ");
}
