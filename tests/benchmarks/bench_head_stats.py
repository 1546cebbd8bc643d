"""Head-statistics throughput, as ratios against baselines measured in the same run.

    HF_HUB_OFFLINE=1 python tests/benchmarks/bench_head_stats.py [--texts 2000] [--rounds 2] [--ray]

On the built-in demo model (pretrained MiniLM, 6 layers × 12 heads, CPU) over ``--texts``
short texts (the package's sample corpus and the demo's sentences, cycled):

- ``head_stats(engine="local")`` (every metric, top texts, probe, no progress bar);
- a plain batched forward of the same model over the same texts, in corpus order, the
  way transformers loads it (sdpa, no attention weights), tokenization included; and
  the same with eager attention (the kernel that returns weights);
- a one-text-at-a-time loop (sdpa) over the first ``--single`` texts;
- with ``--ray``: ``head_stats(engine="ray")`` on a local Ray cluster with every CPU
  (the cluster is started before timing; the actors' model loading is timed).

Each configuration runs ``--rounds`` times, interleaved, and the best round counts (the
machine is shared, so the best round is the least disturbed). Targets (issue 11): local
≥ 0.75× the batched forward, ≥ 3× the one-at-a-time loop; Ray ≥ 0.7× local.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable

import torch

from attnviz_widget.demo import demo_model_dir, load_sentences
from attnviz_widget.loading import load_model, load_tokenizer
from attnviz_widget.stats import head_stats
from attnviz_widget.stats.corpus import SAMPLE_CORPUS


def corpus(count: int) -> list[str]:
    sentences = SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines()
    demo = load_sentences()
    sentences += [text for text, _ in demo["train"] + demo["held_out"]]
    return list(itertools.islice(itertools.cycle(sentences), count))


def plain_batched(model, tokenizer, texts: list[str], batch_size: int) -> None:
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            inputs = tokenizer(texts[start : start + batch_size], padding=True, truncation=True, return_tensors="pt")
            model(**inputs)


def one_at_a_time(model, tokenizer, texts: list[str]) -> None:
    with torch.inference_mode():
        for text in texts:
            model(**tokenizer(text, truncation=True, return_tensors="pt"))


def best_rate(runs: list[float], count: int) -> float:
    return count / min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--single", type=int, default=300, help="texts for the one-at-a-time loop")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also time the Ray engine")
    args = parser.parse_args()

    texts = corpus(args.texts)
    directory = str(demo_model_dir())
    model = load_model(directory, attn_implementation="sdpa")
    eager = load_model(directory, attn_implementation="eager")
    tokenizer = load_tokenizer(directory)
    print(f"torch threads: {torch.get_num_threads()}; {len(texts)} texts, batch {args.batch_size}")

    def stats_local() -> None:
        head_stats(model, texts, tokenizer=tokenizer, device="cpu", batch_size=args.batch_size, progress=False)

    timed: dict[str, tuple[Callable[[], None], int]] = {
        "head_stats local": (stats_local, len(texts)),
        "plain batched forward (sdpa)": (lambda: plain_batched(model, tokenizer, texts, args.batch_size), len(texts)),
        "plain batched forward (eager)": (lambda: plain_batched(eager, tokenizer, texts, args.batch_size), len(texts)),
        "one text at a time (sdpa)": (lambda: one_at_a_time(model, tokenizer, texts[: args.single]), args.single),
    }
    if args.ray:
        import ray

        from attnviz_widget.stats.engines import connect_ray

        start = time.perf_counter()
        connect_ray(ray, None)
        print(f"ray cluster started in {time.perf_counter() - start:.1f} s: {ray.cluster_resources().get('CPU')} CPUs")

        def stats_ray() -> None:
            head_stats(directory, texts, batch_size=args.batch_size, engine="ray", progress=False)

        timed["head_stats ray"] = (stats_ray, len(texts))

    runs: dict[str, list[float]] = {name: [] for name in timed}
    plain_batched(model, tokenizer, texts[:64], args.batch_size)  # warm-up
    for round_number in range(args.rounds):
        for name, (function, _) in timed.items():
            start = time.perf_counter()
            function()
            runs[name].append(time.perf_counter() - start)
            print(f"round {round_number + 1}: {name}: {runs[name][-1]:.2f} s")

    rates = {name: best_rate(runs[name], count) for name, (_, count) in timed.items()}
    print("\nthroughput (best round):")
    for name, rate in rates.items():
        print(f"  {name:32s} {rate:8.1f} texts/s")
    local = rates["head_stats local"]
    print("\nratios:")
    print(f"  local / plain batched (sdpa):  {local / rates['plain batched forward (sdpa)']:.2f}x  (target >= 0.75)")
    print(f"  local / plain batched (eager): {local / rates['plain batched forward (eager)']:.2f}x")
    print(f"  local / one at a time:         {local / rates['one text at a time (sdpa)']:.2f}x  (target >= 3)")
    if "head_stats ray" in rates:
        print(f"  ray / local:                   {rates['head_stats ray'] / local:.2f}x  (target >= 0.7)")


if __name__ == "__main__":
    main()
