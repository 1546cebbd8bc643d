"""Extraction on an accelerator: correctness, bounded memory and speed, in one run.

    python tests/benchmarks/device_check.py --device cuda [--quick] [--json report.json]

1. Every architecture (tiny random models, loaded with sdpa): the weights ``extract``
   returns on the device equal the model's own eager ``output_attentions`` on the same
   device; a classifier's logits equal a plain forward of the model as loaded.
2. Peak device memory of a plain forward, of ``extract`` and of HF eager
   ``output_attentions=True`` on a GPT-2-sized decoder in float16: per-layer capture
   keeps one layer's weights on the device, ``output_attentions`` keeps all of them.
3. Time of ``extract`` against a plain (sdpa) forward and against eager
   ``output_attentions`` on a BERT-base-sized encoder at 512 tokens.

Runs on the CPU too (``--device cpu --quick``) to check the script itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tiny_models import BUILDERS  # noqa: E402

from attnviz_widget.extractor import AttentionExtractor  # noqa: E402
from attnviz_widget.loading import model_class_for  # noqa: E402

TEXT = "the movie was not very good but i loved the acting"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(function: Any, device: torch.device, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up."""
    function()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plain_and_eager(model: Any, inputs: dict[str, Any], *, to_cpu: bool) -> tuple[Any, Any]:
    """Two baselines: a plain forward as loaded (sdpa), and HF eager ``output_attentions=True``."""

    def plain() -> None:
        with torch.inference_mode():
            model(**inputs)

    def eager_all() -> None:
        model.config._attn_implementation = "eager"
        try:
            with torch.inference_mode():
                outputs = model(**inputs, output_attentions=True)
                assert len(outputs.attentions) == model.config.num_hidden_layers
                if to_cpu:
                    [layer.cpu() for layer in outputs.attentions]
        finally:
            model.config._attn_implementation = "sdpa"

    return plain, eager_all


