"""extract(): the weights returned are the weights the model computed, on every architecture."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import BUILDERS, TinyTorchClassifier, bert_tokenizer

from attnviz_widget import AttentionData, InputError, ModelLoadError, TruncationWarning, extract
from attnviz_widget.extractor import AttentionExtractor
from attnviz_widget.prepare import prepare

TEXT = "the movie was not very good"
ARCHITECTURES = sorted(BUILDERS)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {name: build(root / name) for name, build in BUILDERS.items()}


def _auto_class(directory: Path):
    from transformers import AutoConfig

    from attnviz_widget.loading import model_class_for

    return model_class_for(AutoConfig.from_pretrained(directory))


def _reference_attentions(directory: Path, data: AttentionData) -> dict[str, tuple[torch.Tensor, ...]]:
    """The model's own eager ``output_attentions`` for the same inputs."""
    from transformers import AutoTokenizer

    model = _auto_class(directory).from_pretrained(directory, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    encoding = tokenizer(data.text, return_tensors="pt")
    inputs = {"input_ids": encoding["input_ids"], "attention_mask": encoding["attention_mask"]}
    if getattr(model.config, "is_encoder_decoder", False):
        decoder = data.part("decoder")
        ids = tokenizer.convert_tokens_to_ids(list(decoder.tokens))
        inputs["decoder_input_ids"] = torch.tensor([ids])
    with torch.no_grad():
        outputs = model(**inputs, output_attentions=True)
    names = ("encoder_attentions", "decoder_attentions", "cross_attentions", "attentions")
    return {name: getattr(outputs, name) for name in names if getattr(outputs, name, None)}


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_weights_equal_the_models_own_eager_attentions(
    model_dirs: dict[str, Path], architecture: str, implementation: str
) -> None:
    directory = model_dirs[architecture]
    try:
        model = _auto_class(directory).from_pretrained(directory, attn_implementation=implementation).eval()
    except ValueError as error:  # transformers 4.x: T5 has no sdpa implementation
        pytest.skip(f"{architecture} cannot load with {implementation} here: {str(error).splitlines()[0][:80]}")
    data = extract(model, TEXT, tokenizer=str(directory), device="cpu")
    reference = _reference_attentions(directory, data)

    if "attentions" in reference:
        expected = {"self": reference["attentions"]}
    else:
        expected = {
            "encoder": reference["encoder_attentions"],
            "decoder": reference["decoder_attentions"],
            "cross": reference["cross_attentions"],
        }
    assert set(data.sections) == set(expected)
    for kind, layers in expected.items():
        section = data.part(kind)
        want = torch.stack([layer[0] for layer in layers]).numpy()
        assert section.attentions.shape == want.shape
        np.testing.assert_allclose(section.attentions, want, atol=1e-6, rtol=0)
        assert section.attentions.dtype == np.float32
        np.testing.assert_allclose(section.attentions.sum(-1), 1.0, atol=1e-5)
    # the model's own implementation comes back after extraction
    assert model.config._attn_implementation == implementation


def test_model_facts_per_architecture(model_dirs: dict[str, Path]) -> None:
    expected = {
        "bert": ("encoder", False, "self"),
        "distilbert": ("encoder", False, "self"),
        "roberta": ("encoder", False, "self"),
        "gpt2": ("decoder", True, "self"),
        "llama": ("decoder", True, "self"),
        "t5": ("encoder-decoder", False, "encoder"),
        "bart": ("encoder-decoder", False, "encoder"),
    }
    for name, (architecture, causal, kind) in expected.items():
        data = extract(model_dirs[name], TEXT, device="cpu")
        assert data.model is not None
        assert (data.model.architecture, data.causal, data.kind) == (architecture, causal, kind), name
        assert data.model.num_layers == 2 and data.model.num_heads == 4 == data.num_heads
        if architecture == "encoder-decoder":
            assert data.part("decoder").causal and not data.part("cross").causal
            cross = data.part("cross")
            assert cross.keys.tokens == data.tokens and cross.queries.tokens == data.part("decoder").tokens
        if causal:
            upper = np.triu_indices(len(data.tokens), k=1)
            assert np.all(data.attentions[:, :, upper[0], upper[1]] == 0)


def test_grouped_query_attention_reports_every_query_head(model_dirs: dict[str, Path]) -> None:
    data = extract(model_dirs["llama"], TEXT, device="cpu")
    assert data.num_heads == 4  # 4 query heads over 2 key/value heads
    assert not np.allclose(data.attentions[:, 0], data.attentions[:, 1])


def test_logits_equal_a_plain_forward_of_the_model_as_loaded(model_dirs: dict[str, Path]) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    directory = model_dirs["bert"]
    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()  # default: sdpa
    tokenizer = AutoTokenizer.from_pretrained(directory)
    with torch.no_grad():
        plain = model(**tokenizer(TEXT, return_tensors="pt")).logits[0].numpy()
    data = extract(model, TEXT, tokenizer=tokenizer)
    assert data.prediction is not None
    np.testing.assert_allclose(data.prediction.logits, plain, atol=1e-5, rtol=0)
    np.testing.assert_allclose(data.prediction.probabilities.sum(), 1.0, atol=1e-6)
    assert data.prediction.labels == ("negative", "positive")


def test_bert_weights_equal_an_independent_recomputation(model_dirs: dict[str, Path]) -> None:
    """The specification's method: softmax(q·kᵀ/√d_k) per head from each layer's own projections."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    directory = model_dirs["bert"]
    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    layer_inputs: list[torch.Tensor] = []
    handles = [
        layer.attention.register_forward_pre_hook(
            lambda module, args, kwargs: layer_inputs.append(args[0] if args else kwargs["hidden_states"]),
            with_kwargs=True,
        )
        for layer in model.bert.encoder.layer
    ]
    with torch.no_grad():
        model(**tokenizer(TEXT, return_tensors="pt"))
    for handle in handles:
        handle.remove()

    heads, head_dim = model.config.num_attention_heads, model.config.hidden_size // model.config.num_attention_heads
    recomputed = []
    with torch.no_grad():
        for layer, hidden in zip(model.bert.encoder.layer, layer_inputs, strict=True):
            attention = layer.attention.self
            q = attention.query(hidden)[0].view(-1, heads, head_dim).transpose(0, 1)
            k = attention.key(hidden)[0].view(-1, heads, head_dim).transpose(0, 1)
            recomputed.append(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head_dim), dim=-1))
    data = extract(model, TEXT, tokenizer=tokenizer)
    np.testing.assert_allclose(data.attentions, torch.stack(recomputed).numpy(), atol=1e-6, rtol=0)


def test_padding_gets_zero_weight_and_prepare_drops_it(model_dirs: dict[str, Path]) -> None:
    data = extract(model_dirs["bert"], TEXT, padding="max_length", max_length=16, device="cpu")
    real = int(data.queries.mask.sum())
    assert len(data.tokens) == 16 and real == len(TEXT.split()) + 2
    assert data.tokens[real:] == ("[PAD]",) * (16 - real)
    assert np.all(data.attentions[:, :, :, real:] == 0)
    np.testing.assert_allclose(data.attentions[:, :, :real, :real].sum(-1), 1.0, atol=1e-6)
    assert data.queries.special[real:].all()

    prepared = prepare(data)
    assert prepared["tokens"] == list(data.tokens[:real])
    matrix = prepared["layers"][1]["heads"][3]["attention"]
    np.testing.assert_array_equal(matrix, data.attentions[1, 3, :real, :real])


def test_padding_removed_by_mask_for_tokenizers_with_other_pad_names(model_dirs: dict[str, Path]) -> None:
    data = extract(model_dirs["gpt2"], TEXT, padding="max_length", max_length=20, device="cpu")
    real = int(data.queries.mask.sum())
    assert real < 20 and set(data.tokens[real:]) == {"<|endoftext|>"}
    assert len(prepare(data)["tokens"]) == real


def test_single_layer_keeps_only_that_layer(model_dirs: dict[str, Path]) -> None:
    extractor = AttentionExtractor(model_dirs["gpt2"], device="cpu")
    full = extractor.extract(TEXT)
    only = extractor.extract(TEXT, layers=[1])
    assert only.layer_indices == (1,) and only.attentions.shape[0] == 1
    np.testing.assert_array_equal(only.attentions[0], full.attentions[1])
    encoded = extractor.backend.encode(TEXT)
    weights, layers = extractor.backend.forward(encoded, [1]).stacks["attentions"]
    assert layers == (1,) and weights.shape[0] == 1


def test_captured_layers_are_released_from_the_model_outputs(model_dirs: dict[str, Path]) -> None:
    """The model only ever holds an empty placeholder where a layer's weights were."""
    extractor = AttentionExtractor(model_dirs["bert"], device="cpu")
    assert extractor.backend._ensure_sites() is not None
    returned = []
    handle = extractor.model.register_forward_hook(lambda module, args, output: returned.append(output))
    extractor.extract(TEXT)
    handle.remove()
    assert all(weights.numel() == 0 for weights in returned[0].attentions)


def test_the_capture_sites_are_learnt_once_per_model_object(model_dirs: dict[str, Path]) -> None:
    """A second backend on the same loaded model (a new widget, each extract(model, text)) runs no probe."""
    first = AttentionExtractor(model_dirs["gpt2"], device="cpu")
    sites = first.backend._ensure_sites()
    forwards = []
    handle = first.model.register_forward_hook(lambda module, args, output: forwards.append(args))
    second = AttentionExtractor(first.model, tokenizer=first.backend.tokenizer)
    assert second.backend._ensure_sites() == sites and forwards == []
    np.testing.assert_array_equal(second.extract(TEXT).attentions, first.extract(TEXT).attentions)
    handle.remove()
    assert len(forwards) == 2, "one forward per extraction, no probe"


def test_train_mode_is_restored_and_dropout_is_off(model_dirs: dict[str, Path]) -> None:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dirs["bert"]).train()
    first = extract(model, TEXT, tokenizer=str(model_dirs["bert"]))
    second = extract(model, TEXT, tokenizer=str(model_dirs["bert"]))
    assert model.training
    np.testing.assert_array_equal(first.attentions, second.attentions)


