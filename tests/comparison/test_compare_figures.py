"""A | B | B − A figures: matplotlib through save_heatmap/plot_heatmap, plotly through plot_plotly."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from conftest import make_attention

from attnviz_widget import plot_heatmap, plot_plotly, save_heatmap
from attnviz_widget.comparison import compare
from attnviz_widget.comparison.figures import GAP_NOTE, plot_head_scores
from attnviz_widget.errors import InputError

GOOD = ["[CLS]", "the", "$x$", "was", "<b>good</b>", "[SEP]"]
NOT_GOOD = ["[CLS]", "the", "$x$", "was", "not", "<b>good</b>", "[SEP]"]


@pytest.fixture
def aligned():
    a = make_attention(2, 2, len(GOOD), tokens=GOOD, seed=1, causal=True)
    b = make_attention(2, 2, len(NOT_GOOD), tokens=NOT_GOOD, seed=2, causal=True)
    return compare(a, b, labels=("base", "tuned"))


def test_png_has_three_panels_and_a_diverging_symmetric_colour_bar(aligned, tmp_path: Path) -> None:
    path = save_heatmap(aligned, tmp_path / "diff.png", 1, 0)
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[1] > 2 * pixels.shape[0]  # three panels side by side
    figure = plot_heatmap(aligned, 1, 0)
    panels = [ax for ax in figure.axes if ax.images and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["A (base)", "B (tuned)", "B − A"]
    diff_image = panels[2].images[0]
    assert diff_image.norm.vmin == -diff_image.norm.vmax > -np.inf
    assert diff_image.get_cmap().name.startswith("RdBu_r")
    assert diff_image.norm.vmax == pytest.approx(np.nanmax(np.abs(aligned.difference(1, 0))))
    labels = [ax.get_ylabel() for ax in figure.axes]
    assert "B − A: red = more in B (tuned), blue = more in A (base)" in labels
    assert figure._supxlabel.get_text() == GAP_NOTE
    # the gap row ("not", only in B) is masked in A's panel and in the difference, not in B's
    gap = NOT_GOOD.index("not")
    assert panels[0].images[0].get_array().mask[gap].all()
    assert not panels[1].images[0].get_array().mask[gap, : gap + 1].any()
    assert panels[2].images[0].get_array().mask[gap].all()
    # tick labels say which tokens are gaps; "$" is not read as math
    assert [t.get_text() for t in panels[0].get_yticklabels()][gap] == "+not"
    assert [t.get_text() for t in panels[0].get_yticklabels()][2] == r"\$x\$"


def test_same_tokens_figure_has_no_gap_note_and_names_the_scores() -> None:
    comparison = compare(make_attention(seed=3), make_attention(seed=4))
    figure = plot_heatmap(comparison, 0, 1)
    assert figure._supxlabel is None
    title = figure._suptitle.get_text()
    assert title.startswith("Layer 0, head 1: B vs A — JS ") and "TV" in title


def test_plotly_figure_has_the_same_three_panels(aligned) -> None:
    figure = plot_plotly(aligned, 1, 0)
    assert [trace.type for trace in figure.data] == ["heatmap"] * 3
    assert [trace.coloraxis for trace in figure.data] == ["coloraxis", "coloraxis", "coloraxis2"]
    diverging = figure.layout.coloraxis2
    assert diverging.cmid == 0 and diverging.cmin == -diverging.cmax
    assert "more in B (tuned)" in diverging.colorbar.title.text and "more in A (base)" in diverging.colorbar.title.text
    z, difference = np.asarray(figure.data[2].z, dtype=float), aligned.difference(1, 0)
    shown = ~np.isnan(z)
    np.testing.assert_array_equal(z[shown], difference[shown])
    assert np.isnan(z[np.isnan(difference)]).all() and shown.sum() == 21  # 6 × 7 / 2 cells below the diagonal
    texts = " ".join(figure.layout.xaxis.ticktext) + " ".join(figure.data[0].text[0])
    assert "&lt;b&gt;good&lt;/b&gt;" in texts and "<b>good" not in texts


def test_the_causal_upper_triangle_is_hidden_not_zero(aligned) -> None:
    figure = plot_plotly(aligned, 0, 1)
    z = np.asarray(figure.data[0].z, dtype=float)
    assert np.isnan(z[0, 1:]).all() and not np.isnan(z[1, 0])


def test_options_a_comparison_cannot_take_are_refused(aligned, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ax is not supported"):
        plot_heatmap(aligned, 0, 0, ax=plot_heatmap(aligned, 0, 0).axes[0])
    with pytest.raises(InputError, match="unknown aggregate|valid heads"):
        plot_plotly(aligned, 0, 0, aggregate="median")
    with pytest.raises(InputError, match="valid heads are 0 to 1"):
        save_heatmap(aligned, tmp_path / "bad.png", 0, 5)
    assert not (tmp_path / "bad.png").exists()
    with pytest.raises(InputError, match="use a .png, .svg or .pdf"):
        save_heatmap(aligned, tmp_path / "diff.gif", 0, 0)


def test_head_score_grid_figure(aligned) -> None:
    figure = plot_head_scores(aligned, "tv")
    image = figure.axes[0].images[0]
    np.testing.assert_array_equal(image.get_array(), aligned.head_scores("tv"))
    assert "tuned" in figure.axes[0].get_title()


def test_score_grid_of_an_averaged_array_and_a_bad_shape() -> None:
    from attnviz_widget.comparison.figures import plot_score_grid

    values = np.array([[0.1, np.nan], [0.3, 0.0]])
    figure = plot_score_grid(values, [3, 7], title="mean of $2$")
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["3", "7"]
    assert ax.images[0].get_array().mask[0, 1]  # NaN drawn as a gap
    assert sorted(text.get_text() for text in ax.texts) == ["0.00", "0.10", "0.30"]
    with pytest.raises(InputError, match=r"shape \(layers, heads\)"):
        plot_score_grid(np.zeros(3))


def test_aggregates_are_compared_like_heads(aligned) -> None:
    figure = plot_heatmap(aligned, 1, aggregate="mean")
    assert figure._suptitle.get_text().startswith("Layer 1, mean over heads: B (tuned) vs A (base) — JS ")
    a_matrix, b_matrix = aligned.matrices(1, "mean")
    gap = NOT_GOOD.index("not")
    keep = [i for i in range(len(NOT_GOOD)) if i != gap]
    expected = aligned.b.matrix(1, "mean")[np.ix_(keep, keep)] - aligned.a.matrix(1, "mean")
    np.testing.assert_allclose(aligned.difference(1, "mean")[np.ix_(keep, keep)], expected, rtol=0, atol=0)
    assert np.isnan(a_matrix[gap]).all() and 0 <= aligned.head_score(1, "max", "tv") <= 1
    figure = plot_plotly(aligned, 1, aggregate="rollout")
    assert "rollout" in figure.layout.title.text.lower()
