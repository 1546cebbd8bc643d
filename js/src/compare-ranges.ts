/**
 * The colour-bar half-range of B − A for each head of the focused layer pair, found once per
 * head: when a head is drawn, and for the layer's other heads while the browser is idle once
 * both sides' layers are here. A head switch then draws B − A in one pass over the cells
 * instead of two (the range pass is ~40% of the B − A work at 512 tokens). Keys carry both
 * data versions, so new data never meets an old range.
 */
import { differenceRange, type Alignment } from "./compare-diff";
import type { Matrix } from "./types";

/** Both sides' focused matrices of layer pair `layer` (A's numbering) and `head`, if here; else null. */
export type LoadedPair = (layer: number, head: number) => [Matrix, Matrix] | null;

type IdleWindow = Window & { requestIdleCallback?: (cb: (deadline: { timeRemaining(): number }) => void) => number };

/** Idle time left below which no further head is measured in this idle period (ms). */
const MIN_IDLE_MS = 3;

export class DifferenceRanges {
  private readonly known = new Map<string, number>();
  private queue: [string, number, number][] = [];
  private scheduled = false;
  private stopped = false;

  /**
   * @param queries the alignment of the query tokens
   * @param runs `keyRuns` of the key alignment
   * @param loaded both sides' matrices, when their layers are here
   * @param view the window whose idle periods are used (none: a timer)
   */
  constructor(
    private readonly queries: Alignment,
    private readonly runs: Int32Array,
    private readonly loaded: LoadedPair,
    private readonly view: IdleWindow | null,
  ) {}

  /** The half-range of `version|layer|head`, if known. */
  get(key: string): number | undefined {
    return this.known.get(key);
  }

  /** Remember the half-range of `key` (as just drawn). */
  set(key: string, range: number): void {
    this.known.set(key, range);
  }

  /**
   * Measure the heads `0..heads-1` of `layer` not yet known while the browser is idle;
   * `keyOf(layer, head)` names them as the view does. Replaces an earlier layer's queue.
   */
  prefetch(layer: number, heads: number, keyOf: (layer: number, head: number) => string): void {
    this.queue = [];
    for (let head = 0; head < heads; head++) {
      const key = keyOf(layer, head);
      if (!this.known.has(key)) this.queue.push([key, layer, head]);
    }
    this.schedule();
  }

  /** Forget every range (new data) and stop the queue. */
  clear(): void {
    this.known.clear();
    this.queue = [];
  }

  dispose(): void {
    this.stopped = true;
    this.clear();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped || this.queue.length === 0) return;
    this.scheduled = true;
    const run = (deadline?: { timeRemaining(): number }): void => {
      this.scheduled = false;
      do {
        const next = this.queue.shift();
        if (!next || this.stopped) return;
        const [key, layer, head] = next;
        if (this.known.has(key)) continue;
        let pair: [Matrix, Matrix] | null = null;
        try {
          pair = this.loaded(layer, head);
        } catch {
          pair = null;
        }
        if (!pair) return; // not here (evicted, or never came): drawing the head will measure it
        this.known.set(key, differenceRange(pair[0], pair[1], this.queries, this.runs));
      } while (deadline !== undefined && deadline.timeRemaining() > MIN_IDLE_MS);
      this.schedule();
    };
    if (typeof this.view?.requestIdleCallback === "function") this.view.requestIdleCallback(run);
    else setTimeout(run, 50);
  }
}