def test_plain_pytorch_transformer_encoder(tmp_path: Path) -> None:
    tokenizer = bert_tokenizer(tmp_path / "tok")
    torch.manual_seed(0)
    model = TinyTorchClassifier(len(tokenizer)).eval()
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        fast_path_logits = model(ids)[0].numpy()

    inputs: list[torch.Tensor] = []
    handles = [
        layer.self_attn.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
        for layer in model.encoder.layers
    ]
    data = extract(model, TEXT, tokenizer=tokenizer)
    for handle in handles:
        handle.remove()
    assert data.attentions.shape == (2, 4, ids.shape[1], ids.shape[1])
    assert data.model is not None and data.model.model_type == "pytorch"
    # recompute each layer from its own input projection
    for index, (layer, x) in enumerate(zip(model.encoder.layers, inputs, strict=True)):
        attention = layer.self_attn
        with torch.inference_mode():
            projected = torch.nn.functional.linear(x[0], attention.in_proj_weight, attention.in_proj_bias)
        q, k, _ = projected.chunk(3, dim=-1)
        heads, head_dim = attention.num_heads, attention.head_dim
        q = q.view(-1, heads, head_dim).transpose(0, 1)
        k = k.view(-1, heads, head_dim).transpose(0, 1)
        expected = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head_dim), dim=-1).numpy()
        np.testing.assert_allclose(data.attentions[index], expected, atol=1e-6, rtol=0)
    assert data.prediction is not None
    np.testing.assert_allclose(data.prediction.logits, fast_path_logits, atol=1e-5, rtol=0)


