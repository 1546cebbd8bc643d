"""Engines agree: batched equals one-at-a-time, resumed equals uninterrupted, Ray equals local."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_bert, build_gpt2

from attnviz_widget.errors import InputError
from attnviz_widget.loading import load_model, load_tokenizer
from attnviz_widget.stats import HeadStats, engines, head_stats
from attnviz_widget.stats.batches import BatchRunner
from attnviz_widget.stats.engines import connect_ray
from attnviz_widget.stats.metrics import CORPUS_METRICS

# Whole corpora through the engines (batched, resumed, Ray): ~15 s, so CI's full run only.
pytestmark = pytest.mark.slow

TEXTS = [
    "the movie was not very good .",
    "i loved the acting and the plot",
    "",
    "this film is really quite boring , the ending was terrible",
    "the ending was terrible but fun",
    "a",
    "it was a film",
    "the plot , the acting , the ending : i loved it",
    "not bad",
    "   ",
    "the story was very boring and the film was bad",
    "fun fun fun",
    "i hated the movie , but i loved the story and the acting of the film",
]


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_gpt2(tmp_path_factory.mktemp("gpt2"))


_LOADED: dict[Path, tuple[object, object]] = {}


def run(model: Path, texts=TEXTS, *, loaded: bool = True, **options) -> HeadStats:
    """head_stats with small probes; the model is loaded once per test module (``loaded=False``: from its folder)."""
    if loaded and options.get("engine") != "ray":
        if model not in _LOADED:
            _LOADED[model] = (load_model(str(model)), load_tokenizer(str(model)))
        model, options["tokenizer"] = _LOADED[model]
    options.setdefault("progress", False)
    options.setdefault("device", "cpu")
    options.setdefault("probe_count", 3)
    options.setdefault("probe_length", 6)
    return head_stats(model, texts, **options)


def assert_same(a: HeadStats, b: HeadStats, atol: float = 1e-6) -> None:
    assert a.metrics == b.metrics
    np.testing.assert_array_equal(a.count, b.count)
    np.testing.assert_allclose(a.mean, b.mean, atol=atol, equal_nan=True)
    np.testing.assert_allclose(a.std, b.std, atol=atol, equal_nan=True)
    for key in ("texts", "probes", "empty", "truncated", "tokens"):
        assert a.summary[key] == b.summary[key], key


def assert_same_top(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> None:
    assert [text for text, _ in a] == [text for text, _ in b]
    np.testing.assert_allclose([v for _, v in a], [v for _, v in b], atol=1e-6)


@pytest.mark.parametrize("builder", ["bert", "gpt2"])
def test_batched_equals_one_text_at_a_time(builder: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(builder)
    batched = run(model, batch_size=4, loaded=False)
    single = run(model, batch_size=1)
    assert_same(batched, single)
    assert batched.summary["texts"] == 11 and batched.summary["empty"] == 2 and batched.summary["probes"] == 3
    # "a" has a previous token in BERT ([CLS]), none in GPT-2 (one token, no BOS)
    assert (batched.count[batched.metrics.index("prev")] == (11 if builder == "bert" else 10)).all()
    for metric in ("prev", "entropy", "punct"):
        assert_same_top(batched.top_texts(metric, 1, 0), single.top_texts(metric, 1, 0))


def test_progress_bar_shows_rate_and_eta_and_can_be_turned_off(bert: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(bert, progress=True)
    bar = capsys.readouterr().err
    assert "head stats: 100%" in bar and "13/13" in bar and "text/s]" in bar and "<00:00" in bar  # ETA
    run(bert, progress=False)
    assert "head stats" not in capsys.readouterr().err


def test_causal_models_have_no_next_token_values(gpt2: Path) -> None:
    stats = run(gpt2)
    assert np.isnan(stats.values("next")).all() and (stats.count[stats.metrics.index("next")] == 0).all()
    uniform = stats.values("entropy_uniform")
    assert np.all(stats.values("entropy") <= uniform + 1e-6)


def test_top_texts_are_the_best_texts_of_that_head(bert: Path) -> None:
    stats = run(bert, top_k=3)
    best = stats.top_texts("sep_eos", 0, 1)
    assert len(best) == 3 and [v for _, v in best] == sorted((v for _, v in best), reverse=True)
    model, tokenizer = _LOADED[bert]
    runner = BatchRunner(model, tokenizer=tokenizer, device="cpu")
    slot = CORPUS_METRICS.index("sep_eos")
    alone = {text: runner.measure_texts([text])[0][0, slot, 0, 1] for text in TEXTS if text.strip()}
    ranked = sorted(alone.items(), key=lambda item: -item[1])[:3]
    assert [text for text, _ in best] == [text for text, _ in ranked]
    np.testing.assert_allclose([v for _, v in best], [v for _, v in ranked], atol=1e-6)
    with pytest.raises(InputError, match="probe"):
        stats.top_texts("probe_induction", 0, 0)
    with pytest.raises(InputError, match="no head"):
        stats.top_texts("prev", 9, 0)


def test_metrics_selects_columns(bert: Path) -> None:
    stats = run(bert, metrics=["prev", "entropy"])
    assert stats.metrics == ("prev", "entropy") and stats.mean.shape[0] == 2
    with pytest.raises(InputError, match="unknown metric 'bogus'"):
        run(bert, metrics=["bogus"])


def test_a_too_long_text_is_truncated_and_counted(bert: Path) -> None:
    stats = run(bert, max_length=6)
    assert stats.summary["truncated"] == 7  # the texts of more than 4 words (plus [CLS] and [SEP])
    assert stats.summary["texts"] == 11


def test_empty_corpora_are_refused(bert: Path) -> None:
    with pytest.raises(InputError, match="corpus is empty"):
        run(bert, [])
    with pytest.raises(InputError, match="no non-empty text"):
        run(bert, ["", "  "])
    with pytest.raises(InputError, match="unknown engine"):
        run(bert, engine="spark")


# -- shards and resume ----------------------------------------------------------------------


class Interrupted(Exception):
    pass


def interrupted_after(texts: list[str], count: int) -> Iterator[str]:
    for index, text in enumerate(texts):
        if index == count:
            raise Interrupted
        yield text


def test_stop_and_resume_equals_an_uninterrupted_run(
    bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "WINDOW_BATCHES", 4)  # read 8 texts ahead
    texts = TEXTS * 3  # 39 texts, 13 shards of 3
    options = {"batch_size": 2, "shard_size": 3}
    with pytest.raises(Interrupted):
        run(bert, interrupted_after(texts, 20), shard_dir=tmp_path, **options)
    saved = sorted(p.name for p in tmp_path.glob("shard-*.npz"))
    # texts 0-15 were measured before the interruption: shards 0-4 (texts 0-14) were finished and saved
    assert saved == [f"shard-{i:06d}.npz" for i in range(5)]
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"
    resumed = run(bert, texts, shard_dir=tmp_path, **options)
    assert resumed.summary["resumed_shards"] == [0, 1, 2, 3, 4]
    assert_same(resumed, run(bert, texts, **options))
    again = run(bert, texts, shard_dir=tmp_path, **options)
    assert again.summary["resumed_shards"] == [-1, *range(13)]
    assert_same(again, resumed)


def test_resume_refuses_a_changed_corpus_or_other_settings(bert: Path, tmp_path: Path) -> None:
    run(bert, TEXTS, shard_dir=tmp_path, shard_size=4)
    changed = list(TEXTS)
    changed[1] = "something else"
    with pytest.raises(InputError, match="corpus changed since shard 0"):
        run(bert, changed, shard_dir=tmp_path, shard_size=4)
    with pytest.raises(InputError, match="other settings \\(shard_size\\)"):
        run(bert, TEXTS, shard_dir=tmp_path, shard_size=5)


# -- Ray --------------------------------------------------------------------------------------


def test_ray_missing_is_one_line_with_the_install_command(bert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match=r"pip install 'attnviz-widget\[ray\]'") as error:
        run(bert, engine="ray")
    assert "\n" not in str(error.value)


needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed: pip install 'attnviz-widget[ray]'"
)


@needs_ray
def test_an_unreachable_ray_address_is_one_line(bert: Path) -> None:
    import ray

    if ray.is_initialized():
        pytest.skip("a Ray session is already running in this process")
    with pytest.raises(InputError, match="cannot reach the Ray cluster at 127.0.0.1:9") as error:
        run(bert, engine="ray", ray_address="127.0.0.1:9")
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match="not host:port"):
        run(bert, engine="ray", ray_address="nowhere")


def start_local_ray(ray, tries: int = 3) -> None:
    """A local 2-CPU cluster, started as the engine starts one.

    Ray's raylet gives its agent processes a fixed ~15 s to start; on a machine whose
    cores are saturated by other work they can take longer, and Ray then aborts with
    "The current node timed out during startup". That is the machine, not this code:
    after ``tries`` attempts the test is skipped with Ray's message.
    """
    for attempt in range(tries):
        try:
            connect_ray(ray, None, num_cpus=2)
            return
        except InputError as error:
            if "timed out during startup" not in str(error) or attempt == tries - 1:
                if "timed out during startup" in str(error):
                    pytest.skip(f"Ray's local node did not start on this busy machine: {error}")
                raise


@pytest.mark.slow
@needs_ray
def test_ray_on_a_local_two_cpu_cluster_equals_local(bert: Path, tmp_path: Path) -> None:
    import ray

    started = not ray.is_initialized()
    if started:
        start_local_ray(ray)
    try:
        texts = TEXTS * 4
        local = run(bert, texts, batch_size=4)
        on_ray = run(bert, texts, batch_size=4, engine="ray", ray_actors=2, shard_dir=tmp_path, shard_size=10)
        assert_same(on_ray, local)
        assert on_ray.summary["engine"] == "ray"
        shards = sorted(p.name for p in tmp_path.glob("*.npz"))
        assert shards == ["probe.npz", *[f"shard-{i:06d}.npz" for i in range(6)]]
        for metric in ("prev", "sep_eos"):
            assert_same_top(on_ray.top_texts(metric, 0, 0), local.top_texts(metric, 0, 0))
    finally:
        if started:
            ray.shutdown()
