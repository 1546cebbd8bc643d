"""generate() against the model's own cached generation: same tokens, same rows, same probabilities.

The reference is ``model.generate(..., output_attentions=True, return_dict_in_generate=True)``
with eager attention: step 0 holds the prompt's rows, step t ≥ 1 one query row (the token
generated at step t − 1) over the keys cached so far. Every such row must equal the row of
generate()'s single forward pass over the final sequence within 1e-5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tiny_models import build_bart, build_gpt2, build_llama, build_qwen2, build_t5

from attnviz_widget.errors import InputError
from attnviz_widget.extractor import AttentionExtractor
from attnviz_widget.generation import Generation, generate
from attnviz_widget.generation.prompt import check_max_new_tokens
from attnviz_widget.loading import load_model, load_tokenizer

# Generation against the model's own cached generate, per architecture: ~35 s, so CI's full run only.
pytestmark = pytest.mark.slow

PROMPT = "the movie was not"
ATOL = 1e-5
SAMPLING = {"do_sample": True, "temperature": 0.7, "top_p": 0.9}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Any]]:
    """Tiny random models loaded with eager attention, by architecture."""
    root = tmp_path_factory.mktemp("generation-models")
    built = {}
    for name, build in (("gpt2", build_gpt2), ("llama", build_llama), ("qwen2", build_qwen2), ("t5", build_t5),
                        ("bart", build_bart)):
        directory = build(root / name)
        built[name] = (load_model(str(directory)), load_tokenizer(str(directory)))
    return built


def reference(model: Any, tokenizer: Any, max_new_tokens: int, seed: int | None = None, **options: Any) -> Any:
    """The model's own cached generation with per-step attentions, logits and scores."""
    ids = tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    if seed is not None:
        torch.manual_seed(seed)
    with torch.inference_mode():
        return model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
            output_attentions=True, output_logits=True, output_scores=True, return_dict_in_generate=True, **options,
        )


def run(models: dict[str, tuple[Any, Any]], name: str, max_new_tokens: int = 6, **options: Any) -> Any:
    model, tokenizer = models[name]
    return generate(model, PROMPT, tokenizer=tokenizer, max_new_tokens=max_new_tokens, **options)


def assert_decoder_only_rows(data: Any, expected: Any) -> None:
    prompt = data.generation.prompt_tokens
    attentions = np.asarray(data.attentions)
    for layer, weights in enumerate(expected.attentions[0]):  # step 0: the prompt's rows
        np.testing.assert_allclose(attentions[layer, :, :prompt, :prompt], weights[0].numpy(), atol=ATOL, rtol=0)
    for step in range(1, len(expected.attentions)):
        query = prompt + step - 1
        for layer, weights in enumerate(expected.attentions[step]):
            assert weights.shape[2] == 1, "a cached step computes one query row"
            row = attentions[layer, :, query, :]
            np.testing.assert_allclose(row[:, : query + 1], weights[0, :, 0].numpy(), atol=ATOL, rtol=0)
            assert not row[:, query + 1 :].any(), "a generated token cannot see later tokens"


def assert_encoder_decoder_rows(data: Any, expected: Any) -> None:
    for layer, weights in enumerate(expected.encoder_attentions):
        np.testing.assert_allclose(np.asarray(data.attentions)[layer], weights[0].numpy(), atol=ATOL, rtol=0)
    decoder = np.asarray(data.part("decoder").attentions)
    cross = np.asarray(data.part("cross").attentions)
    assert decoder.shape[2] == len(expected.decoder_attentions) + 1  # start token + generated tokens
    for step in range(len(expected.decoder_attentions)):
        for layer in range(decoder.shape[0]):
            own = expected.decoder_attentions[step][layer][0, :, 0].numpy()
            np.testing.assert_allclose(decoder[layer, :, step, : step + 1], own, atol=ATOL, rtol=0)
            assert not decoder[layer, :, step, step + 1 :].any()
            over_prompt = expected.cross_attentions[step][layer][0, :, 0].numpy()
            np.testing.assert_allclose(cross[layer, :, step], over_prompt, atol=ATOL, rtol=0)


def assert_same_tokens_and_scores(data: Any, expected: Any, tokenizer: Any) -> None:
    generation: Generation = data.generation
    steps = len(expected.logits)
    new_ids = expected.sequences[0, -steps:].tolist()
    assert generation.token_ids.tolist() == new_ids
    assert generation.text == tokenizer.decode(new_ids, skip_special_tokens=True)
    for step, score in enumerate(generation.steps):
        logits = expected.logits[step][0].double().numpy()
        model_p = np.exp(logits - logits.max())
        model_p /= model_p.sum()
        assert abs(score.probability - model_p[new_ids[step]]) <= 1e-6
        nonzero = model_p[model_p > 0]
        assert abs(score.entropy - float(-(nonzero * np.log(nonzero)).sum())) <= 1e-5
        assert [a.token_id for a in score.top] == np.argsort(-model_p, kind="stable")[:5].tolist()
        assert all(abs(a.probability - model_p[a.token_id]) <= 1e-6 for a in score.top)
        processed = expected.scores[step][0].double().numpy()
        finite = np.isfinite(processed)
        sampled_p = np.where(finite, np.exp(np.where(finite, processed, 0) - processed[finite].max()), 0)
        sampled_p /= sampled_p.sum()
        assert abs(score.sampled_probability - sampled_p[new_ids[step]]) <= 1e-6


@pytest.mark.parametrize("name", ["gpt2", "llama", "qwen2"])
@pytest.mark.parametrize("sampling", [False, True], ids=["greedy", "sampled"])
def test_decoder_only_rows_equal_cached_generation(models: dict, name: str, sampling: bool) -> None:
    options = {**SAMPLING, "seed": 7} if sampling else {}
    data = run(models, name, **options)
    model, tokenizer = models[name]
    expected = reference(model, tokenizer, 6, seed=options.pop("seed", None), **options)
    assert data.kind == "self" and data.causal and not data.parts
    assert data.attentions.shape[2] == expected.sequences.shape[1]
    assert data.tokens == tuple(tokenizer.convert_ids_to_tokens(expected.sequences[0].tolist()))
    assert_decoder_only_rows(data, expected)
    assert_same_tokens_and_scores(data, expected, tokenizer)
    assert data.generation.settings["do_sample"] is sampling


@pytest.mark.parametrize("name", ["t5", "bart"])
@pytest.mark.parametrize("sampling", [False, True], ids=["greedy", "sampled"])
def test_encoder_decoder_rows_equal_cached_generation(models: dict, name: str, sampling: bool) -> None:
    options: dict[str, Any] = {**SAMPLING, "seed": 3} if sampling else {}
    options["min_new_tokens"] = 4  # the random BART would end the sequence at once
    data = run(models, name, **options)
    model, tokenizer = models[name]
    expected = reference(model, tokenizer, 6, seed=options.pop("seed", None), **options)
    assert data.kind == "encoder" and sorted(data.parts) == ["cross", "decoder"]
    assert data.generation.section == "decoder" and data.generation.prompt_tokens == 1
    assert all(part.generation is data.generation for part in data.parts.values())
    assert_encoder_decoder_rows(data, expected)
    assert_same_tokens_and_scores(data, expected, tokenizer)


def test_sampling_is_seeded_and_leaves_the_callers_random_state(models: dict) -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = run(models, "llama", max_new_tokens=8, seed=11, **SAMPLING)
    assert torch.equal(torch.get_rng_state(), before)
    second = run(models, "llama", max_new_tokens=8, seed=11, **SAMPLING)
    other = run(models, "llama", max_new_tokens=8, seed=12, **SAMPLING)
    assert first.generation.token_ids.tolist() == second.generation.token_ids.tolist()
    assert first.generation.token_ids.tolist() != other.generation.token_ids.tolist()
    assert first.generation.settings == {
        "max_new_tokens": 8, "do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": None, "seed": 11,
        "chat": False,
    }


def test_temperature_changes_the_sampled_distribution_not_the_models(models: dict) -> None:
    data = run(models, "gpt2", seed=0, do_sample=True, temperature=0.5)
    model, tokenizer = models["gpt2"]
    expected = reference(model, tokenizer, 6, seed=0, do_sample=True, temperature=0.5)
    assert_same_tokens_and_scores(data, expected, tokenizer)
    # the model's distribution is flatter than the sharpened one it was sampled from
    assert all(step.sampled_probability > step.probability for step in data.generation.steps[:3])


@pytest.mark.parametrize("name", ["llama", "gpt2", "t5"])
def test_lazy_path_gives_the_same_rows(models: dict, name: str) -> None:
    model, tokenizer = models[name]
    expected = reference(model, tokenizer, 10, min_new_tokens=10)
    lazy = run(models, name, max_new_tokens=10, store="lazy", min_new_tokens=10)
    assert lazy.is_lazy and all(part.is_lazy for part in lazy.parts.values())
    if name == "t5":
        assert_encoder_decoder_rows(lazy, expected)
    else:
        assert_decoder_only_rows(lazy, expected)
    auto = run(models, name, max_new_tokens=10, memory_budget=1_000, min_new_tokens=10)  # too big to be dense
    assert auto.is_lazy and auto.generation.token_ids.tolist() == lazy.generation.token_ids.tolist()


def test_layers_keeps_the_chosen_layers(models: dict) -> None:
    full = run(models, "llama")
    one = run(models, "llama", layers=[1])
    assert one.layer_indices == (1,) and one.generation.token_ids.tolist() == full.generation.token_ids.tolist()
    np.testing.assert_array_equal(one.attentions[0], full.attentions[1])


def test_an_extractor_is_reused(models: dict) -> None:
    model, tokenizer = models["gpt2"]
    extractor = AttentionExtractor(model, tokenizer=tokenizer)
    data = generate(extractor, PROMPT, max_new_tokens=3)
    assert data.generation.num_generated == 3 and data.model is not None and data.model.model_type == "gpt2"


def test_a_model_folder_loads(tmp_path: Path) -> None:
    data = generate(str(build_gpt2(tmp_path / "gpt2")), PROMPT, max_new_tokens=4, device="cpu")
    assert data.generation.finish_reason == "length" and data.generation.num_generated == 4
    assert data.text.startswith(PROMPT) and data.text.endswith(data.generation.text)


# -- how generation ends ---------------------------------------------------------------------


def test_early_stop_at_eos_is_reported(models: dict) -> None:
    first = run(models, "gpt2", max_new_tokens=1).generation.token_ids[0]
    data = run(models, "gpt2", max_new_tokens=10, eos_token_id=int(first))
    assert data.generation.finish_reason == "eos" and data.generation.stopped_at_eos
    assert data.generation.num_generated == 1 and "end-of-sequence" in data.generation.describe()
    assert data.attentions.shape[2] == data.generation.prompt_tokens + 1


def test_stop_strings_are_passed_through(models: dict) -> None:
    model, tokenizer = models["gpt2"]
    full = generate(model, "the movie was", tokenizer=tokenizer, max_new_tokens=6)
    assert full.generation.text == " was was was wasasas"  # the random GPT-2 repeats itself
    data = generate(model, "the movie was", tokenizer=tokenizer, max_new_tokens=6, stop_strings=["wasas"])
    assert data.generation.finish_reason == "stop" and data.generation.text == " was was was wasas"


def test_a_chat_template_is_applied(models: dict) -> None:
    model, tokenizer = models["llama"]
    tokenizer.chat_template = (
        "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant:{% endif %}"
    )
    try:
        data = generate(model, PROMPT, tokenizer=tokenizer, chat=True, max_new_tokens=3)
        talk = generate(model, tokenizer=tokenizer, max_new_tokens=3,
                        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": PROMPT}])
    finally:
        tokenizer.chat_template = None
    assert data.generation.prompt == f"<s>user: {PROMPT}</s><s>assistant:"
    assert data.tokens[0] == "<s>" and data.tokens.count("<s>") == 2  # the template's, not added twice
    assert data.generation.settings["chat"] is True
    assert talk.generation.prompt.startswith("<s>system: be brief</s><s>user:")


# -- bad input: one line each, nothing generated ---------------------------------------------


@pytest.mark.parametrize("value", [0, -3, True, 2.5, "8"])
def test_max_new_tokens_must_be_positive(models: dict, value: Any) -> None:
    with pytest.raises(InputError, match="max_new_tokens must be") as error:
        run(models, "gpt2", max_new_tokens=value)
    assert "\n" not in str(error.value)


def test_max_new_tokens_past_the_context_is_refused(models: dict) -> None:
    prompt_tokens = len(models["gpt2"][1](PROMPT)["input_ids"])
    with pytest.raises(InputError, match=rf"too large: the prompt has {prompt_tokens} tokens and the model's "
                                          rf"context holds 64; use max_new_tokens={64 - prompt_tokens} or less"):
        run(models, "gpt2", max_new_tokens=64)
    model, tokenizer = models["gpt2"]
    facts = AttentionExtractor(model, tokenizer=tokenizer).facts()
    assert check_max_new_tokens(64 - prompt_tokens, prompt_tokens, facts, model.config) == 64 - prompt_tokens
    with pytest.raises(InputError, match="the decoder holds at most 64 tokens"):
        run(models, "bart", max_new_tokens=64)


def test_an_encoder_only_model_points_to_extract(tmp_path: Path) -> None:
    from tiny_models import build_bert

    with pytest.raises(InputError, match=r"is an encoder and cannot generate text; use extract\(model, text\)"):
        generate(str(build_bert(tmp_path / "bert")), PROMPT, device="cpu")


def test_a_model_without_generation_config_is_refused(models: dict) -> None:
    model, tokenizer = models["gpt2"]
    saved, model.generation_config = model.generation_config, None
    try:
        with pytest.raises(InputError, match="has no generation config; set model.generation_config"):
            generate(model, PROMPT, tokenizer=tokenizer)
    finally:
        model.generation_config = saved


def test_a_missing_chat_template_is_refused(models: dict) -> None:
    with pytest.raises(InputError, match="has no chat template, so chat=True and messages= cannot be applied"):
        run(models, "gpt2", chat=True)
    with pytest.raises(InputError, match="has no chat template"):
        generate(models["gpt2"][0], tokenizer=models["gpt2"][1], messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_beams": 2}, "num_beams=2 is not supported"),
        ({"output_attentions": True}, "does not take output_attentions="),
        ({"max_length": 20}, "use max_new_tokens="),
        ({"do_sample": True, "temperature": -1.0}, "model.generate refused the arguments"),
    ],
)
def test_arguments_generate_cannot_honour_are_refused(models: dict, options: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        run(models, "gpt2", **options)
    assert "\n" not in str(error.value)


def test_empty_prompt_is_refused(models: dict) -> None:
    with pytest.raises(InputError, match="the text is empty"):
        generate(models["gpt2"][0], "   ", tokenizer=models["gpt2"][1])


def test_a_store_that_cannot_hold_the_result_is_refused_before_generating(
    models: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = models["gpt2"]
    monkeypatch.setattr(model, "generate", lambda *a, **k: pytest.fail("generate ran before the store was checked"))
    with pytest.raises(InputError, match="over the memory budget") as error:
        run(models, "gpt2", max_new_tokens=20, store="dense", memory_budget=1_000)
    assert "\n" not in str(error.value)
