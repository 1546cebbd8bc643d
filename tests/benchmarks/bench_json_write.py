"""Benchmark: writing the extracted JSON format, orjson against ``json.dumps(array.tolist())``.

For a BERT-base shaped extraction, float32 ``(12 layers, 12 heads, seq, seq)``, at each
sequence length it times

* ``baseline``: what the original tools did, ``json.dumps`` of the nested lists from
  ``array.tolist()`` written to a file;
* ``attnviz``: :func:`attnviz_widget.files.write_extracted_json` (orjson, float32
  values as shortest decimals, atomic write including an fsync the baseline skips),

keeps the best of a few repeats (one at 512 tokens, where the baseline takes a while),
checks that both files parse back to exactly the same float32 values, and times reading
our file back with :func:`~attnviz_widget.files.read_attention_file` (with validation).

Run ``python tests/benchmarks/bench_json_write.py [--sizes 32 128 512]``, or call
:func:`run` from another script.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from attnviz_widget.data import AttentionData
from attnviz_widget.files import read_attention_file, write_extracted_json

LAYERS, HEADS = 12, 12
DEFAULT_SIZES = (32, 128, 512)


def attention(seq: int, seed: int = 0) -> np.ndarray:
    """Random row-stochastic float32 attention ``(12, 12, seq, seq)``."""
    values = np.random.default_rng(seed).random((LAYERS, HEADS, seq, seq), dtype=np.float32) ** 3
    values /= values.sum(axis=-1, keepdims=True)
    return values


def write_baseline(path: Path, tokens: list[str], text: str, values: np.ndarray) -> None:
    """The original tools' way: nested Python lists through the json module."""
    document = {"tokens": tokens, "text": text, "attention_matrices": values.tolist()}
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(document))


def best_time(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def parsed_float32(path: Path) -> np.ndarray:
    return np.asarray(orjson.loads(path.read_bytes())["attention_matrices"], dtype=np.float64).astype(np.float32)


def run(sizes: Sequence[int] = DEFAULT_SIZES, repeats: int = 3) -> list[dict[str, Any]]:
    """Time both writers at each sequence length; one dict per size.

    Keys: ``seq``, ``values``, ``baseline_s``, ``attnviz_s``, ``speedup``,
    ``baseline_mb``, ``attnviz_mb``, ``read_s`` and ``identical`` (both files parse to
    the same float32 values as the array written).
    """
    results = []
    with tempfile.TemporaryDirectory(prefix="attnviz-bench-") as directory:
        for seq in sizes:
            values = attention(seq)
            tokens = ["[CLS]", *(f"tok{i}" for i in range(seq - 2)), "[SEP]"]
            text = " ".join(tokens[1:-1])
            data = AttentionData.from_arrays(tokens, values.copy(), text=text)
            baseline_path, ours_path = Path(directory) / f"baseline-{seq}.json", Path(directory) / f"attnviz-{seq}.json"
            times = repeats if seq < 512 else 1
            baseline_s = best_time(lambda: write_baseline(baseline_path, tokens, text, values), times)
            attnviz_s = best_time(lambda: write_extracted_json(data, ours_path), times)

            start = time.perf_counter()
            read = read_attention_file(ours_path)
            read_s = time.perf_counter() - start
            identical = bool(np.array_equal(read.attentions, values))
            del read
            identical = identical and bool(np.array_equal(parsed_float32(baseline_path), values))
            results.append({
                "seq": seq,
                "values": values.size,
                "baseline_s": baseline_s,
                "attnviz_s": attnviz_s,
                "speedup": baseline_s / attnviz_s,
                "baseline_mb": baseline_path.stat().st_size / 1e6,
                "attnviz_mb": ours_path.stat().st_size / 1e6,
                "read_s": read_s,
                "identical": identical,
            })
            baseline_path.unlink()
            ours_path.unlink()
    return results


def format_table(results: Sequence[dict[str, Any]]) -> str:
    header = (f"{'seq':>5} {'values':>11} {'json.dumps s':>13} {'attnviz s':>10} {'speedup':>8} "
              f"{'json MB':>8} {'attnviz MB':>11} {'read s':>7} {'identical':>9}")
    rows = [
        f"{r['seq']:>5} {r['values']:>11,} {r['baseline_s']:>13.3f} {r['attnviz_s']:>10.3f} {r['speedup']:>7.1f}x "
        f"{r['baseline_mb']:>8.1f} {r['attnviz_mb']:>11.1f} {r['read_s']:>7.2f} {str(r['identical']):>9}"
        for r in results
    ]
    return "\n".join([header, *rows])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="sequence lengths")
    parser.add_argument("--repeats", type=int, default=3, help="repeats below 512 tokens (best is kept)")
    arguments = parser.parse_args(argv)
    print(f"write (layers={LAYERS}, heads={HEADS}, seq, seq) float32 as the extracted JSON format")
    print(format_table(run(arguments.sizes, arguments.repeats)))


if __name__ == "__main__":
    main()
