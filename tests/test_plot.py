"""Heatmaps: the PNG/SVG/PDF files, what the matplotlib and plotly figures show, causal
masking, readable labels, escaping of token text, errors and atomic saves."""

from __future__ import annotations

import errno
import html
import re
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import plotly.graph_objects as go
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, PowerNorm, to_rgb
from matplotlib.figure import Figure

from attnviz_widget.data import AttentionData, ModelInfo
from attnviz_widget.errors import InputError
from attnviz_widget.figure_style import FONT_MIN, MASKED_COLOR
from attnviz_widget.plot import (
    plot_heatmap,
    plot_plotly,
    save_heatmap,
    save_plotly_html,
)
from attnviz_widget.prepare import attention_rollout, head_max, head_mean

GPT2 = ModelInfo("gpt2", "decoder", num_layers=2, num_heads=3, name="tiny-gpt2")


def pixel(figure: Figure, query: int, key: int) -> np.ndarray:
    """The RGB colour (0-1) drawn at the centre of cell ``(query, key)`` of the first axes."""
    figure.canvas.draw()
    image = np.asarray(figure.canvas.buffer_rgba())
    x, y = figure.axes[0].transData.transform((key, query))
    return image[int(round(image.shape[0] - y)), int(round(x)), :3] / 255.0


# -- the static heatmap ------------------------------------------------------------------------------


def test_png_is_written_and_shows_a_heatmap(tmp_path, random_attention) -> None:
    data = random_attention(2, 3, 12, model=GPT2)
    path = save_heatmap(data, tmp_path / "heatmap.png", layer=1, head=2)

    assert path == tmp_path / "heatmap.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 400 and image.shape[1] > 400
    colours = np.unique(image[..., :3].reshape(-1, 3).round(2), axis=0)
    assert len(colours) > 50, "more than a blank canvas"
    assert image[..., :3].std() > 0.1
    assert [p.name for p in tmp_path.iterdir()] == ["heatmap.png"]


def test_figure_shows_the_chosen_head_without_padding(random_attention) -> None:
    data = random_attention(2, 3, 9, padding=3)
    figure = plot_heatmap(data, layer=1, head=2)

    assert isinstance(figure.canvas, FigureCanvasAgg)
    ax = figure.axes[0]
    drawn = ax.images[0].get_array()
    np.testing.assert_array_equal(np.ma.getdata(drawn), data.attentions[1, 2, :6, :6])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(data.tokens[:6])
    assert [t.get_text() for t in ax.get_yticklabels()] == list(data.tokens[:6])
    assert "[PAD]" not in {t.get_text() for t in ax.get_xticklabels()}
    assert ax.get_title() == "Layer 1, head 2"
    assert ax.get_ylabel().startswith("Query") and ax.get_xlabel().startswith("Key")
    assert len(figure.axes) == 2, "a colour bar"
    assert figure.axes[1].get_ylabel() == "attention"


def test_brighter_means_more_attention(random_attention) -> None:
    data = random_attention(1, 1, 6)
    matrix = data.attentions[0, 0]
    figure = plot_heatmap(data)
    low, high = np.unravel_index(matrix.argmin(), matrix.shape), np.unravel_index(matrix.argmax(), matrix.shape)
    assert pixel(figure, *high).mean() > pixel(figure, *low).mean() + 0.3  # viridis: dark purple to yellow


def test_title_names_model_layer_head_and_aggregate(random_attention, random_encoder_decoder) -> None:
    data = random_attention(2, 3, 5, model=GPT2)
    assert plot_heatmap(data, 1, 0).axes[0].get_title() == "Layer 1, head 0 — tiny-gpt2 (gpt2)"
    assert plot_heatmap(data, 1, aggregate="mean").axes[0].get_title().startswith("Layer 1, mean over heads")
    assert plot_heatmap(data, 0, aggregate="max").axes[0].get_title().startswith("Layer 0, max over heads")
    assert plot_heatmap(data, 1, aggregate="rollout").axes[0].get_title().startswith("Rollout through layer 1")
    assert plot_heatmap(data, title="Mine").axes[0].get_title() == "Mine"
    unnamed = random_attention(1, 1, 4, model=ModelInfo("bert", "encoder", 1, 1))
    assert plot_heatmap(unnamed).axes[0].get_title() == "Layer 0, head 0 — bert"
    cross = random_encoder_decoder().part("cross")
    assert plot_heatmap(cross, 1, 1).axes[0].get_title() == "Cross-attention layer 1, head 1 — tiny-bart (bart)"


