/**
 * The project's shared vocabulary as Python sends it in `meta.vocabulary`
 * (`attnviz_widget/vocabulary.py`: the aggregates table, colour scales, the log scale's depth,
 * the special-token pattern). The views read names, labels and constants from here and never
 * spell them themselves; {@link FALLBACK_VOCABULARY} is used only to decode a payload that
 * lacks them (an older export).
 */
import type { ColorScale } from "./types";

/** One way of summarising the heads of a layer (a row of Python's aggregate table). */
export interface AggregateInfo {
  /** Identifier, as `head` takes it: "mean". */
  name: string;
  /** Short overview column label: "roll". */
  label: string;
  /** Title template with `{layer}`: "layer {layer}, mean over heads". */
  title: string;
  /** What it is, in a few words. */
  description: string;
}

export interface Vocabulary {
  /** The aggregates, in overview column order after the heads. */
  aggregates: readonly AggregateInfo[];
  /** Colour scales, in the order the controls offer them. */
  colorScales: readonly ColorScale[];
  /** The log colour scale spans this many decades below the maximum. */
  logDecades: number;
  /** Token text that marks a special token where Python sent no flags. */
  specialToken: RegExp;
}

/** Every colour scale the mappers implement. */
const KNOWN_SCALES: readonly ColorScale[] = ["linear", "sqrt", "log"];

/** Decode fallback only: what Python sent before `meta.vocabulary` existed. */
export const FALLBACK_VOCABULARY: Vocabulary = {
  aggregates: [
    { name: "mean", label: "mean", title: "layer {layer}, mean over heads", description: "mean over heads" },
    { name: "max", label: "max", title: "layer {layer}, max over heads", description: "max over heads" },
    { name: "rollout", label: "roll", title: "rollout through layer {layer}", description: "attention rollout" },
  ],
  colorScales: KNOWN_SCALES,
  logDecades: 3,
  specialToken: /^(\[(CLS|SEP|PAD|MASK|UNK|BOS|EOS)\]|<\/?s>|<pad>|<unk>|<mask>|<bos>|<eos>|<\|[a-z_]+\|>)$/i,
};

/** Validate `meta.vocabulary`; each missing or malformed part falls back on its own. */
export function readVocabulary(raw: unknown): Vocabulary {
  const fallback = FALLBACK_VOCABULARY;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return fallback;
  const v = raw as Record<string, unknown>;
  const aggregates = Array.isArray(v.aggregates)
    ? v.aggregates
        .filter((a): a is Record<string, unknown> => typeof a === "object" && a !== null && typeof a.name === "string")
        .map((a) => ({
          name: String(a.name),
          label: String(a.label ?? a.name),
          title: typeof a.title === "string" && a.title ? a.title : `layer {layer}, ${String(a.name)}`,
          description: String(a.description ?? a.name),
        }))
    : null;
  const scales = Array.isArray(v.color_scales)
    ? v.color_scales.filter((s): s is ColorScale => KNOWN_SCALES.includes(s as ColorScale))
    : null;
  const decades = v.log_decades;
  return {
    aggregates: aggregates && aggregates.length > 0 ? aggregates : fallback.aggregates,
    colorScales: scales && scales.length > 0 ? scales : fallback.colorScales,
    logDecades: typeof decades === "number" && Number.isFinite(decades) && decades > 0 ? decades : fallback.logDecades,
    specialToken: compilePattern(v.special_token_pattern) ?? fallback.specialToken,
  };
}

function compilePattern(raw: unknown): RegExp | null {
  if (typeof raw !== "string" || raw === "") return null;
  try {
    return new RegExp(raw, "i");
  } catch {
    return null; // a pattern JS cannot read: keep the fallback
  }
}

/** The aggregate called `name`, or undefined. */
export function aggregateInfo(vocabulary: Vocabulary, name: string): AggregateInfo | undefined {
  return vocabulary.aggregates.find((a) => a.name === name);
}

/** Whether a token's text marks it as special under `vocabulary`. */
export function looksSpecial(token: string, vocabulary: Vocabulary): boolean {
  return vocabulary.specialToken.test(token.trim());
}
