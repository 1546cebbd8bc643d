/**
 * Loads the row of a generation step in every layer and head (one `rows` request per step):
 * finished rows are cached per data version (a few, least recently used dropped), a new step
 * cancels the request of the previous one, and the app drops any reply whose key
 * (`version|query`) is no longer the one shown.
 */
import { isAbandoned } from "./protocol";
import type { Stack } from "./types";

/** Rows kept per data version. */
export const STEP_ROWS_CACHE = 16;

/** The step rows as the app knows them: which (`key`), and what arrived. */
export interface StepRows {
  /** `version|query` ("" for none). */
  readonly key: string;
  readonly rows: Stack | null;
  readonly error: string | null;
}

export const NO_STEP_ROWS: StepRows = { key: "", rows: null, error: null };

/** `rows` when it is `[layers, heads, keys]` of the data shown; throws saying how it differs. */
export function checkedRows(rows: Stack, layers: number, heads: number, keys: number): Stack {
  if (rows.n === layers && rows.rows === heads && rows.cols === keys) return rows;
  throw new Error(`the rows reply is ${rows.n}\u00d7${rows.rows}\u00d7${rows.cols}, the data has ${layers} layers \u00d7 ${heads} heads \u00d7 ${keys} keys`);
}

export class StepRowsLoader {
  private readonly cache = new Map<string, Stack>();
  private version = -1;
  private controller: AbortController | null = null;

  constructor(
    private readonly fetch: (query: number, signal: AbortSignal) => Promise<Stack>,
    /** A request finished: `rows` for `key` (still to be checked against what is shown). */
    private readonly landed: (rows: StepRows) => void,
  ) {}

  /** Start loading query `query` of data version `version` under `key`; returns what is known at once. */
  load(key: string, version: number, query: number | null): StepRows {
    this.controller?.abort();
    this.controller = null;
    if (version !== this.version) {
      this.cache.clear();
      this.version = version;
    }
    if (key === "" || query === null) return NO_STEP_ROWS;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key); // most recently used goes last
      this.cache.set(key, hit);
      return { key, rows: hit, error: null };
    }
    const controller = new AbortController();
    this.controller = controller;
    this.fetch(query, controller.signal).then(
      (rows) => {
        if (version === this.version) {
          this.cache.set(key, rows);
          while (this.cache.size > STEP_ROWS_CACHE) this.cache.delete(this.cache.keys().next().value as string);
        }
        this.landed({ key, rows, error: null });
      },
      (error: unknown) => {
        if (!isAbandoned(error)) this.landed({ key, rows: null, error: (error as Error).message });
      },
    );
    return { key, rows: null, error: null };
  }

  /** Cancel the open request. */
  dispose(): void {
    this.controller?.abort();
    this.controller = null;
    this.cache.clear();
  }
}