@pytest.mark.parametrize(("name", "reduce"), [("mean", head_mean), ("max", head_max)])
def test_head_aggregates(random_attention, name, reduce) -> None:
    data = random_attention(3, 4, 7, padding=2)
    drawn = plot_heatmap(data, layer=2, aggregate=name).axes[0].images[0].get_array()
    np.testing.assert_allclose(np.ma.getdata(drawn), reduce(data.attentions[:, :, :5, :5])[2], rtol=1e-6)


def test_rollout_aggregate(random_attention) -> None:
    data = random_attention(3, 2, 6)
    drawn = plot_heatmap(data, layer=1, aggregate="rollout").axes[0].images[0].get_array()
    np.testing.assert_allclose(np.ma.getdata(drawn), attention_rollout(data.attentions)[1], rtol=1e-6)
    assert plot_heatmap(data, 1, aggregate="rollout").axes[1].get_ylabel() == "rollout"


def test_labels_stay_readable_at_128_tokens(random_attention) -> None:
    tokens = [f"token{i}" for i in range(128)]
    small = plot_heatmap(random_attention(1, 1, 8))
    figure = plot_heatmap(random_attention(1, 1, 128, tokens=tokens))
    ax = figure.axes[0]

    xlabels, ylabels = ax.get_xticklabels(), ax.get_yticklabels()
    assert [t.get_text() for t in xlabels] == tokens
    assert [t.get_text() for t in ylabels] == tokens
    assert all(t.get_fontsize() >= FONT_MIN for t in xlabels + ylabels)
    assert all(t.get_rotation() == 90 for t in xlabels)
    width, height = figure.get_size_inches()
    assert width > 2 * small.get_size_inches()[0] and height > 2 * small.get_size_inches()[1]
    # one label line per cell: neighbouring labels do not overlap once drawn
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [label.get_window_extent(renderer) for label in ylabels]
    assert all(upper.y0 >= lower.y1 - 0.5 for lower, upper in zip(boxes[1:], boxes))


def test_long_inputs_label_every_nth_token(random_attention) -> None:
    figure = plot_heatmap(random_attention(1, 1, 300))
    ax = figure.axes[0]
    assert list(ax.get_xticks()) == list(range(0, 300, 2))
    assert len(ax.get_yticklabels()) == 150
    assert ax.images[0].get_array().shape == (300, 300)


def test_causal_upper_triangle_is_drawn_neutral_not_as_zero(random_attention) -> None:
    data = random_attention(1, 1, 6, causal=True)
    figure = plot_heatmap(data)
    drawn = figure.axes[0].images[0].get_array()

    np.testing.assert_array_equal(np.ma.getmaskarray(drawn), np.triu(np.ones((6, 6), dtype=bool), k=1))
    masked_colour, zero_colour = np.array(to_rgb(MASKED_COLOR)), np.array(figure.axes[0].images[0].cmap(0.0)[:3])
    np.testing.assert_allclose(pixel(figure, 0, 5), masked_colour, atol=2 / 255)
    np.testing.assert_allclose(pixel(figure, 2, 4), masked_colour, atol=2 / 255)
    assert np.abs(pixel(figure, 0, 5) - zero_colour).max() > 0.3
    for query, key in [(5, 0), (3, 3), (4, 1)]:  # visible cells carry colour-map colours
        assert np.abs(pixel(figure, query, key) - masked_colour).max() > 0.1


def test_non_causal_data_is_not_masked(random_attention) -> None:
    assert not np.ma.getmaskarray(plot_heatmap(random_attention(1, 1, 5)).axes[0].images[0].get_array()).any()


def test_colour_scales(random_attention) -> None:
    data = random_attention(1, 1, 6, causal=True)
    log = plot_heatmap(data, color_scale="log")
    assert isinstance(log.axes[0].images[0].norm, LogNorm)
    assert isinstance(plot_heatmap(data, color_scale="sqrt").axes[0].images[0].norm, PowerNorm)
    # zeros on a log scale take the lowest colour, not the masked grey
    zeros = np.zeros((1, 1, 3, 3), dtype=np.float32)
    zeros[0, 0, :, 0] = 1.0
    figure = plot_heatmap(AttentionData.from_arrays(["a", "b", "c"], zeros), color_scale="log")
    np.testing.assert_allclose(pixel(figure, 1, 1), figure.axes[0].images[0].cmap(0.0)[:3], atol=2 / 255)


def test_token_text_is_not_read_as_mathtext(random_attention, tmp_path) -> None:
    tokens = ["$x$", "$", "a_b^c", "\n", " ", "a" * 40]
    figure = plot_heatmap(random_attention(1, 1, 6, tokens=tokens))
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert labels[:5] == [r"\$x\$", r"\$", "a_b^c", "↵", "␣"]  # newlines as in every other view
    assert labels[5] == "a" * 23 + "…"
    save_heatmap(random_attention(1, 1, 6, tokens=tokens), tmp_path / "math.png")  # renders without error


