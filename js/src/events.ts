/**
 * The event half of an in-memory anywidget model (the offline page has no kernel): listeners by
 * event name, `on`/`off` as anywidget's model has them, and `emit` for the subclass.
 */

export type Callback = (...args: any[]) => void;

export class EventStore {
  private readonly handlers = new Map<string, Set<Callback>>();

  on(event: string, callback: Callback): void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(callback);
  }

  off(event?: string | null, callback?: Callback | null): void {
    if (!event) this.handlers.clear();
    else if (!callback) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(callback);
  }

  /** Nothing to save: there is no kernel. */
  save_changes(): void {}

  /** Number of listeners (for leak checks in tests). */
  listenerCount(): number {
    let n = 0;
    for (const set of this.handlers.values()) n += set.size;
    return n;
  }

  protected emit(event: string, ...args: unknown[]): void {
    for (const callback of [...(this.handlers.get(event) ?? [])]) callback(...args);
  }
}
