"""The comparison view in a real JupyterLab: ``AttentionWidget.compare(a, b)`` run in a notebook.

Checks what only a live kernel shows: the first view (both sides' heatmaps, B − A and the score
grid) and then both overviews, which the kernel sends from a background thread after the first
paint; a click on the score grid reaching Python (``widget.layer``, ``widget.head``) and B − A
following it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: CSS pixels of a score-grid cell (``GRID_CELL`` in js/src/compare-view.ts).
CELL = 22

NOTEBOOK = '''\
import numpy as np
from attnviz_widget import AttentionWidget
from attnviz_widget.data import AttentionData

def run(tokens, seed):
    values = np.random.default_rng(seed).random((3, 4, len(tokens), len(tokens)), dtype=np.float32) ** 4
    return AttentionData.from_arrays(tokens, values / values.sum(-1, keepdims=True))

good = ["[CLS]", "the", "movie", "was", "good", "[SEP]"]
not_good = ["[CLS]", "the", "movie", "was", "not", "good", "[SEP]"]
widget = AttentionWidget.compare(run(good, 1), run(not_good, 2), labels=("good", "not good"))
widget'''


@pytest.fixture(scope="module")
def compare_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import nbformat

    from .conftest import missing_requirements, notebook_session

    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("compare-lab")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK)]
    nbformat.write(nb, root / "compare.ipynb")
    with notebook_session(root, "compare.ipynb", "a notebook written by the test",
                          tmp_path_factory.mktemp("compare-home")) as session:
        yield session


def test_the_comparison_in_jupyterlab_draws_both_sides_and_a_grid_click_reaches_python(compare_lab: Any) -> None:
    page, kernel = compare_lab.page, compare_lab.kernel
    cell = page.locator(".jp-CodeCell").filter(has_text="widget = AttentionWidget.compare(")
    for side in "ab":
        cell.locator(f".attnviz-compare-{side} .attnviz-root[data-attnviz-ready='true']").wait_for(timeout=60_000)
    diff = cell.locator(".attnviz-compare-diff canvas[data-attnviz-ready='0|0']")
    diff.wait_for(timeout=60_000)
    assert diff.evaluate("c => [c.width, c.height]") == [7, 7]  # 6 + 1 aligned tokens: one gap for "not"
    # both overviews arrive after the first view, from the kernel's background thread
    kernel.wait_for("[widget.a_data_version, widget.b_data_version]", [2, 2], timeout=60)
    overviews = cell.locator("canvas.attnviz-overview")
    page.wait_for_function("(canvases) => canvases.length === 2 && canvases.every((c) => c.width > 1)",
                           arg=overviews.element_handles(), timeout=60_000)
    grid = cell.locator("canvas.attnviz-compare-grid")
    assert grid.evaluate("c => [c.width, c.height]") == [4, 3]  # heads × layers
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 2 * CELL + CELL / 2, box["y"] + 1 * CELL + CELL / 2)  # layer 1, head 2
    kernel.wait_for("[widget.layer, widget.head]", [1, 2], timeout=30)
    cell.locator(".attnviz-compare-diff canvas[data-attnviz-ready='1|2']").wait_for(timeout=30_000)
    titles = cell.locator(".attnviz-heatmap-title").all_text_contents()
    assert len(titles) == 2 and all("Layer 1, head 2" in title for title in titles), titles
    assert compare_lab.notebook.stderr_outputs() == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cell.screenshot(path=str(ARTIFACTS / "jupyterlab_compare.png"))
