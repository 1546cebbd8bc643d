"""HeadAtlasWidget: what it sends (every metric of every head), its traits, and the click-through
to an AttentionWidget on the head's top text extracted with the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import traitlets
from test_stats_result import constructed
from tiny_models import build_bert

import attnviz_widget
from attnviz_widget import AttentionWidget
from attnviz_widget.errors import InputError
from attnviz_widget.stats import head_stats
from attnviz_widget.stats.atlas_wire import METRIC_TITLES
from attnviz_widget.stats.metrics import METRICS
from attnviz_widget.stats.view import HeadAtlasWidget
from attnviz_widget.widget import AttentionWidget as BundleWidget

MODEL_ID = "application/vnd.jupyter.widget-view+json"


def decoded(atlas: HeadAtlasWidget) -> np.ndarray:
    meta = atlas.atlas_meta
    shape = (3, len(meta["metrics"]), meta["layers"], meta["heads"])
    return np.frombuffer(atlas.atlas_values, dtype="<f4").reshape(shape)


def test_the_atlas_sends_mean_std_and_count_of_every_metric() -> None:
    stats, _ = constructed()
    atlas = HeadAtlasWidget(stats)
    values = decoded(atlas)
    np.testing.assert_allclose(values[0], stats.mean, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(values[1], stats.std, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(values[2], stats.count)
    assert values[2, 0, 0, 0] == 3  # the text without a value is left out of the count
    meta = atlas.atlas_meta
    assert meta["metrics"] == list(METRICS) and meta["titles"] == [METRIC_TITLES[m] for m in METRICS]
    assert (meta["layers"], meta["heads"], meta["texts"]) == (2, 3, 4)
    assert meta["unit"][METRICS.index("prev")] and not meta["unit"][METRICS.index("entropy")]
    assert meta["openable"][METRICS.index("prev")] and not meta["openable"][METRICS.index("probe_induction")]
    assert meta["model"] == "my-$model" and meta["can_open"]
    assert atlas.view_kind == "atlas" and atlas.metric == "prev" and atlas.selected == []
    assert str(atlas._esm) == str(BundleWidget._esm)  # one bundle: widget.ts dispatches on view_kind
    assert attnviz_widget.HeadAtlasWidget is HeadAtlasWidget
    assert isinstance(stats.atlas(metric="entropy"), HeadAtlasWidget)


def test_metric_and_selected_are_validated() -> None:
    stats, _ = constructed()
    atlas = HeadAtlasWidget(stats, metric="entropy")
    assert atlas.metric == "entropy"
    with pytest.raises(traitlets.TraitError, match="unknown metric 'nope'"):
        atlas.metric = "nope"
    with pytest.raises(traitlets.TraitError, match=r"selected must be \[\] or \[layer, head\]"):
        atlas.selected = [2, 0]
    with pytest.raises(traitlets.TraitError):
        atlas.selected = [0, 1, 2]
    with pytest.raises(InputError, match="unknown metric 'nope'"):
        HeadAtlasWidget(stats, metric="nope")
    with pytest.raises(InputError, match="needs HeadStats"):
        HeadAtlasWidget({"mean": 1})  # type: ignore[arg-type]


def test_a_head_that_cannot_be_opened_gets_one_line_in_the_atlas() -> None:
    stats, _ = constructed()
    atlas = HeadAtlasWidget(stats, metric="probe_prev")
    atlas.selected = [0, 1]
    assert atlas.detail_status.startswith("layer 0, head 1: probe_prev is scored on random probe tokens")
    assert "\n" not in atlas.detail_status and atlas.detail is None and atlas.top_texts == []
    atlas.metric = "prev"
    atlas.selected = [1, 2]  # the run's model folder does not exist here
    assert "does not exist" in atlas.detail_status and "\n" not in atlas.detail_status
    with pytest.raises(InputError, match="no head \\(5, 0\\)"):
        atlas.open_head(5, 0)
    with pytest.raises(InputError, match="no top text #3 for prev"):
        atlas.open_head(0, 0, rank=2)


def test_the_atlas_displays_with_the_area_that_shows_the_opened_head() -> None:
    stats, _ = constructed()
    atlas = HeadAtlasWidget(stats)
    bundle = atlas._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data[MODEL_ID]["model_id"] == atlas._layout.model_id
    assert atlas._layout.children == (atlas, atlas.output)
    atlas.close()
    assert atlas.comm is None and atlas.output.comm is None


@pytest.fixture(scope="module")
def bert_stats(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    model = build_bert(tmp_path_factory.mktemp("bert"))
    texts = ["the cat sat on the mat .", "a dog , a cat", "hello world", "one two three four five six"]
    return model, head_stats(model, texts, batch_size=2, top_k=2, progress=False, probe_count=2, probe_length=6)


@pytest.mark.slow  # builds a model and runs head_stats and two extractions (~6 s)
def test_clicking_a_head_opens_its_top_text_focused_on_that_head(bert_stats: tuple[Path, object]) -> None:
    model, stats = bert_stats
    atlas = HeadAtlasWidget(stats, model, metric="punct")  # type: ignore[arg-type]
    assert atlas.atlas_meta["can_open"]
    atlas.selected = [1, 1]  # what a click in the browser sends
    widget = atlas.detail
    assert isinstance(widget, AttentionWidget)
    widget.wait(60)
    best_text, best_value = stats.top_texts("punct", 1, 1)[0]  # type: ignore[attr-defined]
    assert widget.status == "ready" and widget.text == best_text
    assert (widget.layer, widget.head) == (1, 1)
    assert widget.data is not None and widget.data.text == best_text
    assert atlas.detail_status == f"layer 1, head 1: its top text #1 of 2 for punct ({best_value:.3f})"
    kept = stats.top_texts("punct", 1, 1)  # type: ignore[attr-defined]
    assert atlas.top_texts == [{"text": text, "value": value} for text, value in kept] and atlas.rank == 0
    (shown,) = atlas.output.outputs
    assert shown["data"][MODEL_ID]["model_id"] == widget.model_id
    # a click on the second text of the list (rank), then another metric (back to its best text)
    atlas.rank = 1
    widget.wait(60)
    assert widget.text == kept[1][0] and atlas.detail_status.startswith("layer 1, head 1: its top text #2 of 2")
    atlas.metric = "distance"
    widget.wait(60)
    assert atlas.rank == 0 and widget.text == stats.top_texts("distance", 1, 1)[0][0]  # type: ignore[attr-defined]
    atlas.metric = "probe_induction"  # no texts: said in one line, the list emptied
    assert atlas.top_texts == [] and "scored on random probe tokens" in atlas.detail_status
    # from Python: reuses the same widget (the model is loaded once), refocuses it, and the atlas follows
    second = atlas.open_head(0, 2, metric="first", rank=1)
    second.wait(60)
    assert second is widget and (widget.layer, widget.head) == (0, 2)
    assert widget.text == stats.top_texts("first", 0, 2)[1][0]  # type: ignore[attr-defined]
    assert (atlas.selected, atlas.metric, atlas.rank) == ([0, 2], "first", 1)
    atlas.close()
    assert widget.comm is None
