// A fake anywidget model for browser tests: synthetic attention with the shapes, dtypes and
// message protocol of js/PROTOCOL.md, answering layer requests like the Python side would.

/** float32 → IEEE half bits (round to nearest even), independent of the widget's encoder. */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function toHalf(value) {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = sign | (exp << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return half;
}

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** Attention of one head: rows sum to 1; a few recognisable patterns. */
function headMatrix(q, k, layer, head, causal, random) {
  const out = new Float32Array(q * k);
  const kind = (layer * 7 + head) % 5;
  for (let i = 0; i < q; i++) {
    const limit = causal ? Math.min(k - 1, i + (k - q)) : k - 1;
    let sum = 0;
    for (let j = 0; j <= limit; j++) {
      let w = 0.02 * random();
      if (kind === 0) w += j === 0 ? 3 : 0;                  // attention sink on the first token
      else if (kind === 1) w += j === i - 1 ? 4 : 0;         // previous token
      else if (kind === 2) w += j === i ? 4 : 0;             // self
      else if (kind === 3) w += Math.max(0, 1 - Math.abs(i - j) / 4); // local window
      else w += random() < 0.03 ? 2 * random() : 0;          // sparse
      w += j === limit ? 0.3 : 0;                            // a [SEP]-like column
      out[i * k + j] = w;
      sum += w;
    }
    for (let j = 0; j <= limit; j++) out[i * k + j] /= sum;
  }
  return out;
}

function pool(matrix, q, k, tq, tk, out, offset) {
  for (let r = 0; r < tq; r++) {
    const q0 = Math.floor((r * q) / tq), q1 = Math.max(q0 + 1, Math.floor(((r + 1) * q) / tq));
    for (let c = 0; c < tk; c++) {
      const k0 = Math.floor((c * k) / tk), k1 = Math.max(k0 + 1, Math.floor(((c + 1) * k) / tk));
      let m = 0;
      for (let i = q0; i < q1; i++) for (let j = k0; j < k1; j++) if (matrix[i * k + j] > m) m = matrix[i * k + j];
      out[offset + r * tk + c] = m;
    }
  }
}

/** A DataView over a copy of `bytes` placed at `offset` inside a larger buffer. */
function viewAt(bytes, offset) {
  const buf = new ArrayBuffer(bytes.byteLength + offset + 3);
  new Uint8Array(buf, offset, bytes.byteLength).set(bytes);
  return new DataView(buf, offset, bytes.byteLength);
}

/**
 * Synthetic data for `layers × heads` at `tokens.length` tokens.
 * Returns trait values (as anywidget delivers them) and float16 layers.
 */
export function makeData({ tokens, layers = 4, heads = 4, causal = false, seed = 1, special = null }) {
  const q = tokens.length, k = q;
  const random = rng(seed);
  const tq = Math.min(64, q), tk = Math.min(64, k);
  const columns = heads + 3;
  const pooled = new Float32Array(layers * columns * tq * tk);
  const layerHalves = {};
  const rolloutHalves = new Uint16Array(layers * q * k);
  for (let l = 0; l < layers; l++) {
    const halves = new Uint16Array(heads * q * k);
    const mean = new Float32Array(q * k), max = new Float32Array(q * k);
    for (let h = 0; h < heads; h++) {
      const m = headMatrix(q, k, l, h, causal, random);
      for (let i = 0; i < m.length; i++) {
        halves[h * q * k + i] = toHalf(m[i]);
        mean[i] += m[i] / heads;
        if (m[i] > max[i]) max[i] = m[i];
      }
      pool(m, q, k, tq, tk, pooled, (l * columns + h) * tq * tk);
    }
    pool(mean, q, k, tq, tk, pooled, (l * columns + heads) * tq * tk);
    pool(max, q, k, tq, tk, pooled, (l * columns + heads + 1) * tq * tk);
    pool(mean, q, k, tq, tk, pooled, (l * columns + heads + 2) * tq * tk); // stand-in for rollout
    for (let i = 0; i < q * k; i++) rolloutHalves[l * q * k + i] = toHalf(mean[i]);
    layerHalves[l] = halves;
  }
  const size = tq * tk;
  const bytes = new Uint8Array(pooled.length);
  const scale = new Float32Array(layers * columns);
  for (let t = 0; t < layers * columns; t++) {
    let m = 0;
    for (let i = 0; i < size; i++) m = Math.max(m, pooled[t * size + i]);
    scale[t] = m;
    for (let i = 0; i < size; i++) bytes[t * size + i] = m > 0 ? Math.round((pooled[t * size + i] / m) * 255) : 0;
  }
  const specialFlags = special ?? tokens.map((t) => /^\[(CLS|SEP|PAD)\]$/.test(t));
  const traits = {
    data_version: 1,
    tokens,
    key_tokens: tokens,
    special: specialFlags,
    key_special: specialFlags,
    meta: {
      num_layers: layers, num_heads: heads, layer_indices: Array.from({ length: layers }, (_, i) => i),
      num_queries: q, num_keys: k, causal, kind: "self", sections: ["encoder"],
      model: { model_type: "fake", architecture: "FakeForTests", num_layers: layers, num_heads: heads, name: "fake/model" },
      text: tokens.join(" "),
    },
    prediction: null,
    overview: viewAt(bytes, 5),                                    // odd byteOffset
    overview_shape: [layers, columns, tq, tk],
    overview_scale: viewAt(new Uint8Array(scale.buffer), 2),       // not 4-aligned
    status: "ready",
    error: "",
    layer: 0, head: 0, selected_token: null, token_locked: false, direction: "from",
    color_scale: "sqrt", row_normalize: false, hide_special: false, section: "encoder",
  };
  return { traits, layerHalves, rolloutHalves, shape: { q, k, heads, layers } };
}

/** A fake anywidget model over `makeData` output; records what the widget sends and saves. */
export class FakeModel {
  constructor(dataset, { delay = 0 } = {}) {
    this.values = new Map(Object.entries(dataset.traits));
    this.dataset = dataset;
    this.delay = delay;
    this.handlers = new Map();
    this.sent = [];
    this.saves = 0;
    this.savedValues = [];
  }
  get(name) { return this.values.get(name); }
  set(name, value) {
    if (Object.is(this.values.get(name), value)) return;
    this.values.set(name, value);
    this.emit(`change:${name}`, this, value);
  }
  save_changes() {
    this.saves += 1;
    this.savedValues.push({ selected_token: this.get("selected_token"), token_locked: this.get("token_locked"), layer: this.get("layer"), head: this.get("head") });
  }
  on(event, cb) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(cb);
  }
  off(event, cb) {
    if (!event) return this.handlers.clear();
    if (!cb) return this.handlers.delete(event);
    this.handlers.get(event)?.delete(cb);
  }
  listenerCount() {
    let n = 0;
    for (const s of this.handlers.values()) n += s.size;
    return n;
  }
  emit(event, ...args) {
    for (const cb of [...(this.handlers.get(event) ?? [])]) cb(...args);
  }
  /** Python's side: answer layer / rollout requests with one float16 buffer. */
  send(msg) {
    this.sent.push(msg);
    if (msg.type !== "request") return;
    const { q, k, heads, layers } = this.dataset.shape;
    setTimeout(() => {
      if (msg.what === "layer") {
        const halves = this.dataset.layerHalves[msg.layer];
        const reply = { type: "layer", id: msg.id, version: msg.version, layer: msg.layer, dtype: "float16", shape: [heads, q, k] };
        this.emit("msg:custom", reply, [viewAt(new Uint8Array(halves.buffer), 6)]);
      } else if (msg.what === "rollout") {
        const reply = { type: "rollout", id: msg.id, version: msg.version, dtype: "float16", shape: [layers, q, k] };
        this.emit("msg:custom", reply, [viewAt(new Uint8Array(this.dataset.rolloutHalves.buffer), 3)]);
      }
    }, this.delay);
  }
}