def test_unicode_text(model_dirs: dict[str, Path]) -> None:
    text = "the movie 🎬 was מצוין and 很好"
    for name in ("bert", "gpt2"):
        data = extract(model_dirs[name], text, device="cpu")
        np.testing.assert_allclose(data.attentions.sum(-1), 1.0, atol=1e-5)
        assert data.text == text
    display = extract(model_dirs["gpt2"], "🎬", device="cpu").queries.display
    assert "".join(display).replace("�", "") in ("🎬", "")  # byte pieces decode, never raw Ġ/ð symbols
    assert not any("ð" in token for token in display)


def test_display_tokens_are_readable(model_dirs: dict[str, Path]) -> None:
    data = extract(model_dirs["gpt2"], "the movie was good", device="cpu")
    assert not any(token.startswith("Ġ") for token in data.queries.display)
    assert any(token.startswith("Ġ") for token in data.tokens)


# -- bad input ---------------------------------------------------------------------------


def test_missing_and_empty_model_dirs(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        extract(tmp_path / "nope", TEXT)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="is empty"):
        extract(tmp_path / "empty", TEXT)
    (tmp_path / "noconfig").mkdir()
    (tmp_path / "noconfig" / "vocab.txt").write_text("a\n")
    with pytest.raises(ModelLoadError, match="no config.json"):
        extract(tmp_path / "noconfig", TEXT)


