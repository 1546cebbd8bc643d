"""Benchmark: where a warm ``AttentionWidget.show()`` spends its time beyond the extraction, Python side.

Not a test. Run it from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_widget_python.py [--tokens 512] [--repeats 5]
        [--profile]

A BERT-base-shaped classifier (12 layers x 12 heads, hidden 768, random weights, the model of
``bench_widget.py``) on a text of ``--tokens`` tokens, on the CPU, warm (one run first). Per
repeat, in this order:

* ``extract``: ``AttentionExtractor.extract(text)`` alone, the baseline;
* ``old``: what the widget did before progressive paint: extract, then pool every layer, take
  the mean, roll out all layers (``build_view`` without thumbnails kept from the forward) and
  encode the full-resolution first matrix;
* ``new``: what the widget's worker thread does now, run on the main thread: extract with the
  progressive ``on_layer`` callback (thumbnails, mean and rollout per layer, one ``overview_layer``
  message each, ``send`` recorded instead of a comm), then land the data (overview from the kept
  thumbnails, traits); ``first layer``: from its start to the first layer's message;
* ``show``: ``AttentionWidget.show(text)`` through the worker thread, with display (no browser).

The order of the three alternates between repeats (the machine's load drifts). numpy's matrix
products (``old``'s rollout) wake OpenBLAS's thread pool, whose threads spin for a while after each
product and slow whatever runs next on the same cores (with one torch thread: a show cost ~0.96 s
more CPU than its extraction while the progressive rollout multiplied with numpy, ~0.01 s since it
multiplies on torch's threads): compare steps with that in mind.

Reports medians and each as a ratio to ``extract`` (the same script, the same machine load). With
``--profile``, prints the top entries (own time) of one extraction and landing under cProfile. The browser's
share (transfer, decoding, painting) is measured by ``bench_widget.py`` in a real JupyterLab.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_widget import bench_text, build_model  # noqa: E402  (the same model and text)


class Recorder:
    """The widget's ``send``, recorded: the time of each message since ``start``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.times: list[float] = []

    def __call__(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.times.append(time.perf_counter() - self.start)


def run(model_dir: Path, text: str, tokens: int, repeats: int, profile: bool) -> dict[str, list[float]]:
    from attnviz_widget import AttentionWidget
    from attnviz_widget.extractor import AttentionExtractor
    from attnviz_widget.wire import build_view, float16_bytes

    extractor = AttentionExtractor(model_dir, device="cpu")
    widget = AttentionWidget(model_dir, device="cpu", max_length=tokens)
    widget._extractor = extractor  # one loaded model for both
    extractor.extract(text, max_length=tokens)  # warm
    runner = widget._runner
    times: dict[str, list[float]] = {"extract": [], "old": [], "new": [], "first layer": [], "show": []}
    for repeat in range(repeats):
        steps = ["extract", "old", "new"] if repeat % 2 == 0 else ["new", "old", "extract"]  # load drifts
        for step in steps:
            start = time.perf_counter()
            if step == "extract":
                extractor.extract(text, max_length=tokens)
            elif step == "old":  # the widget before progressive paint: extract, then pool, roll out, encode
                data = extractor.extract(text, max_length=tokens)
                payload = build_view(data, "self")
                float16_bytes(payload.view.matrix(payload.view.layer_indices[0], 0))
            else:  # what the widget's worker thread does now, run here: extract with on_layer, then land
                recorder = Recorder()
                widget.send = recorder  # type: ignore[method-assign]
                recorder.start = start
                runner._running = runner._generation  # as the worker thread sets it
                result = widget._run_model(text)
                with widget._lock:
                    widget._land(result)
                times["first layer"].append(recorder.times[0])
            times[step].append(time.perf_counter() - start)
        start = time.perf_counter()
        widget.show(text + " good" * (repeat + 1))  # through the worker thread (a new text each time)
        times["show"].append(time.perf_counter() - start)
    if profile:  # the worker thread's work, run here so that cProfile sees it: the model, then landing
        runner = widget._runner
        runner._running = runner._generation  # as the worker thread would set it
        profiler = cProfile.Profile()
        profiler.enable()
        result = widget._run_model(text + " good" * (repeats + 1))
        with widget._lock:
            widget._land(result)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    import warnings

    import torch

    warnings.simplefilter("ignore")  # the texts are cut to --tokens on purpose
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory() as work:
        model_dir = build_model(Path(work) / "bert")
        text = bench_text(args.tokens)
        times = run(model_dir, text, args.tokens, args.repeats, args.profile)
    base = statistics.median(times["extract"])
    print(f"{args.tokens} tokens, 12 layers x 12 heads, CPU ({torch.get_num_threads()} threads), {args.repeats} repeats")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:12s} median {median * 1000:8.1f} ms   {median / base:5.2f}x extract")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
