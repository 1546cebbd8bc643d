"""generate() with attention kept against model.generate alone, both measured in one run.

    HF_HUB_OFFLINE=1 python tests/benchmarks/bench_generate.py [--model llama|gpt2] [--new-tokens 256]
        [--repeats 3] [--attn sdpa|eager] [--threads 1]

The model is a small random one built in memory (no hub): Llama with grouped-query
attention, 4 layers × 8 query heads (2 key/value heads), hidden 256, or GPT-2 of the same
size; the byte-level BPE tokenizer of the test fixtures. Both sides get the same prompt (32
tokens) and generate exactly ``--new-tokens`` tokens greedily (``min_new_tokens`` keeps an
early end-of-sequence from shortening either). Reported: the median seconds of each over
``--repeats`` alternating pairs after a warm-up, and the median ratio of the pairs (target ≤ 1.3×). The attnviz side is
``model.generate`` with logits and scores kept, the step scores, and one eager forward pass
over the final sequence with every layer's weights copied out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiny_models import bpe_tokenizer  # noqa: E402

from attnviz_widget.generation import generate  # noqa: E402

PROMPT_WORDS = "the movie was not very good i loved the acting and the plot this film is really quite boring".split()


def build(kind: str, attn: str, context: int) -> tuple[Any, Any]:
    """A random model of ``kind`` with ``attn`` attention and the fixtures' tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = bpe_tokenizer()
    tokenizer.model_max_length = context
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    if kind == "llama":
        config = LlamaConfig(vocab_size=len(tokenizer), num_hidden_layers=4, num_attention_heads=8,
                             num_key_value_heads=2, hidden_size=256, intermediate_size=512,
                             max_position_embeddings=context, **ids)
        model = LlamaForCausalLM(config)
    else:
        config = GPT2Config(vocab_size=len(tokenizer), n_layer=4, n_head=8, n_embd=256, n_positions=context, **ids)
        model = GPT2LMHeadModel(config)
    model.set_attn_implementation(attn)
    return model.eval(), tokenizer


def prompt_of(tokenizer: Any, tokens: int) -> str:
    """A prompt of about ``tokens`` tokens."""
    words, text = 0, ""
    while len(tokenizer(text)["input_ids"]) < tokens:
        text = " ".join(PROMPT_WORDS[i % len(PROMPT_WORDS)] for i in range(words))
        words += 1
    return text


def paired_seconds(first: Callable[[], Any], second: Callable[[], Any], repeats: int) -> list[tuple[float, float]]:
    """``repeats`` pairs of wall-clock seconds, after one warm-up of each.

    The two run alternately (and in alternating order), so that load from other processes
    on a shared machine falls on both alike; the ratio of each pair is what is compared.
    """
    first(), second()
    pairs = []
    for repeat in range(repeats):
        order = (0, 1) if repeat % 2 == 0 else (1, 0)
        seconds = [0.0, 0.0]
        for which in order:
            start = time.perf_counter()
            (first, second)[which]()
            seconds[which] = time.perf_counter() - start
        pairs.append((seconds[0], seconds[1]))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("llama", "gpt2"), default="llama")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--attn", choices=("sdpa", "eager"), default="sdpa",
                        help="the model's own attention implementation (generate() switches to eager for its pass)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice); 1 is steadier on a shared machine")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    model, tokenizer = build(args.model, args.attn, context=args.prompt_tokens + args.new_tokens + 64)
    prompt = prompt_of(tokenizer, args.prompt_tokens)
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    count = args.new_tokens

    def plain() -> torch.Tensor:
        with torch.inference_mode():
            return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=count,
                                  min_new_tokens=count, do_sample=False)

    def with_attention() -> Any:
        return generate(model, prompt, tokenizer=tokenizer, max_new_tokens=count, min_new_tokens=count)

    data = with_attention()
    same = data.generation.token_ids.tolist() == plain()[0, ids.shape[1]:].tolist()
    pairs = paired_seconds(plain, with_attention, args.repeats)
    base = statistics.median(p[0] for p in pairs)
    ours = statistics.median(p[1] for p in pairs)
    ratios = [p[1] / p[0] for p in pairs]
    # the attention pass alone (the part generate() adds, besides the step scores), with little noise
    from attnviz_widget.extractor import AttentionExtractor
    from attnviz_widget.generation.run import _encode_sequence

    extractor = AttentionExtractor(model, tokenizer=tokenizer)
    sequence = plain()[0]
    encoded = _encode_sequence(extractor.backend, extractor.facts(), ids, sequence)
    extractor._extract_attention(encoded, None)  # warm-up
    forward_times = []
    for _ in range(5):
        start = time.perf_counter()
        extractor._extract_attention(encoded, None)
        forward_times.append(time.perf_counter() - start)
    forward = statistics.median(forward_times)
    layers, heads, queries, keys = data.attentions.shape
    print(f"model: random {args.model}, 4 layers x 8 heads, hidden 256, {args.attn} attention, "
          f"torch threads {torch.get_num_threads()}")
    print(f"prompt {ids.shape[1]} tokens + {count} generated; attention kept {layers}x{heads}x{queries}x{keys}; "
          f"same tokens as model.generate: {same}")
    print(f"model.generate alone:              {base:8.3f} s (median of {args.repeats})")
    print(f"attnviz generate (attention kept): {ours:8.3f} s (median of {args.repeats})")
    print(f"the attention pass alone (eager forward over {queries} tokens, weights copied out): {forward:.3f} s "
          f"= {forward / base:.1%} of model.generate")
    print(f"per-pair ratios: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"ratio: {statistics.median(ratios):.2f}x median of pairs (target <= 1.3x)")


if __name__ == "__main__":
    main()
