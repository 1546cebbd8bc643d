"""HeadStats: means and standard deviations from sums, the table, Parquet (atomic), plots, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_bert

from attnviz_widget.errors import InputError
from attnviz_widget.stats import HeadStats, plot_head_stats
from attnviz_widget.stats.cli import stats_main
from attnviz_widget.stats.metrics import METRICS
from attnviz_widget.stats.partial import Partial
from attnviz_widget.stats.plot import save_head_stats
from attnviz_widget.stats.result import read_metadata

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def constructed(layers: int = 2, heads: int = 3) -> tuple[HeadStats, np.ndarray]:
    """HeadStats over four texts with known per-text values ``(texts, metrics, layers, heads)``."""
    rng = np.random.default_rng(1)
    values = rng.random((4, len(METRICS), layers, heads))
    values[1, 0, 0, 0] = np.nan  # text 1 has no value for metric 0 at head (0, 0)
    partial = Partial.empty(len(METRICS), layers, heads, k=2)
    texts = ["t0 <b>", "t1", "t2 & co", "t3"]
    partial.add_values(values[:3], np.arange(3), texts[:3], list(range(len(METRICS))))
    other = Partial.empty(len(METRICS), layers, heads, k=2)
    other.add_values(values[3:], np.array([3]), texts[3:], list(range(len(METRICS))))
    partial.merge(other)
    partial.counters["texts"] = 4
    stats = HeadStats.from_partial(partial, model="/models/my-$model", corpus="4 texts", summary={"engine": "local"})
    return stats, values


def test_mean_std_and_count_come_from_the_sums() -> None:
    stats, values = constructed()
    np.testing.assert_allclose(stats.mean, np.nanmean(values, axis=0), atol=1e-12)
    np.testing.assert_allclose(stats.std, np.nanstd(values, axis=0), atol=1e-9)
    assert stats.count[0, 0, 0] == 3 and stats.count[0, 1, 2] == 4
    best = stats.top_texts("prev", 1, 2)
    slot = METRICS.index("prev")
    order = np.argsort(-values[:, slot, 1, 2])[:2]
    assert [text for text, _ in best] == [["t0 <b>", "t1", "t2 & co", "t3"][i] for i in order]
    assert stats.top_texts("prev", 1, 2, k=1) == best[:1]
    with pytest.raises(InputError, match="k must be between 0 and 2"):
        stats.top_texts("prev", 1, 2, k=3)
    with pytest.raises(InputError, match="unknown metric 'nope'"):
        stats.values("nope")


def test_partial_bytes_round_trip() -> None:
    partial = Partial.empty(len(METRICS), 2, 3, k=2)
    partial.add_values(np.ones((2, len(METRICS), 2, 3)), np.array([5, 9]), ["a", "b"], list(range(len(METRICS))))
    partial.counters["texts"] = 2
    again, extra = Partial.from_bytes(partial.to_bytes({"shard": 3}))
    assert extra == {"shard": 3} and again.counters == partial.counters and again.texts == {5: "a", 9: "b"}
    np.testing.assert_array_equal(again.top_index, partial.top_index)


def test_table_and_parquet_with_metadata(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pandas as pd

    stats, _ = constructed()
    table = stats.to_pandas()
    assert len(table) == 6 and list(table.columns[:5]) == ["layer", "head", "self_mean", "self_std", "self_count"]
    assert table.loc[(table["layer"] == 1) & (table["head"] == 2), "prev_mean"].item() == stats.values("prev")[1, 2]
    path = stats.to_parquet(tmp_path / "stats.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)
    metadata = read_metadata(path)
    assert metadata["model"] == "/models/my-$model" and metadata["corpus"] == "4 texts"
    assert metadata["metrics"] == list(METRICS) and metadata["summary"]["engine"] == "local"


def test_a_failed_parquet_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    stats, _ = constructed()
    target = tmp_path / "stats.parquet"

    def broken(table, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(InputError, match="No space left on device"):
        stats.to_parquet(target)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="does not exist"):
        stats.to_parquet(tmp_path / "missing" / "stats.parquet")


def test_plots_png_and_plotly(tmp_path: Path) -> None:
    stats, _ = constructed()
    png = save_head_stats(stats, "entropy", tmp_path / "atlas.png")
    assert png.read_bytes().startswith(PNG_MAGIC)
    figure = plot_head_stats(stats, "prev", backend="plotly")
    heatmap = figure.data[0]
    assert np.asarray(heatmap.z, dtype=float).shape == (2, 3)
    hover = heatmap.text[1][2]
    assert "layer 1, head 2" in hover and "probe_induction:" in hover and "entropy_uniform:" in hover
    assert "&lt;" not in figure.layout.title.text and "my-$model" in figure.layout.title.text
    with pytest.raises(InputError, match="unknown backend"):
        plot_head_stats(stats, "prev", backend="bokeh")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="ending in .png"):
        save_head_stats(stats, "prev", tmp_path / "atlas.jpg")


@pytest.mark.slow
def test_cli_writes_parquet_and_names_the_strongest_heads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyarrow")
    model = build_bert(tmp_path / "bert")
    corpus = tmp_path / "texts.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["the movie was good", "i loved it"]))
    output = tmp_path / "head_stats.parquet"
    argv = ["--model_dir", str(model), "--input_file", str(corpus), "--output_file", str(output), "--no_progress"]
    assert stats_main([*argv, "--device", "cpu", "--batch_size", "2"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {output}: 2 layers × 4 heads, 15 metrics" in out and "2 texts" in out
    assert "strongest prev: layer" in out
    assert read_metadata(output)["corpus"] == str(corpus)
    corpus.write_text('{"body": 1}\n')
    assert stats_main([*argv, "--output_file", str(tmp_path / "again.parquet")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["attnviz-stats: error: line 1 of texts.jsonl has no 'text' field"]
    assert not (tmp_path / "again.parquet").exists()
    assert stats_main([*argv, "--output_file", str(tmp_path / "x.csv")]) == 2
    assert "must end in .parquet" in capsys.readouterr().err
