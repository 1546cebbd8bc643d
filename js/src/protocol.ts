/**
 * The request/response protocol of PROTOCOL.md, independent of what is requested: ids,
 * per-`data_version` caching (least recently used dropped), timeouts, cancellation, and
 * the checks on every reply (ours, current version, the expected type). Decoding a reply's
 * payload is the caller's (see `decode.ts`).
 */
import { isRecord } from "./decode";

/** Why a request failed. */
export type RequestFailure = "timeout" | "stale" | "remote" | "protocol" | "disposed" | "cancelled";

/** A failed request for full-resolution data. */
export class RequestError extends Error {
  constructor(
    readonly reason: RequestFailure,
    message: string,
  ) {
    super(message);
    this.name = "RequestError";
  }
}

/** Whether `error` only means the answer is no longer wanted (not worth showing). */
export function isAbandoned(error: unknown): boolean {
  return error instanceof RequestError && ["stale", "disposed", "cancelled"].includes(error.reason);
}

/** The body of a request: `what` names the reply type expected, the rest are its fields. */
export interface RequestBody {
  what: string;
  [field: string]: unknown;
}

/** Turns a reply (already checked to be ours, current and of type `what`) into a value. */
export type ReplyDecoder<T> = (msg: Record<string, unknown>, buffers: unknown) => T;

export interface ChannelOptions {
  /** A request without an answer fails after this long. */
  timeoutMs?: number;
  /** Results kept per data version (least recently used are dropped). */
  cacheSize?: number;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: RequestError) => void;
  decode: ReplyDecoder<unknown>;
  timer: ReturnType<typeof setTimeout>;
  version: number;
  what: string;
  label: string;
}

/** One model's request channel: `send` puts a message on the wire, `version` reads `data_version`. */
export class RequestChannel {
  private readonly timeoutMs: number;
  private readonly cacheSize: number;
  private readonly pending = new Map<string, Pending>();
  private readonly cache = new Map<string, Promise<unknown>>();
  /** The value of each cached promise that has resolved (what {@link peek} returns). */
  private readonly arrived = new WeakMap<Promise<unknown>, unknown>();
  private readonly idPrefix = randomId();
  private nextId = 0;
  private cacheVersion = -1;
  private disposed = false;

  constructor(
    private readonly send: (message: Record<string, unknown>) => void,
    private readonly version: () => number,
    options: ChannelOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.cacheSize = Math.max(1, options.cacheSize ?? 4);
  }

  /** Number of requests waiting for an answer. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Send `body` and resolve with the decoded reply. With `signal`, aborting drops the
   * request: its promise rejects with reason "cancelled" and a late reply is ignored.
   */
  request<T>(body: RequestBody, decode: ReplyDecoder<T>, signal?: AbortSignal): Promise<T> {
    if (this.disposed) return Promise.reject(new RequestError("disposed", "the widget view was closed"));
    if (signal?.aborted) return Promise.reject(new RequestError("cancelled", `${describe(body)} was cancelled`));
    const id = `${this.idPrefix}-${++this.nextId}`;
    const version = this.version();
    const label = describe(body);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError("timeout", `no answer from Python for ${label} after ${this.timeoutMs / 1000} s`));
      }, this.timeoutMs);
      const entry: Pending = {
        resolve: resolve as (value: unknown) => void,
        reject,
        decode,
        timer,
        version,
        what: body.what,
        label,
      };
      this.pending.set(id, entry);
      signal?.addEventListener(
        "abort",
        () => {
          if (this.pending.get(id) !== entry) return;
          this.settle(id, entry);
          reject(new RequestError("cancelled", `${label} was cancelled`));
        },
        { once: true },
      );
      try {
        this.send({ type: "request", id, version, ...body });
      } catch (error) {
        this.settle(id, entry);
        reject(new RequestError("protocol", `could not send the request: ${(error as Error).message}`));
      }
    });
  }

  /** `load()` once per `key` and data version; failures are not cached. */
  cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    this.dropStale();
    const hit = this.cache.get(key) as Promise<T> | undefined;
    if (hit) {
      this.cache.delete(key); // most recently used goes last
      this.cache.set(key, hit);
      return hit;
    }
    const promise = load();
    this.cache.set(key, promise);
    promise.then(
      (value) => void this.arrived.set(promise, value),
      () => {
        if (this.cache.get(key) === promise) this.cache.delete(key);
      },
    );
    while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    return promise;
  }

  /**
   * The cached value of `key` if it has arrived (for this data version), else undefined: what
   * `cached` would resolve with, without waiting for a microtask. A head switch on a loaded
   * layer so paints in the same pass instead of drawing "Loading…" first.
   */
  peek<T>(key: string): T | undefined {
    this.dropStale();
    const hit = this.cache.get(key);
    if (!hit || !this.arrived.has(hit)) return undefined;
    this.cache.delete(key); // most recently used goes last
    this.cache.set(key, hit);
    return this.arrived.get(hit) as T;
  }

  /** Drop cached results and fail open requests of an older data version. */
  dropStale(): void {
    const version = this.version();
    if (version === this.cacheVersion) return;
    this.cacheVersion = version;
    this.cache.clear();
    for (const [id, p] of this.pending) {
      if (p.version === version) continue;
      this.settle(id, p);
      p.reject(new RequestError("stale", `data version ${p.version} was replaced by ${version}`));
    }
  }

  /** Route a custom message: resolve or reject the request it answers (others are ignored). */
  handleMessage(msg: unknown, buffers: unknown): void {
    if (!isRecord(msg) || typeof msg.id !== "string") return;
    const p = this.pending.get(msg.id);
    if (!p) return; // not ours, timed out, cancelled or already answered
    this.settle(msg.id, p);
    const fail = (reason: RequestFailure, text: string): void => p.reject(new RequestError(reason, text));
    if (msg.version !== p.version || p.version !== this.version()) {
      fail("stale", `answer for data version ${String(msg.version)}, current is ${this.version()}`);
      return;
    }
    if (msg.type === "error") {
      fail("remote", String(msg.message ?? "Python reported an error"));
      return;
    }
    if (msg.type !== p.what) {
      fail("protocol", `expected a "${p.what}" answer, got "${String(msg.type)}"`);
      return;
    }
    try {
      p.resolve(p.decode(msg, buffers));
    } catch (error) {
      fail("protocol", `${p.label}: ${(error as Error).message}`);
    }
  }

  /** Reject open requests and forget the cache; later requests fail at once. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const [id, p] of this.pending) {
      this.settle(id, p);
      p.reject(new RequestError("disposed", "the widget view was closed"));
    }
    this.cache.clear();
  }

  private settle(id: string, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(id);
  }
}

/** "layer 3", "rollout", "tile of layer 0 head 2": for messages. */
function describe(body: RequestBody): string {
  if (body.what === "layer") return `layer ${String(body.layer)}`;
  if (body.what === "rollout") return "rollout";
  const where = body.layer !== undefined ? ` of layer ${String(body.layer)} head ${String(body.head)}` : "";
  return `${body.what}${where}`;
}

function randomId(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID().slice(0, 8);
  return Math.random().toString(36).slice(2, 10);
}
