"""Benchmark: opening a big run, the extracted JSON format against safetensors.

For a BERT-base shaped extraction, float32 ``(12 layers, 12 heads, seq, seq)`` with
model facts and a prediction, it writes the same :class:`AttentionData` as

* ``json``: :func:`attnviz_widget.files.write_extracted_json` (the baseline),
* ``safetensors``: :func:`attnviz_widget.files.write_attention` to ``*.safetensors``,
  float32 and float16,

and times, best of a few repeats with a warm page cache:

* ``open``: :func:`~attnviz_widget.files.read_attention_file` until it returns
  :class:`AttentionData` (the JSON read parses and validates every value; the
  safetensors read maps the file and reads the header);
* ``open + one head``: open, then sum one head ``(seq, seq)``, what a first view needs;
* ``open + every value``: open, then sum the whole array, so every byte is read.

Each safetensors figure is given as a ratio to the JSON ``open`` in the same run. The
script checks that all three files read back the same values (float16 within half
precision). Then :func:`run_lazy` saves a long-context lazy capture (queries, keys and
normalisers, no weights) and times opening it and reading a tile and a row from it. Run
``python tests/benchmarks/bench_files.py [--seq 512] [--repeats 5] [--lazy-seq 2048]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from attnviz_widget.data import AttentionData, ModelInfo, Prediction
from attnviz_widget.files import read_attention_file, write_attention, write_extracted_json

LAYERS, HEADS = 12, 12


def make_data(seq: int, seed: int = 0) -> AttentionData:
    """Random row-stochastic attention ``(12, 12, seq, seq)`` with tokens, model and prediction."""
    values = np.random.default_rng(seed).random((LAYERS, HEADS, seq, seq), dtype=np.float32) ** 3
    values /= values.sum(axis=-1, keepdims=True)
    tokens = ["[CLS]", *[f"word{i}" for i in range(seq - 2)], "[SEP]"]
    return AttentionData.from_arrays(
        tokens, values, text=" ".join(tokens[1:-1]),
        model=ModelInfo("bert", "encoder", LAYERS, HEADS, name="bench-bert"),
        prediction=Prediction.from_logits([0.3, -0.2], ["NEGATIVE", "POSITIVE"]),
    )


def best_time(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def run(seq: int = 512, repeats: int = 5, json_repeats: int = 2) -> dict[str, float]:
    """Seconds per measurement (see the module docstring); prints a table."""
    data = make_data(seq)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = {
            "json": write_extracted_json(data, Path(folder) / "run.json"),
            "safetensors float32": write_attention(data, Path(folder) / "run32.safetensors"),
            "safetensors float16": write_attention(data, Path(folder) / "run16.safetensors", dtype="float16"),
        }
        for name, path in paths.items():
            count = json_repeats if name == "json" else repeats
            read = read_attention_file(path)  # also warms the page cache
            if name == "safetensors float16":
                np.testing.assert_allclose(read.attentions, data.attentions, rtol=2.0**-11, atol=6e-8)
            else:
                np.testing.assert_array_equal(read.attentions, data.attentions)
            del read
            results[f"{name}: open"] = best_time(lambda: read_attention_file(path), count)
            results[f"{name}: open + one head"] = best_time(
                lambda: float(read_attention_file(path).head(5, 7).sum()), count)
            results[f"{name}: open + every value"] = best_time(
                lambda: float(read_attention_file(path).attentions.sum(dtype=np.float64)), count)
            results[f"{name}: file MB"] = path.stat().st_size / 1e6
    baseline = results["json: open"]
    print(f"{LAYERS} layers x {HEADS} heads x {seq} tokens; best of {repeats} (JSON: {json_repeats}), warm cache")
    for key, value in results.items():
        if key.endswith("file MB"):
            print(f"  {key:<42} {value:10.1f}")
        else:
            print(f"  {key:<42} {value * 1000:10.1f} ms   {baseline / value:8.1f}x faster than the JSON open")
    return results


def run_lazy(seq: int = 2048, repeats: int = 3) -> dict[str, float]:
    """A lazy capture of a Llama-shaped stack (8 layers x 8 heads, 2 KV heads, head dim 32,
    causal) at ``seq`` tokens: file size against the dense array it replaces, open time,
    and a 512 x 512 tile and a full row from the reopened file. Prints a table."""
    import torch

    from attnviz_widget.data import TokenSequence
    from attnviz_widget.lazy import LazyStack
    from attnviz_widget.lazy.attentions import LazyAttentions
    from attnviz_widget.lazy.masks import MaskSpec
    from attnviz_widget.lazy.records import LayerRecord

    generator = torch.Generator().manual_seed(0)
    mask = MaskSpec(causal=True)
    records = {layer: LayerRecord(query=torch.randn(8, seq, 32, generator=generator),
                                  key=torch.randn(2, seq, 32, generator=generator), scaling=32**-0.5, mask=mask)
               for layer in range(8)}
    data = AttentionData(attentions=LazyAttentions(LazyStack(records)), causal=True,
                         queries=TokenSequence([f"t{i}" for i in range(seq)]))
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lazy.safetensors"
        start = time.perf_counter()
        write_attention(data, path)  # computes the exact normalisers once, then saves them
        results["write (normalisers included)"] = time.perf_counter() - start
        results["open"] = best_time(lambda: read_attention_file(path), repeats)
        read = read_attention_file(path)
        q0 = seq // 2
        results["512 x 512 tile"] = best_time(lambda: read.tile(3, 5, q0, q0 + 512, q0 - 256, q0 + 256), repeats)
        results["one full row (1 x T)"] = best_time(lambda: read.rows(3, 5, [seq - 1]), repeats)
        np.testing.assert_array_equal(read.tile(3, 5, q0, q0 + 64, 0, 64), data.tile(3, 5, q0, q0 + 64, 0, 64))
        size = path.stat().st_size
    dense = 4 * 8 * 8 * seq * seq
    print(f"lazy capture, 8 layers x 8 heads (2 KV), head dim 32, {seq} tokens; best of {repeats}")
    print(f"  file {size / 1e6:.1f} MB; the dense float32 array would be {dense / 1e9:.1f} GB "
          f"({dense / size:.0f}x larger)")
    for key, value in results.items():
        print(f"  {key:<42} {value * 1000:10.1f} ms")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json-repeats", type=int, default=2)
    parser.add_argument("--lazy-seq", type=int, default=2048, help="tokens of the lazy capture (0: skip it)")
    args = parser.parse_args()
    run(args.seq, args.repeats, args.json_repeats)
    if args.lazy_seq:
        run_lazy(args.lazy_seq, min(args.repeats, 3))


if __name__ == "__main__":
    main()