def test_model_dir_without_tokenizer(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    AutoModelForSequenceClassification.from_pretrained(model_dirs["bert"]).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="no tokenizer"):
        extract(tmp_path, TEXT)


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text(model_dirs: dict[str, Path], text: str) -> None:
    with pytest.raises(InputError, match="text is empty"):
        extract(model_dirs["bert"], text)


def test_layer_out_of_range(model_dirs: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="layer 5 is out of range.*0 to 1"):
        extract(model_dirs["bert"], TEXT, layers=[5])
    with pytest.raises(InputError, match="layer -1 is out of range"):
        extract(model_dirs["t5"], TEXT, layers=-1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_device_is_an_error(model_dirs: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="CUDA is not available"):
        extract(model_dirs["bert"], TEXT, device="cuda")
    with pytest.raises(InputError, match="unknown device"):
        extract(model_dirs["bert"], TEXT, device="tpu")


def test_long_text_is_truncated_with_a_warning_or_refused(model_dirs: dict[str, Path]) -> None:
    long_text = " ".join(["good"] * 200)
    with pytest.warns(TruncationWarning, match="202 tokens long but at most 64"):
        data = extract(model_dirs["bert"], long_text)
    assert len(data.tokens) == 64 and data.tokens[-1] == "[SEP]"
    with pytest.raises(InputError, match="at most 64 are allowed"):
        extract(model_dirs["bert"], long_text, truncation=False)
    with pytest.warns(TruncationWarning, match="at most 10 are allowed"):
        assert len(extract(model_dirs["bert"], long_text, max_length=10).tokens) == 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a text within the limit warns about nothing
        extract(model_dirs["bert"], TEXT)


def test_loaded_model_without_tokenizer() -> None:
    with pytest.raises(InputError, match="tokenizer is needed"):
        extract(TinyTorchClassifier(10), TEXT)


def test_importing_the_package_does_not_import_torch() -> None:
    code = "import sys, attnviz_widget; print('torch' in sys.modules, 'transformers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_public_names_stay_functions_after_submodules_load(model_dirs: dict[str, Path]) -> None:
    import attnviz_widget
    from attnviz_widget import AttentionWidget  # noqa: F401  imports the widget and wire modules

    AttentionExtractor(model_dirs["bert"])  # loads the extractor module
    assert callable(attnviz_widget.prepare) and not isinstance(attnviz_widget.prepare, type(attnviz_widget))
    assert callable(attnviz_widget.extract) and not isinstance(attnviz_widget.extract, type(attnviz_widget))
