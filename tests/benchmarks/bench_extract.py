"""Extraction and JSON-writing benchmark, all ratios from one run on one machine.

    HF_HUB_OFFLINE=1 python tests/benchmarks/bench_extract.py [--sizes 32 128 512] [--repeats 5]

For each input length, on the built-in demo model (pretrained MiniLM, 6 layers × 12
heads; the CPU unless --device says otherwise):

- time of ``AttentionExtractor.extract`` (median of ``--repeats`` after a warm-up)
  against a plain forward of the model as transformers loads it by default (sdpa, no
  attentions) and against HF eager ``output_attentions=True`` with the weights moved
  to numpy (what a user would otherwise write);
- peak extra resident memory of each (Linux: VmHWM reset through /proc/self/clear_refs);
- then the JSON benchmark (``bench_json_write``): writing the extracted format for a
  12-layer, 12-head model against ``json.dumps(array.tolist())``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_json_write  # noqa: E402

from attnviz_widget.demo import demo_model_dir  # noqa: E402
from attnviz_widget.extractor import AttentionExtractor  # noqa: E402

WORDS = "the film was not bad at all and the actors were wonderful but the plot dragged".split()


def text_of(tokens: int) -> str:
    """A text of exactly ``tokens`` WordPiece tokens with [CLS] and [SEP] (words are single tokens)."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(tokens - 2))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_extra_mib(mode: str, size: int, device: str) -> float:
    """Peak resident memory of one ``mode`` call above the loaded model, in a fresh process, in MiB.

    A fresh process, because after a first call the allocator reuses freed memory and a
    second peak no longer shows. Linux only (VmHWM reset through /proc/self/clear_refs).
    """
    import subprocess

    command = [sys.executable, __file__, "--peak-of", mode, str(size), "--device", device]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        return float(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


def measure_peak(mode: str, size: int, device: str) -> float:
    """In this process: load, reset the peak, run ``mode`` once, return the peak above the start."""
    actions = build_actions(AttentionExtractor(demo_model_dir(), device=device), text_of(size), load=mode)
    action = actions[mode]
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    action()
    return (_status_kib("VmHWM") - before) / 1024


def build_actions(extractor: AttentionExtractor, text: str, load: str = "all") -> dict[str, Callable[[], None]]:
    """The three things compared: a plain forward, HF eager with attentions, and extract."""
    from transformers import AutoModelForSequenceClassification

    directory = demo_model_dir()
    inputs = extractor.tokenizer(text, return_tensors="pt").to(extractor.device)
    actions: dict[str, Callable[[], None]] = {"extract": lambda: extractor.extract(text) and None}
    if load in ("all", "plain"):
        plain_model = AutoModelForSequenceClassification.from_pretrained(directory).to(extractor.device).eval()

        def plain() -> None:
            with torch.inference_mode():
                plain_model(**inputs)

        actions["plain"] = plain
    if load in ("all", "hf_eager"):
        eager_model = AutoModelForSequenceClassification.from_pretrained(directory, attn_implementation="eager")
        eager_model = eager_model.to(extractor.device).eval()

        def hf_eager() -> None:
            with torch.inference_mode():
                outputs = eager_model(**inputs, output_attentions=True)
                [layer[0].float().cpu().numpy() for layer in outputs.attentions]

        actions["hf_eager"] = hf_eager
    return actions


def median_seconds(action: Callable[[], Any], repeats: int) -> float:
    action()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(sizes: Sequence[int], repeats: int, device: str) -> list[dict[str, Any]]:
    extractor = AttentionExtractor(demo_model_dir(), device=device)
    rows = []
    for size in sizes:
        text = text_of(size)
        assert len(extractor.tokenizer(text)["input_ids"]) == size
        actions = build_actions(extractor, text)
        row: dict[str, Any] = {"tokens": size, "attention_mib": 6 * 12 * size * size * 4 / 2**20}
        for mode in ("plain", "hf_eager", "extract"):
            row[f"{mode}_ms"] = median_seconds(actions[mode], repeats) * 1e3
        for mode in ("plain", "hf_eager", "extract"):
            row[f"{mode}_peak_mib"] = peak_extra_mib(mode, size, device)
        rows.append(row)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    header = (
        "tokens | plain forward ms | HF eager+attentions ms | extract ms | extract/plain | extract/HF eager"
        " | peak MiB plain / HF eager / extract | weights MiB"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['tokens']:>6} | {row['plain_ms']:>16.1f} | {row['hf_eager_ms']:>22.1f} | {row['extract_ms']:>10.1f}"
            f" | {row['extract_ms'] / row['plain_ms']:>13.2f} | {row['extract_ms'] / row['hf_eager_ms']:>16.2f}"
            f" | {row['plain_peak_mib']:.0f} / {row['hf_eager_peak_mib']:.0f} / {row['extract_peak_mib']:.0f}"
            f" | {row['attention_mib']:.1f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peak-of", nargs=2, metavar=("MODE", "TOKENS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peak_of:
        print(measure_peak(args.peak_of[0], int(args.peak_of[1]), args.device))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print("extract on the demo model (MiniLM, 6 layers x 12 heads):")
    print(format_table(run(args.sizes, args.repeats, args.device)))
    print()
    print(f"write (layers={bench_json_write.LAYERS}, heads={bench_json_write.HEADS}, seq, seq) float32, extracted format:")
    print(bench_json_write.format_table(bench_json_write.run(args.sizes, repeats=3)))


if __name__ == "__main__":
    main()
