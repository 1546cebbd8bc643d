"""Benchmark: a warm lazy ``AttentionWidget.show()`` at length against a plain sdpa forward, Python side.

Not a test. Run it from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_widget_long.py [--tokens 4096] [--repeats 3]

The random Llama-shaped model of ``bench_long_context.py`` ("small": 8 layers x 8 heads, 2 KV
heads, head dim 32, hidden 256), on the CPU. Per repeat, alternating the order (the load drifts):

* ``forward``: ``model(**inputs)`` with sdpa attention, on a thread of its own as the widget's
  extraction runs, the baseline;
* ``show``: ``AttentionWidget(model, max_length=T).show(text)`` (lazy: the dense weights are over the
  default 2 GiB budget from ~4k tokens on), ``send`` recorded instead of a comm (no browser): the
  forward recording queries and keys, every layer's thumbnails as it finishes (one
  ``overview_layer`` message each), the overview and the traits; ``first layer`` is the time
  from the start of ``show`` to the first layer's message.

Prints medians and ratios to ``forward``. The browser's share is measured by ``bench_widget.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_long_context import model_dir, text_of  # noqa: E402  (the same model and text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import torch

    from attnviz_widget import AttentionWidget
    from attnviz_widget.capture import _attention_configs

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory() as work:
        directory = model_dir("small", Path(work))
        text = text_of(args.tokens)
        widget = AttentionWidget(directory, device="cpu", max_length=args.tokens)
        model = widget._extractor.model  # one loaded model for both
        inputs = widget._extractor.backend.encode(text, max_length=args.tokens).inputs
        sent: list[float] = []
        start = 0.0

        def record(content: dict[str, Any], buffers: Any = None) -> None:
            sent.append(time.perf_counter() - start)

        widget.send = record  # type: ignore[method-assign]
        configs = _attention_configs(model)

        def plain_forward() -> None:
            """The model's own forward with sdpa (the widget loads models with eager attention)."""
            previous = [config._attn_implementation for config in configs]
            for config in configs:
                config._attn_implementation = "sdpa"
            try:
                with torch.inference_mode():
                    model(**inputs)
            finally:
                for config, value in zip(configs, previous):
                    config._attn_implementation = value

        times: dict[str, list[float]] = {"forward": [], "show": [], "first layer": []}
        for repeat in range(args.repeats + 1):  # the first round warms up
            for step in ("forward", "show") if repeat % 2 else ("show", "forward"):
                sent.clear()
                start = time.perf_counter()
                if step == "forward":  # on a thread of its own, as the widget's model runs
                    thread = threading.Thread(target=plain_forward)
                    thread.start()
                    thread.join()
                else:
                    widget.show(text + f" w{repeat}")  # a new text each time (cut to the same tokens)
                elapsed = time.perf_counter() - start
                if repeat:
                    times[step].append(elapsed)
                    if step == "show":
                        times["first layer"].append(sent[0])
        assert widget.data is not None and widget.data.is_lazy
    base = statistics.median(times["forward"])
    print(f"{args.tokens} tokens, Llama 8 layers x 8 heads (2 KV), CPU ({torch.get_num_threads()} threads), "
          f"{args.repeats} repeats")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:12s} median {median * 1000:9.1f} ms   {median / base:5.2f}x forward")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