def test_drawing_into_given_axes(random_attention) -> None:
    figure = Figure(figsize=(5, 4))
    ax = figure.add_subplot()
    result = plot_heatmap(random_attention(1, 1, 5), ax=ax)
    assert result is figure
    assert ax.images and tuple(figure.get_size_inches()) == (5.0, 4.0)
    root = Figure()
    sub_ax = root.subfigures(1, 2)[1].add_subplot()
    assert plot_heatmap(random_attention(1, 1, 5), ax=sub_ax) is root
    assert sub_ax.images


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"layer": 2}, "layer 2 is not available; valid layers are 0 to 1"),
        ({"layer": -1}, "layer -1 is not available; valid layers are 0 to 1"),
        ({"head": 3}, "head 3 is out of range; valid heads are 0 to 2"),
        ({"layer": 5, "aggregate": "mean"}, "layer 5 is not available; valid layers are 0 to 1"),
        ({"layer": 7, "aggregate": "rollout"}, "layer 7 is not available; valid layers are 0 to 1"),
        ({"aggregate": "median"}, "unknown aggregate 'median'; choose from mean, max, rollout"),
        ({"color_scale": "cubic"}, "unknown color_scale 'cubic'; choose from linear, sqrt, log"),
        ({"cmap": "no-such-map"}, "unknown colour map 'no-such-map'"),
    ],
)
@pytest.mark.parametrize("plot", [plot_heatmap, plot_plotly])
def test_invalid_arguments_raise_input_error(random_attention, plot, arguments, message) -> None:
    with pytest.raises(InputError, match=message):
        plot(random_attention(2, 3, 5), **arguments)


def test_rollout_of_selected_layers_is_refused(random_attention) -> None:
    with pytest.raises(InputError, match="rollout needs every layer from layer 0 on"):
        plot_heatmap(random_attention(3, 2, 5).select_layers([1, 2]), 2, aggregate="rollout")


@pytest.mark.parametrize(("suffix", "magic"), [(".svg", b"<?xml"), (".pdf", b"%PDF"), (".PNG", b"\x89PNG")])
def test_vector_formats_by_suffix(tmp_path, random_attention, suffix, magic) -> None:
    path = save_heatmap(random_attention(1, 2, 5, model=GPT2), tmp_path / f"heatmap{suffix}", head=1)
    assert path.read_bytes().startswith(magic)
    if suffix == ".svg":
        first = path.read_bytes()
        assert save_heatmap(random_attention(1, 2, 5, model=GPT2), path, head=1).read_bytes() == first  # no date


def test_save_heatmap_errors(tmp_path, random_attention) -> None:
    data = random_attention(1, 1, 4)
    with pytest.raises(InputError, match=r"cannot save a heatmap as .*heatmap\.jpg: use a \.png, \.svg or \.pdf"):
        save_heatmap(data, tmp_path / "heatmap.jpg")
    with pytest.raises(InputError, match="directory .*nowhere does not exist; create it first"):
        save_heatmap(data, tmp_path / "nowhere" / "heatmap.png")
    with pytest.raises(InputError, match="layer 3 is not available"):
        save_heatmap(data, tmp_path / "heatmap.png", layer=3)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_leaves_no_file(tmp_path, random_attention, monkeypatch) -> None:
    def fail(self: Figure, handle: Any, **kwargs: Any) -> None:
        handle.write(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", fail)
    with pytest.raises(InputError, match="No space left on device"):
        save_heatmap(random_attention(1, 1, 4), tmp_path / "heatmap.png")
    assert list(tmp_path.iterdir()) == []


# -- the interactive figure -------------------------------------------------------------------------

HOSTILE = ["<s>", "<b>bold</b>", "a&b", "the", "the", "</s>"]


def test_plotly_figure_holds_the_matrix_and_labels(random_attention) -> None:
    data = random_attention(2, 3, 8, padding=2, tokens=[*HOSTILE, "<pad>", "<pad>"], model=GPT2)
    figure = plot_plotly(data, layer=1, head=2)

    assert isinstance(figure, go.Figure)
    (trace,) = figure.data
    assert trace.type == "heatmap"
    np.testing.assert_array_equal(np.asarray(trace.z, dtype=np.float32), data.attentions[1, 2, :6, :6])
    assert list(trace.x) == list(range(6)) and list(trace.y) == list(range(6))  # positions keep repeats apart
    assert figure.layout.title.text == "Layer 1, head 2 — tiny-gpt2 (gpt2)"
    assert figure.layout.yaxis.autorange == "reversed"  # query 0 at the top, as in the PNG
    escaped = [html.escape(token, quote=False) for token in HOSTILE]
    assert list(figure.layout.xaxis.ticktext) == escaped
    assert list(figure.layout.yaxis.ticktext) == escaped
    assert list(figure.layout.xaxis.tickvals) == list(range(6))


def test_plotly_hover_text_is_escaped(random_attention) -> None:
    data = random_attention(1, 1, 6, tokens=HOSTILE)
    (trace,) = plot_plotly(data).data
    value = data.attentions[0, 0, 1, 2]
    assert trace.text[1][2] == f"&lt;b&gt;bold&lt;/b&gt; [1] → a&amp;b [2]: {value:.4g}"
    assert trace.text[3][4] == f"the [3] → the [4]: {data.attentions[0, 0, 3, 4]:.4g}"
    flat = [cell for row in trace.text for cell in row]
    assert not any("<b>" in cell or "<s>" in cell for cell in flat)
    assert trace.hoverinfo == "text"


def test_plotly_causal_cells_are_gaps(random_attention) -> None:
    data = random_attention(1, 1, 5, causal=True)
    (trace,) = plot_plotly(data).data
    z = np.asarray(trace.z, dtype=np.float32)
    upper = np.triu(np.ones((5, 5), dtype=bool), k=1)
    assert np.isnan(z[upper]).all()
    np.testing.assert_array_equal(z[~upper], data.attentions[0, 0][~upper])
    assert trace.hoverongaps is False


@pytest.mark.parametrize("scale", ["linear", "sqrt", "log"])
def test_plotly_colour_scale_keeps_raw_values(random_attention, scale) -> None:
    data = random_attention(1, 1, 6)
    (trace,) = plot_plotly(data, color_scale=scale).data
    np.testing.assert_array_equal(np.asarray(trace.z, dtype=np.float32), data.attentions[0, 0])
    stops = [position for position, _ in trace.colorscale]
    assert stops[0] == 0.0 and stops[-1] == 1.0 and stops == sorted(stops)
    assert trace.zmin == 0.0 and trace.zmax == pytest.approx(float(data.attentions[0, 0].max()))
    if scale != "linear":  # colours change faster near zero than a linear scale would
        assert stops[len(stops) // 2] < 0.3


def test_plotly_aggregate_title(random_attention) -> None:
    figure = plot_plotly(random_attention(2, 2, 4), 1, aggregate="mean")
    assert figure.layout.title.text == "Layer 1, mean over heads"


def test_standalone_html_inlines_plotly(tmp_path, random_attention) -> None:
    data = random_attention(1, 2, 6, tokens=HOSTILE)
    path = save_plotly_html(data, tmp_path / "heatmap.html", head=1)

    page = path.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith(("<!doctype html>", "<html"))
    assert "plotly.js v" in page and len(page) > 1_000_000  # the library itself, inline
    assert '<script src="http' not in page
    assert not re.search(r"<script[^>]*\ssrc=", page), "no script is loaded from elsewhere"
    assert "&lt;b&gt;bold&lt;" in page and "<b>bold" not in page  # plotly writes "/" as \u002f
    assert "Layer 0, head 1" in page
    figure = plot_plotly(data)
    assert save_plotly_html(figure, tmp_path / "figure.html").read_text(encoding="utf-8").count("plotly.js v") >= 1


def test_save_plotly_html_errors(tmp_path, random_attention) -> None:
    figure = plot_plotly(random_attention(1, 1, 4))
    with pytest.raises(InputError, match=r"plot options \(head\) apply only when saving AttentionData"):
        save_plotly_html(figure, tmp_path / "x.html", head=1)
    with pytest.raises(InputError, match="needs a plotly Figure or AttentionData, got dict"):
        save_plotly_html({}, tmp_path / "x.html")
    with pytest.raises(InputError, match="it is a directory"):
        save_plotly_html(figure, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_plot_functions_need_attention_data(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected AttentionData, got dict; read files with read_attention_file"):
        plot_heatmap({"tokens": []})  # type: ignore[arg-type]


def test_title_names_a_local_model_folder_by_its_last_part(random_attention, tmp_path) -> None:
    from attnviz_widget import ModelInfo
    from attnviz_widget.plot import plot_heatmap

    folder = tmp_path / "deep" / "my-model"
    folder.mkdir(parents=True)
    figure = plot_heatmap(random_attention(model=ModelInfo("bert", "encoder", 2, 3, name=str(folder))), 0, 0)
    title = figure.axes[0].get_title()
    assert "my-model (bert)" in title and str(tmp_path) not in title
