"""Long-context benchmark of the lazy attention engine against a plain forward and the dense path.

    HF_HUB_OFFLINE=1 python tests/benchmarks/bench_long_context.py [--sizes 4096 16384] [--dense 2048 4096] [--repeats 3]

A random-weights Llama shape (default 8 layers × 8 heads, 2 KV heads, head dim 32, hidden 256,
a 260-word vocabulary) on the CPU, one torch thread unless ``--threads`` says otherwise. Every configuration runs in a fresh subprocess that loads
the model, resets the peak resident set (Linux ``/proc/self/clear_refs``) and reports the peak
above the loaded model:

- ``plain``: the model's own sdpa forward (no cache), time and peak extra memory;
- ``lazy``: the same forward inside :class:`attnviz_widget.lazy.LazyCapture` (peak includes
  the recorded queries and keys, still held; its feed-forwards run ``--feed-forward-chunk``
  positions at a time, 0: unchunked), then in the same process: all thumbnails
  (every layer × head, 64 × 64; one pass per layer, which also computes the normalisers), a
  512 × 512 full-resolution tile and a full ``1 × T`` row (medians over positions and heads);
- ``dense``: ``attnviz_widget.extract(..., store="dense")``, every weight in one array, for the ratio.

Peak RSS includes glibc heap fragmentation, which varies from run to run with the allocation
order: the plain forward at 32,768 tokens measured 347-443 MiB in different runs of the same code,
the lazy one 577-659 MiB; use ``--repeats``. Without fragmentation (diagnosis only:
``MALLOC_MMAP_THRESHOLD_=131072``) plain vs lazy measured 180 vs 288 MiB at 16,384 tokens and
344 vs 550 MiB at 32,768. The lazy floor there is the queries and keys of the layers already run
plus the model's own transient at the last layer's rotary embedding (about 535 MiB by arithmetic).

``--shape 8b --device cuda --dtype bfloat16`` gives the issue's GPU shape (32 × 32 heads, 8 KV
heads, head dim 128); on CUDA, memory is the peak of ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from attnviz_widget.lazy.chunking import DEFAULT_CHUNK

SHAPES = {
    "small": {"num_hidden_layers": 8, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 32,
              "hidden_size": 256, "intermediate_size": 512},
    "8b": {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
           "hidden_size": 4096, "intermediate_size": 14336},
}
WORDS = [f"w{i}" for i in range(256)]


def model_dir(shape: str, root: Path) -> Path:
    """Save (once) a random Llama of ``shape`` with a word-level tokenizer: one word, one token."""
    directory = root / f"llama_{shape}"
    if (directory / "config.json").exists():
        return directory
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {word: index for index, word in enumerate(["<unk>", "<s>", "</s>", "<pad>", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>", model_max_length=1 << 20)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), max_position_embeddings=1 << 17, bos_token_id=1, eos_token_id=2,
                         pad_token_id=3, **SHAPES[shape])
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def text_of(tokens: int) -> str:
    return " ".join(WORDS[(i * 7919) % len(WORDS)] for i in range(tokens))


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class Peak:
    """Peak memory above the start of the block, in MiB (RSS on the CPU, allocated on CUDA)."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")

    def __enter__(self) -> Peak:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            Path("/proc/self/clear_refs").write_text("5")
            self.start = _kib("VmRSS") * 1024
        return self

    def __exit__(self, *args: Any) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.mib = (torch.cuda.max_memory_allocated() - self.start) / 2**20
        else:
            self.mib = (_kib("VmHWM") * 1024 - self.start) / 2**20


def timed(action: Callable[[], Any], device: str) -> tuple[float, Any]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = action()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def median_ms(actions: Sequence[Callable[[], Any]], device: str) -> float:
    actions[0]()  # warm-up
    return statistics.median(timed(action, device)[0] for action in actions) * 1e3


