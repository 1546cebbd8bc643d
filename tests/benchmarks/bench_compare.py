"""Benchmark: comparing two 12 × 12 runs at 512 tokens vs showing one of them.

Not a test. Run it from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_compare.py [--tokens 512] [--repeats 5]

Both runs are BERT-base shaped, 12 layers × 12 heads, float32 ``(layers, heads, query, key)``
rows from a softmax of random logits; B is A's logits plus noise, so the heads differ by
realistic amounts. Timed, interleaved, median of ``--repeats``:

* **baseline, showing one run**: ``AttentionWidget.from_data(a)``, the Python side of
  displaying it (overview of every layer × head, rollout, the first focused matrix as float16);
* **comparison, scores + first view**: ``compare(a, b)``, ``head_scores("js")`` and
  ``head_scores("tv")`` over all 144 heads, and the first view's data: the A, B and B − A
  matrices of the focused head as float16 and the score grid;
* **comparison + both overviews**: the above plus the two per-side overviews
  (``wire.build_view`` for A and for B), what a side-by-side view would add;
* **different texts**: the same with B's tokens changed (8 inserted words, 8 substituted),
  so the alignment runs and every score reads through index arrays.

Prints a table of seconds and ratios to the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from attnviz_widget.comparison import compare  # noqa: E402
from attnviz_widget.data import AttentionData  # noqa: E402
from attnviz_widget.wire import build_view, float16_bytes  # noqa: E402

LAYERS, HEADS = 12, 12


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=-1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return logits.astype(np.float32)


def make_runs(tokens: int, seed: int = 0) -> tuple[AttentionData, AttentionData, AttentionData]:
    rng = np.random.default_rng(seed)
    words = ["[CLS]", *[f"w{i % 997}" for i in range(tokens - 2)], "[SEP]"]
    logits = rng.standard_normal((LAYERS, HEADS, tokens, tokens), dtype=np.float32) * 2.0
    a = AttentionData.from_arrays(words, softmax_rows(logits.copy()))
    logits += rng.standard_normal(logits.shape, dtype=np.float32) * 0.5
    b_values = softmax_rows(logits)
    b = AttentionData.from_arrays(words, b_values)
    changed = list(words)
    for k in range(8):  # 8 substituted words and 8 inserted ones, spread over the text
        changed[20 + 60 * k] = f"changed{k}"
    for k in range(8):
        changed.insert(50 + 60 * k, f"inserted{k}")
    changed = changed[: tokens - 1] + ["[SEP]"]
    b_text = AttentionData.from_arrays(changed, b_values)
    return a, b, b_text


def show_one(a: AttentionData) -> None:
    from attnviz_widget import AttentionWidget

    AttentionWidget.from_data(a).close()


def compare_first_view(a: AttentionData, b: AttentionData) -> None:
    comparison = compare(a, b, labels=("A", "B"))
    grid = comparison.head_scores("js"), comparison.head_scores("tv")
    layer, head = comparison.ranked_heads("js", top=1)[0][:2]  # focus the most changed head
    a_matrix, b_matrix = comparison.matrices(layer, head)
    payload = [float16_bytes(m) for m in (a_matrix, b_matrix, comparison.difference(layer, head))]
    payload.append(np.asarray(grid, dtype="<f4").tobytes())


def compare_with_overviews(a: AttentionData, b: AttentionData) -> None:
    compare_first_view(a, b)
    build_view(a, "self")
    build_view(b, "self")


def median_time(function: Callable[[], None], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    a, b, b_text = make_runs(args.tokens)
    cases: dict[str, Callable[[], None]] = {
        "show one run (baseline)": lambda: show_one(a),
        "compare: scores + first view": lambda: compare_first_view(a, b),
        "compare + both overviews": lambda: compare_with_overviews(a, b),
        "compare different texts: scores + first view": lambda: compare_first_view(a, b_text),
    }
    for function in cases.values():  # warm up: imports, first allocations
        function()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):  # interleaved, so that load from other processes hits every case alike
        for name, function in cases.items():
            samples[name] += median_time(function, 1)
    baseline = statistics.median(samples["show one run (baseline)"])
    print(f"{LAYERS} layers × {HEADS} heads × {args.tokens} tokens, median of {args.repeats}")
    print(f"{'case':48s} {'seconds':>8s} {'ratio':>6s}  (min–max s)")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:48s} {median:8.3f} {median / baseline:6.2f}  ({min(values):.3f}–{max(values):.3f})")
    alignment = compare(a, b_text).queries
    print(f"different texts: {int(alignment.only_b.sum())} gaps in A, {int(alignment.only_a.sum())} in B, "
          f"{int(alignment.substituted.sum())} substitutions")


if __name__ == "__main__":
    main()
