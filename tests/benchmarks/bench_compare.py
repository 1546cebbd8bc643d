"""Benchmark: showing the comparison of two 12 × 12 runs at 512 tokens vs showing one of them.

Not a test. Run it from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_compare.py [--tokens 512] [--repeats 5]

Both runs are BERT-base shaped, 12 layers × 12 heads, float32 ``(layers, heads, query, key)``
rows from a softmax of random logits; B is A's logits plus noise, so the heads differ by
realistic amounts. Every timed call gets fresh :class:`AttentionData` objects (the same
arrays, no cached rollout), as a newly extracted run would be. Timed, interleaved, median of
``--repeats``, in wall-clock seconds and in CPU seconds of the process (all threads; on a
machine shared with other work the CPU time is the steadier measure of cost):

* **baseline, showing one run**: ``AttentionWidget.from_data(a)``, what the widget does before
  it is on screen: ``build_view`` (overview of every layer × head with the mean and rollout
  columns, rollout, tokens, meta) and the first focused matrix as float16;
* **comparison, first view**: ``AttentionWidget.compare(a, b)``, what the comparison widget does
  before its first view is on screen: ``compare``, the JS and TV scores of all 144 heads (the
  score grid), each side's tokens, meta and focused matrix (A, B and B − A), the alignment;
* **comparison, + both overviews**: the same and then ``wait()`` until the background thread
  has sent both sides' overviews (``build_view`` of each, with rollout), the complete view;
* **different texts**: both again with B's tokens changed (8 inserted words, 8 substituted),
  so the alignment runs and every score reads through aligned index runs.

Then where the comparison's time goes, each part alone on one thread (median, wall seconds).
Prints a table of seconds and ratios to the baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from attnviz_widget import AttentionWidget  # noqa: E402
from attnviz_widget.comparison import compare  # noqa: E402
from attnviz_widget.comparison.scores import default_workers  # noqa: E402
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


def fresh(data: AttentionData) -> AttentionData:
    """The same arrays in a new object: no rollout cached from an earlier call."""
    return dataclasses.replace(data)


def show_one(a: AttentionData) -> None:
    AttentionWidget.from_data(fresh(a)).close()


def show_comparison(a: AttentionData, b: AttentionData, complete: bool = False) -> Callable[[], None]:
    """The comparison widget's first view (``complete``: and both overviews); returns what is left
    to do untimed, so that no background work of one call runs into the next."""
    widget = AttentionWidget.compare(fresh(a), fresh(b))
    if complete:
        widget.wait()

    def finish() -> None:
        widget.wait()
        widget.close()

    return finish


def timed(function: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call; a callable it returns is then run untimed."""
    wall, cpu = time.perf_counter(), time.process_time()
    rest = function()
    times = time.perf_counter() - wall, time.process_time() - cpu
    if callable(rest):
        rest()
    return times


def check_payload(a: AttentionData, b: AttentionData) -> None:
    """The timed call really builds the whole first view: both overviews, first matrices and the scores."""
    widget = AttentionWidget.compare(fresh(a), fresh(b)).wait()
    comparison = widget.comparison
    for side in ("a", "b"):
        assert len(getattr(widget, f"{side}_overview")) > 0 and len(getattr(widget, f"{side}_first_matrix")) > 0
    expected = np.stack([comparison.head_scores(metric) for metric in ("js", "tv")]).astype("<f4").tobytes()
    assert widget.scores == expected
    widget.close()


def parts(a: AttentionData, b: AttentionData) -> dict[str, Callable[[], object]]:
    """The comparison's steps, each alone and on one thread."""
    return {
        "  compare(a, b): checks and alignment": lambda: compare(fresh(a), fresh(b)),
        "  scores of 144 heads, 1 thread": lambda: compare(a, b).prepare_scores(workers=1),
        "  one side's build_view (as the baseline's)": lambda: build_view(fresh(a), "self"),
        "  first matrix as float16": lambda: float16_bytes(a.matrix(0, 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    a, b, b_text = make_runs(args.tokens)
    check_payload(a, b)
    cases: dict[str, Callable[[], object]] = {
        "show one run (baseline)": lambda: show_one(a),
        "compare: first view": lambda: show_comparison(a, b),
        "compare: + both overviews": lambda: show_comparison(a, b, complete=True),
        "compare different texts: first view": lambda: show_comparison(a, b_text),
        "compare different texts: + both overviews": lambda: show_comparison(a, b_text, complete=True),
        **parts(a, b),
        "  different texts: scores, 1 thread": lambda: compare(a, b_text).prepare_scores(workers=1),
    }
    for function in cases.values():  # warm up: imports, first allocations
        timed(function)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(args.repeats):  # interleaved, so that load from other processes hits every case alike
        for name, function in cases.items():
            samples[name].append(timed(function))
    wall = {name: statistics.median(s[0] for s in values) for name, values in samples.items()}
    cpu = {name: statistics.median(s[1] for s in values) for name, values in samples.items()}
    base = "show one run (baseline)"
    print(f"{LAYERS} layers × {HEADS} heads × {args.tokens} tokens, median of {args.repeats}; "
          f"{default_workers()} CPUs for the scores' threads")
    print(f"{'case':48s} {'wall s':>7s} {'ratio':>6s} {'cpu s':>7s} {'ratio':>6s}  (wall min–max)")
    for name, values in samples.items():
        print(f"{name:48s} {wall[name]:7.3f} {wall[name] / wall[base]:6.2f} {cpu[name]:7.3f} "
              f"{cpu[name] / cpu[base]:6.2f}  ({min(v[0] for v in values):.3f}–{max(v[0] for v in values):.3f})")
    alignment = compare(a, b_text).queries
    print(f"different texts: {int(alignment.only_b.sum())} gaps in A, {int(alignment.only_a.sum())} in B, "
          f"{int(alignment.substituted.sum())} substitutions")


if __name__ == "__main__":
    main()