def check_architectures(device: torch.device, root: Path) -> list[dict[str, Any]]:
    from transformers import AutoConfig, AutoTokenizer

    rows = []
    for name, build in BUILDERS.items():
        directory = build(root / name)
        model_class = model_class_for(AutoConfig.from_pretrained(directory))
        model = model_class.from_pretrained(directory, attn_implementation="sdpa").to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(directory)
        extractor = AttentionExtractor(model, tokenizer=tokenizer)
        data = extractor.extract(TEXT)
        eager = model_class.from_pretrained(directory, attn_implementation="eager").to(device).eval()
        encoding = tokenizer(TEXT, return_tensors="pt").to(device)
        inputs = {"input_ids": encoding["input_ids"], "attention_mask": encoding["attention_mask"]}
        if getattr(model.config, "is_encoder_decoder", False):
            ids = tokenizer.convert_tokens_to_ids(list(data.part("decoder").tokens))
            inputs["decoder_input_ids"] = torch.tensor([ids], device=device)
        with torch.no_grad():
            reference = eager(**inputs, output_attentions=True)
            plain = model(**inputs)
        sections = (
            {"self": reference.attentions}
            if getattr(reference, "attentions", None)
            else {"encoder": reference.encoder_attentions, "decoder": reference.decoder_attentions,
                  "cross": reference.cross_attentions}
        )
        worst = 0.0
        for kind, layers in sections.items():
            expected = torch.stack([layer[0] for layer in layers]).float().cpu().numpy()
            worst = max(worst, float(abs(data.part(kind).attentions - expected).max()))
        row = {"architecture": name, "device": str(extractor.device), "max_abs_diff_vs_eager": worst,
               "sections": list(data.sections), "heads": data.num_heads}
        if data.prediction is not None:
            logits = plain.logits[0].float().cpu().numpy()
            row["max_abs_logit_diff_vs_plain_sdpa"] = float(abs(data.prediction.logits - logits).max())
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def peak_memory(device: torch.device, quick: bool) -> dict[str, Any]:
    """Peak device memory above the weights: plain forward, extract, output_attentions."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    layers, heads, hidden, tokens = (4, 4, 64, 128) if quick else (24, 16, 1024, 1024)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    config = GPT2Config(n_layer=layers, n_head=heads, n_embd=hidden, n_positions=tokens, vocab_size=1000)
    model = GPT2LMHeadModel(config).to(device=device, dtype=dtype).eval()
    vocabulary = {f"w{i}": i for i in range(1000)}
    backend = Tokenizer(models.WordLevel(vocabulary, unk_token="w0"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, model_input_names=["input_ids", "attention_mask"])
    text = " ".join(f"w{i % 1000}" for i in range(tokens))
    extractor = AttentionExtractor(model, tokenizer=tokenizer)
    inputs = extractor._encode(text, max_length=None, padding=False, truncation=True, target=None).inputs

    def measure(function: Any) -> float:
        if device.type != "cuda":
            return float("nan")
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        function()
        synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20

    plain, eager_all = plain_and_eager(model, inputs, to_cpu=False)
    result = {
        "model": f"GPT-2 config, {layers} layers x {heads} heads, hidden {hidden}, {tokens} tokens, {dtype}",
        "one_layer_weights_mib": heads * tokens * tokens * torch.finfo(dtype).bits / 8 / 2**20,
        "plain_forward_peak_mib": measure(plain),
        "extract_peak_mib": measure(lambda: extractor.extract(text)),
        "extract_one_layer_peak_mib": measure(lambda: extractor.extract(text, layers=[layers - 1])),
        "hf_eager_output_attentions_peak_mib": measure(eager_all),
    }
    print(json.dumps(result), flush=True)
    return result


def speed(device: torch.device, quick: bool) -> dict[str, Any]:
    """extract vs a plain sdpa forward vs eager output_attentions, BERT-base shape at 512 tokens."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    with tempfile.TemporaryDirectory() as folder:
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *[f"w{i}" for i in range(500)]]
        Path(folder, "vocab.txt").write_text("\n".join(vocab) + "\n")
        tokenizer = BertTokenizerFast.from_pretrained(folder)
    layers, heads, hidden, tokens = (2, 4, 64, 128) if quick else (12, 12, 768, 512)
    config = BertConfig(vocab_size=len(vocab), num_hidden_layers=layers, num_attention_heads=heads,
                        hidden_size=hidden, intermediate_size=4 * hidden, max_position_embeddings=512)
    model = BertForSequenceClassification(config).to(device).eval()
    text = " ".join(f"w{i % 500}" for i in range(tokens - 2))
    extractor = AttentionExtractor(model, tokenizer=tokenizer)
    inputs = extractor._encode(text, max_length=None, padding=False, truncation=True, target=None).inputs
    repeats = 3 if quick else 10

    plain, eager_all = plain_and_eager(model, inputs, to_cpu=True)
    plain_s = timed(plain, device, repeats)
    extract_s = timed(lambda: extractor.extract(text), device, repeats)
    eager_s = timed(eager_all, device, repeats)
    result = {
        "model": f"BERT config, {layers} layers x {heads} heads, hidden {hidden}, {tokens} tokens, float32",
        "plain_sdpa_forward_ms": plain_s * 1e3,
        "extract_ms": extract_s * 1e3,
        "hf_eager_output_attentions_to_cpu_ms": eager_s * 1e3,
        "extract_over_plain": extract_s / plain_s,
        "extract_over_hf_eager": extract_s / eager_s,
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    parser.add_argument("--json", default=None, help="also write the report here")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    report: dict[str, Any] = {"torch": torch.__version__}
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    import transformers

    report["transformers"] = transformers.__version__
    with tempfile.TemporaryDirectory() as folder:
        report["architectures"] = check_architectures(device, Path(folder))
    report["memory"] = peak_memory(device, args.quick)
    report["speed"] = speed(device, args.quick)
    ok = all(row["max_abs_diff_vs_eager"] <= 1e-5 for row in report["architectures"])
    ok &= all(row.get("max_abs_logit_diff_vs_plain_sdpa", 0.0) <= 1e-4 for row in report["architectures"])
    report["ok"] = ok
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print("OK" if ok else "MISMATCH", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