def measure(mode: str, tokens: int, args: argparse.Namespace) -> dict[str, float]:
    """One configuration in this process (called in a fresh subprocess by :func:`run`)."""
    from transformers import AutoModelForCausalLM

    directory = model_dir(args.shape, Path(args.cache))
    dtype = getattr(torch, args.dtype)
    result: dict[str, float] = {}
    if mode == "dense":
        import attnviz_widget

        text = text_of(tokens)
        with Peak(args.device) as peak:
            seconds, data = timed(lambda: attnviz_widget.extract(str(directory), text, device=args.device,
                                                                 store="dense", memory_budget=None), args.device)
        assert data.attentions.shape[-1] == tokens, data.attentions.shape
        return {"seconds": seconds, "peak_mib": peak.mib}
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype).to(args.device).eval()
    ids = torch.randint(4, model.config.vocab_size, (1, tokens), generator=torch.Generator().manual_seed(0))
    ids = ids.to(args.device)
    if mode == "plain":
        with torch.inference_mode(), Peak(args.device) as peak:
            seconds, _ = timed(lambda: model(input_ids=ids, use_cache=False), args.device)
        return {"seconds": seconds, "peak_mib": peak.mib}
    from attnviz_widget.lazy import LazyCapture

    def lazy_forward() -> Any:
        with torch.inference_mode(), LazyCapture(model, feed_forward_chunk=args.feed_forward_chunk) as capture:
            model(input_ids=ids, use_cache=False)
        return capture.stacks["attentions"]

    with Peak(args.device) as peak:
        seconds, stack = timed(lazy_forward, args.device)
    result.update(seconds=seconds, peak_mib=peak.mib, held_mib=stack.nbytes / 2**20)
    with Peak(args.device) as peak:
        result["thumbnails_s"], thumbs = timed(stack.thumbnails, args.device)
    result["thumbnails_peak_mib"] = peak.mib
    assert thumbs.shape == (len(stack.layer_indices), stack.num_heads, 64, 64)
    last, heads, span = stack.layer_indices[-1], stack.num_heads, min(512, tokens)
    spots = [(q, k) for q, k in [(tokens - span, 0), (tokens // 2, tokens // 2 - span), (tokens - span, tokens - span),
                                 (tokens // 3, 0)] if q >= 0 and k >= 0]
    result["tile_ms"] = median_ms([lambda q=q, k=k, h=h: stack.tile(last, h, q, q + span, k, k + span)
                                   for h in range(heads) for q, k in spots], args.device)
    result["row_ms"] = median_ms([lambda h=h, q=q: stack.rows(last, h, [q])
                                  for h in range(heads) for q in (tokens - 1, tokens // 2, 10)], args.device)
    return result


def run_in_subprocess(mode: str, tokens: int, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--measure", mode, str(tokens), "--shape", args.shape, "--device",
               args.device, "--dtype", args.dtype, "--cache", args.cache, "--threads", str(args.threads),
               "--feed-forward-chunk", str(args.feed_forward_chunk)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        print(f"  {mode} at {tokens} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return {}
    return json.loads(lines[-1])


def medians(mode: str, tokens: int, args: argparse.Namespace, runs: int) -> dict[str, float]:
    """Median of each number over ``runs`` fresh subprocesses (the machine's load drifts between runs)."""
    results = [result for result in (run_in_subprocess(mode, tokens, args) for _ in range(runs)) if result]
    if not results:
        return {}
    return {key: statistics.median(result[key] for result in results) for key in results[0]}


def run(args: argparse.Namespace) -> None:
    model_dir(args.shape, Path(args.cache))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, {args.dtype}, "
          f"shape {args.shape}: {SHAPES[args.shape]}, lazy feed-forward chunk {args.feed_forward_chunk}")
    header = ("tokens | plain s | lazy s | lazy/plain | plain peak MiB | lazy peak MiB | ratio | held MiB | "
              "thumbs s | thumbs/plain | tile 512 ms | row ms")
    rows = []
    for tokens in args.sizes:
        runs = [(run_in_subprocess("plain", tokens, args), run_in_subprocess("lazy", tokens, args))
                for _ in range(args.repeats)]  # alternated, so that both see the same drift in load
        plain = {k: statistics.median(p[k] for p, _ in runs if p) for k in next((p for p, _ in runs if p), {})}
        lazy = {k: statistics.median(z[k] for _, z in runs if z) for k in next((z for _, z in runs if z), {})}
        if not plain or not lazy:
            continue
        rows.append(
            f"{tokens:>6} | {plain['seconds']:7.2f} | {lazy['seconds']:6.2f} | {lazy['seconds'] / plain['seconds']:10.2f} | "
            f"{plain['peak_mib']:14.0f} | {lazy['peak_mib']:13.0f} | {lazy['peak_mib'] / max(plain['peak_mib'], 1):5.2f} | "
            f"{lazy['held_mib']:8.1f} | {lazy['thumbnails_s']:8.2f} | {lazy['thumbnails_s'] / plain['seconds']:12.2f} | "
            f"{lazy['tile_ms']:11.1f} | {lazy['row_ms']:6.2f}"
        )
        print(f"  {tokens} tokens: plain {plain}, lazy {lazy}", flush=True)
    if rows:
        print(header, *rows, sep="\n", flush=True)
    dense_rows = []
    for tokens in args.dense:
        dense = run_in_subprocess("dense", tokens, args)
        plain, lazy = medians("plain", tokens, args, 1), medians("lazy", tokens, args, 1)
        if dense and plain and lazy:
            dense_rows.append(
                f"{tokens:>6} | {dense['seconds']:7.2f} | {lazy['seconds'] + lazy['thumbnails_s']:15.2f} | "
                f"{dense['peak_mib']:14.0f} | {lazy['peak_mib']:13.0f} | {plain['seconds']:7.2f} | {plain['peak_mib']:14.0f}"
            )
    if dense_rows:
        print("\ndense path (extract store='dense') vs lazy (forward + all thumbnails):")
        print("tokens | dense s | lazy+thumbs s   | dense peak MiB | lazy peak MiB | plain s | plain peak MiB")
        print(*dense_rows, sep="\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[4096, 16384])
    parser.add_argument("--dense", type=int, nargs="*", default=[2048, 4096])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--cache", default="/tmp/attnviz_bench_long_context")
    parser.add_argument("--repeats", type=int, default=1, help="plain/lazy subprocess pairs per size (medians)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: stable ratios on a shared machine; 0: torch's default)")
    parser.add_argument("--feed-forward-chunk", type=int, default=DEFAULT_CHUNK,
                        help=f"positions per feed-forward chunk of the lazy forward (0: off; default {DEFAULT_CHUNK})")
    parser.add_argument("--measure", nargs=2, metavar=("MODE", "TOKENS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.measure:
        print(json.dumps(measure(args.measure[0], int(args.measure[1]), args)))
        return
    run(args)


if __name__ == "__main__":
    main()
