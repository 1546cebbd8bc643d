"""A tiny causal LM trained to copy: the long-context demo model with an induction head.

What it is, plainly: a 2-layer Llama-shaped model (RoPE, 4 heads of dimension 16, hidden
64, about 0.1 M parameters) trained from random initialisation for 800 steps on sequences of
64 random pseudo-words in which a random segment of 8 to 32 distinct words repeats. It has never seen
language. The only way to lower its loss is to copy: layer 0 learns a previous-token head and
layer 1 an *induction head*, which at a repeated token attends to the token that followed
the previous occurrence (Olsson et al., 2022). Because positions enter only through rotary
embeddings (with a large base, :data:`ROPE_THETA`), the same weights run at 8,192 tokens; there
the induction head still puts about half its weight on the right tokens, while the layer-0
previous-token head, sharp on short inputs, blurs (see ``notebooks/05_long_context.ipynb``).

The vocabulary is :data:`VOCABULARY_SIZE` made-up words ("bako", "rimu", ...); a word-level
tokenizer saved with the model maps one word to one token and puts ``<s>`` in front, so
``extract(induction_model_dir(), text)`` works. Trained once and cached like the sentiment
demo (``$ATTNVIZ_CACHE``); training metrics are in ``metrics.json``.
"""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from . import cached_model

CACHE_NAME = "demo-induction-llama-v2"
SPECIALS = ("<unk>", "<s>", "</s>", "<pad>")
_SYLLABLES = tuple(c + v for c in "bdgklmnprstvz" for v in "aeiou")  # 65 syllables
VOCABULARY_SIZE = 64
SEED = 1  # with this seed layer 0 grows the textbook previous-token head (others: 5-6 tokens back)
#: Rotary base. 1e9 instead of Llama's 1e4: half of each head's dimensions then turn by under
#: 0.3 rad over 8,192 tokens, so matching a word by content still works far beyond the 64-token
#: training length (with 1e4 the induction head fell apart past ~128 tokens).
ROPE_THETA = 1e9
STEPS = 800
WARMUP_STEPS = 50
BATCH_SIZE = 32
TRAIN_LENGTH = 64  # segments of 8 to 32 words, so copy distances of 8 to 32
LEARNING_RATE = 1e-2
SHAPE = {"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 16,
         "hidden_size": 64, "intermediate_size": 128}


def words() -> tuple[str, ...]:
    """The :data:`VOCABULARY_SIZE` made-up two-syllable words, in token-id order (after the specials)."""
    every = tuple("".join(pair) for pair in product(_SYLLABLES, repeat=2))  # 4,225 words
    return tuple(every[index * 67] for index in range(VOCABULARY_SIZE))  # spread over first syllables


def random_document(length: int, segment: int, seed: int = 0) -> list[str]:
    """``length`` words: one random segment of ``segment`` distinct words, repeated (cut at the end)."""
    if not 1 <= segment <= VOCABULARY_SIZE:
        raise InputError(f"a segment needs 1 to {VOCABULARY_SIZE} distinct words, not {segment}")
    rng = np.random.default_rng(seed)
    vocabulary = words()
    chosen = rng.choice(len(vocabulary), size=segment, replace=False)
    return [vocabulary[chosen[i % segment]] for i in range(length)]


def induction_model_dir() -> Path:
    """The trained model's directory, training and caching it on first use (seconds on a CPU)."""
    return cached_model(CACHE_NAME, train_induction_model)


def induction_metrics() -> dict[str, Any]:
    """What training measured: steps, seconds, final loss, copy accuracy on a held-out sequence."""
    return json.loads((induction_model_dir() / "metrics.json").read_text(encoding="utf-8"))


def build_tokenizer() -> Any:
    """A word-level tokenizer over :func:`words`: whitespace-split, one word one token, ``<s>`` first."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {word: index for index, word in enumerate((*SPECIALS, *words()))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        model_max_length=1 << 20, model_input_names=["input_ids", "attention_mask"],
    )


def build_model() -> Any:
    """The untrained Llama (RoPE, eager attention so that plain ``output_attentions`` works too)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=len(SPECIALS) + VOCABULARY_SIZE, max_position_embeddings=1 << 16, bos_token_id=1,
        eos_token_id=2, pad_token_id=3, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA}, **SHAPE,
    )
    return LlamaForCausalLM(config)


def training_batch(rng: np.random.Generator, batch: int = BATCH_SIZE, length: int = TRAIN_LENGTH) -> np.ndarray:
    """int64 ``(batch, length)`` token ids: ``<s>``, then a random segment of distinct words repeated."""
    ids = np.empty((batch, length), dtype=np.int64)
    ids[:, 0] = 1
    for row in range(batch):
        segment = int(rng.integers(8, length // 2 + 1))
        chosen = rng.choice(VOCABULARY_SIZE, size=segment, replace=False) + len(SPECIALS)
        ids[row, 1:] = np.resize(chosen, length - 1)
    return ids


def repeated_ids(segment: int, seed: int) -> np.ndarray:
    """int64 ``(1, 1 + 2 * segment)``: ``<s>`` and a random segment of distinct words, twice."""
    chosen = np.random.default_rng(seed).choice(VOCABULARY_SIZE, size=segment, replace=False) + len(SPECIALS)
    return np.concatenate([[1], chosen, chosen])[None].astype(np.int64)


def copy_accuracy(model: Any, ids: np.ndarray, segment: int) -> float:
    """Share of tokens after the first ``segment`` (+ ``<s>``) that the model predicts exactly."""
    import torch

    with torch.inference_mode():
        logits = model(input_ids=torch.as_tensor(ids)).logits
    predicted = logits[:, segment:-1].argmax(-1).numpy()
    return float((predicted == ids[:, segment + 1 :]).mean())


def train_induction_model(directory: Path) -> dict[str, Any]:
    """Train the model and save it, its tokenizer and ``metrics.json`` into ``directory``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # matrices this small run faster on one thread than on contended two
    try:
        return _train(directory)
    finally:
        torch.set_num_threads(threads)


def _train(directory: Path) -> dict[str, Any]:
    """:func:`train_induction_model`'s body, run on one torch thread."""
    import time

    import torch

    rng = np.random.default_rng(SEED)
    model = build_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / WARMUP_STEPS))
    start = time.perf_counter()
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(STEPS):
        ids = torch.as_tensor(training_batch(rng))
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - start
    model.eval()
    segment = TRAIN_LENGTH // 2
    repeated = repeated_ids(segment, seed=SEED + 1)
    metrics = {
        "model": "2-layer Llama (RoPE), 4 heads x 16, hidden 64, trained from scratch to copy repeated random words",
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": STEPS,
        "batch": BATCH_SIZE,
        "train_length": TRAIN_LENGTH,
        "train_seconds": round(seconds, 1),
        "final_loss": round(float(loss.detach()), 4),
        "copy_accuracy": round(copy_accuracy(model, repeated, segment + 1), 4),
    }
    model.config.attnviz_demo = metrics
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(directory)
    finally:
        hf_logging.enable_progress_bar()
    build_tokenizer().save_pretrained(directory)
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics
