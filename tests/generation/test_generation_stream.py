"""run_generation(on_token=...): the rows streamed while generate runs are cached generation's own.

Each streamed data set must equal the finished result (one forward pass over the final
sequence) on the rows it holds, and the streamed step scores the final ones; streaming must not
change what is generated, greedy or sampled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import build_gpt2, build_llama, build_t5

from attnviz_widget.generation import generate
from attnviz_widget.generation.run import GenerationProgress, plan_generation, run_generation
from attnviz_widget.loading import load_model, load_tokenizer

# three architectures, greedy and sampled, each generated twice: ~17 s, so CI's full run only
pytestmark = pytest.mark.slow

PROMPT = "the movie was not"
ATOL = 1e-5


@pytest.fixture(scope="module", params=["gpt2", "llama", "t5"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    build = {"gpt2": build_gpt2, "llama": build_llama, "t5": build_t5}[request.param]
    directory = build(tmp_path_factory.mktemp("stream") / request.param)
    return load_model(str(directory)), load_tokenizer(str(directory))


def stream(model: tuple[Any, Any], **options: Any) -> tuple[Any, list[tuple[list[Any], dict[str, np.ndarray]]]]:
    """The final data and, per token, (steps so far, copies of every section's partial weights)."""
    seen = []

    def on_token(progress: GenerationProgress) -> None:
        partial = progress.partial_data()
        assert partial is not None
        weights = {name: np.array(part.attentions) for name, part in partial.sections.items()}
        seen.append((list(progress.steps), weights))

    plan = plan_generation(model[0], PROMPT, tokenizer=model[1], max_new_tokens=5, **options)
    return run_generation(plan, on_token=on_token), seen


@pytest.mark.parametrize("options", [{}, {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "seed": 3}],
                         ids=["greedy", "sampled"])
def test_streamed_rows_and_scores_equal_the_finished_result(model: tuple[Any, Any], options: dict[str, Any]) -> None:
    final, seen = stream(model, **options)
    plain = generate(model[0], PROMPT, tokenizer=model[1], max_new_tokens=5, **options)
    assert final.generation.token_ids.tolist() == plain.generation.token_ids.tolist()
    assert len(seen) == final.generation.num_generated
    prompt = final.generation.prompt_tokens
    for count, (steps, sections) in enumerate(seen, start=1):
        for got, want in zip(steps, final.generation.steps):
            assert got.token_id == want.token_id
            assert got.probability == pytest.approx(want.probability, abs=1e-6)
            assert got.entropy == pytest.approx(want.entropy, abs=1e-5)
            assert [a.token_id for a in got.top] == [a.token_id for a in want.top]
        for name, weights in sections.items():
            full = np.asarray(final.part(name).attentions)
            if name in ("self", "decoder"):  # the newest token's own row comes with the next step
                assert weights.shape[2] == weights.shape[3] == prompt + count - 1
            np.testing.assert_allclose(weights, full[:, :, : weights.shape[2], : weights.shape[3]], atol=ATOL, rtol=0)


def test_a_lazily_kept_generation_streams_tokens_without_rows(tmp_path: Path) -> None:
    directory = build_gpt2(tmp_path / "gpt2")
    plan = plan_generation(str(directory), PROMPT, max_new_tokens=3, device="cpu", store="lazy")
    seen = []
    data = run_generation(plan, on_token=lambda progress: seen.append((len(progress.steps), progress.partial_data())))
    assert [count for count, _ in seen] == [1, 2, 3] and all(partial is None for _, partial in seen)
    assert data.is_lazy and data.generation.num_generated == 3
