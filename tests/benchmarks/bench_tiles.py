"""Benchmark: what zooming costs on the Python side of the widget protocol.

For dense attention of one layer x ``heads`` at ``--seq`` tokens, it times the replies the
browser asks for while zooming (``attnviz_widget.protocol.answer``: checks, slicing,
pooling and float16 encoding) against the ``layer`` reply the widget sent before tiles
existed (the whole layer as float16), in the same run:

* ``tile 512 x 512``: a full-resolution tile (what a zoomed-in view asks for);
* ``whole matrix, pooled``: the first picture of a long matrix (one tile of the whole
  matrix at the pooling ``js/src/zoom.ts`` picks for 768 device pixels);
* ``row``: one query's full row (hovering a query at length);

with reply bytes, best of ``--repeats``. Times vary between machines: read the ratios.
Run ``python tests/benchmarks/bench_tiles.py [--seq 4096] [--heads 8] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from attnviz_widget.data import AttentionData
from attnviz_widget.protocol import Served, answer


def best_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def overview_pool(length: int, pixels: int = 768) -> int:
    """The pooling js/src/zoom.ts (overviewPool) asks for: screen resolution, at most 4 x 256^2 cells."""
    pool = 1
    while length / pool >= 2 * pixels:
        pool *= 2
    while (-(-length // pool)) ** 2 > 4 * 256 * 256:
        pool *= 2
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, default=4096)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    seq, heads = args.seq, args.heads
    rng = np.random.default_rng(0)
    weights = rng.random((1, heads, seq, seq), dtype=np.float32)
    weights /= weights.sum(axis=-1, keepdims=True)
    data = AttentionData.from_arrays([f"t{i}" for i in range(seq)], weights, text="bench")

    def ask(**fields: object) -> Callable[[], int]:
        def run() -> int:
            # a fresh server each time: the layer reply is cached per data set after the first
            fresh = Served(data, version=1, rollout=None)
            reply, payload = answer(fresh, {"type": "request", "id": "b", "version": 1, **fields})
            assert reply["type"] != "error", reply
            return len(payload or b"")

        return run

    mid = seq // 2
    pool = overview_pool(seq)
    cases = {
        "layer (baseline: the whole layer)": ask(what="layer", layer=0),
        "tile 512 x 512": ask(what="tile", layer=0, head=1, q0=mid, q1=mid + 512, k0=0, k1=512, pool=1),
        f"whole matrix, pooled by {pool}": ask(what="tile", layer=0, head=1, q0=0, q1=seq, k0=0, k1=seq, pool=pool),
        "row": ask(what="row", layer=0, head=1, query=mid),
    }
    print(f"dense attention, 1 layer x {heads} heads x {seq} tokens; best of {args.repeats}")
    baseline = None
    for name, run in cases.items():
        size = run()
        ms = best_ms(run, args.repeats)
        baseline = baseline or ms
        print(f"  {name:<36} {ms:9.2f} ms  {size / 1e6:9.3f} MB  {ms / baseline:7.4f} x layer")


if __name__ == "__main__":
    main()
