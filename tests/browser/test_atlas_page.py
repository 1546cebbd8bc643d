"""The head atlas in a real (headless) Chromium: the built bundle fed a HeadAtlasWidget's own state.

The page holds the traits :class:`~attnviz_widget.stats.view.HeadAtlasWidget` syncs (from
constructed statistics whose model name is markup) and a fake anywidget model recording what
the view sets, as Jupyter would send it to Python. Checks: the grid painted in viridis with
grey for a head without a value, hover on a cell and on a table row reads every metric,
a click on a header sorts the table, a click on a cell or row selects that head (outlined),
the metric picker recolours the grid, names stay text.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attnviz_widget.html_export import BUNDLE

from .fake_model_page import open_page, page_html, widget_state
from .marks import NEEDS_CHROMIUM_AND_BUNDLE

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
XSS = "<img src=x onerror=alert(1)>"
CELL = 22  # ATLAS_CELL in js/src/atlas-view.ts

pytestmark = [*NEEDS_CHROMIUM_AND_BUNDLE, pytest.mark.slow]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _stats() -> Any:
    from attnviz_widget.stats.metrics import METRICS
    from attnviz_widget.stats.partial import Partial
    from attnviz_widget.stats.result import HeadStats

    layers, heads = 3, 4
    values = np.random.default_rng(3).random((5, len(METRICS), layers, heads))
    values[:, METRICS.index("prev"), 2, 3] = np.nan  # a head without a value
    values[:, METRICS.index("prev"), 1, 2] = 0.99  # the strongest previous-token head
    partial = Partial.empty(len(METRICS), layers, heads, k=2)
    partial.add_values(values, np.arange(5), [f"text {i}" for i in range(5)], list(range(len(METRICS))))
    partial.counters["texts"] = 5
    return HeadStats.from_partial(partial, model=f"/models/{XSS}", corpus="5 texts <b>x</b>")


def _page_files(directory: Path) -> None:
    from attnviz_widget.stats.view import HeadAtlasWidget

    atlas = HeadAtlasWidget(_stats())
    state = widget_state(atlas)
    atlas.close()
    (directory / "index.html").write_text(page_html(state, saved=("metric", "selected")), encoding="utf-8")
    shutil.copy(BUNDLE, directory / "widget.js")


@pytest.fixture  # closed after each test: the JupyterLab test below runs its own Playwright
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str]]]:
    directory = tmp_path_factory.mktemp("atlas-page")
    _page_files(directory)
    with open_page(directory, ".attnviz-atlas-grid[data-attnviz-ready]", height=1200) as opened:
        yield opened


def _pixel(view: Any, layer: int, head: int) -> np.ndarray:
    from PIL import Image

    png = view.locator(".attnviz-atlas-grid").screenshot()
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return image[1 + layer * CELL + CELL // 2, 1 + head * CELL + CELL // 2]  # 1 px border


def _rows(view: Any) -> list[str]:
    return view.locator(".attnviz-atlas tbody tr").evaluate_all("rows => rows.map((r) => r.dataset.cell)")


def test_grid_table_and_hover(page: tuple[Any, list[str]]) -> None:
    view, problems = page
    assert view.locator(".attnviz-atlas-grid").get_attribute("data-attnviz-ready") == "prev"
    assert view.locator(".attnviz-atlas-grid").evaluate("c => [c.width, c.height]") == [4, 3]
    assert list(_pixel(view, 2, 3)) == [0xD9, 0xD9, 0xD9]  # no value: grey
    strongest = _pixel(view, 1, 2)  # 0.99 on a 0..1 scale: viridis yellow
    assert strongest[0] > 200 and strongest[1] > 200 and strongest[2] < 80, strongest
    assert _rows(view)[0] == str(1 * 4 + 2) and _rows(view)[-1] == str(2 * 4 + 3)  # by prev, NaN last
    box = view.locator(".attnviz-atlas-grid").bounding_box()
    view.mouse.move(box["x"] + 1 + 3 * CELL + 5, box["y"] + 1 + 5)
    readout = view.locator(".attnviz-atlas-readout").text_content()
    assert readout.startswith("layer 0, head 3") and "probe_induction: " in readout and readout.count("±") == 15
    view.locator('.attnviz-atlas tbody tr[data-cell="5"]').hover()
    assert view.locator(".attnviz-atlas-readout").text_content().startswith("layer 1, head 1")
    assert XSS in view.locator(".attnviz-atlas-title").text_content()
    assert view.locator("#host img").count() == 0 and view.locator("#host b").count() == 0
    assert problems == []


def test_sort_select_and_recolour(page: tuple[Any, list[str]]) -> None:
    view, problems = page
    view.locator('.attnviz-atlas th[data-column="layer"]').click()
    assert _rows(view) == [str(i) for i in range(12)]
    view.locator('.attnviz-atlas th[data-column="layer"]').click()
    assert _rows(view)[:4] == ["8", "9", "10", "11"]
    assert view.locator('.attnviz-atlas th[data-column="layer"]').get_attribute("aria-sort") == "descending"
    box = view.locator(".attnviz-atlas-grid").bounding_box()
    view.mouse.click(box["x"] + 1 + 2 * CELL + 5, box["y"] + 1 + CELL + 5)
    assert view.evaluate("window.saved.at(-1)")["selected"] == [1, 2]
    mark = view.locator(".attnviz-atlas-mark").bounding_box()
    assert abs(mark["x"] - (box["x"] + 1 + 2 * CELL)) <= 1.5 and abs(mark["y"] - (box["y"] + 1 + CELL)) <= 1.5
    view.locator('.attnviz-atlas tbody tr[data-cell="3"]').click()
    assert view.evaluate("window.saved.at(-1)")["selected"] == [0, 3]
    assert view.locator('.attnviz-atlas tr[data-selected="true"]').count() == 1
    view.locator(".attnviz-atlas-metric").select_option("entropy")
    assert view.evaluate("window.saved.at(-1)")["metric"] == "entropy"
    assert view.locator(".attnviz-atlas-grid").get_attribute("data-attnviz-ready") == "entropy"
    assert list(_pixel(view, 2, 3)) != [0xD9, 0xD9, 0xD9]  # entropy has a value there
    view.evaluate('window.model.set("detail_status", "layer 0, head 3: <i>x</i>")')
    assert view.locator(".attnviz-atlas-status").text_content() == "layer 0, head 3: <i>x</i>"
    assert problems == []


def atlas_notebook(root: Path, model_dir: Path) -> str:
    """A notebook that measures ``model_dir``'s heads over a few texts and shows the atlas; its name."""
    import nbformat

    from .conftest import HOST_TEXT

    words = HOST_TEXT.split()
    texts = [" ".join(words[i:] + words[:i]) for i in range(0, len(words), 2)]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from attnviz_widget import head_stats\n\n"
            f"stats = head_stats({str(model_dir)!r}, {texts!r}, batch_size=4, progress=False, probe_count=2,"
            " probe_length=6)\n"
            f"atlas = stats.atlas({str(model_dir)!r}, metric='prev')\n"
            "atlas"
        ),
    ]
    name = "atlas.ipynb"
    nbformat.write(nb, root / name)
    return name


@pytest.fixture(scope="module")
def atlas_lab(tmp_path_factory: pytest.TempPathFactory, host_model_dir: Path) -> Iterator[Any]:
    from .conftest import missing_requirements, notebook_session

    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("atlas-lab")
    name = atlas_notebook(root, host_model_dir)
    with notebook_session(root, name, "a notebook written by the test", tmp_path_factory.mktemp("atlas-home")) as session:
        yield session


def test_a_click_in_jupyterlab_opens_the_head_below_the_atlas(atlas_lab: Any) -> None:
    page, kernel = atlas_lab.page, atlas_lab.kernel
    cell = page.locator(".jp-CodeCell").filter(has_text="atlas = stats.atlas(")
    grid = cell.locator(".attnviz-atlas-grid[data-attnviz-ready='prev']")
    grid.wait_for(timeout=60_000)
    assert grid.evaluate("c => [c.width, c.height]") == [12, 6]
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 1 + 5 * CELL + CELL / 2, box["y"] + 1 + 2 * CELL + CELL / 2)  # layer 2, head 5
    kernel.wait_for("atlas.selected", [2, 5], timeout=30)
    kernel.wait_for("atlas.detail is not None and atlas.detail.status", "ready", timeout=120)
    assert kernel.evaluate("[atlas.detail.layer, atlas.detail.head]") == [2, 5]
    assert kernel.evaluate("atlas.detail.text == stats.top_texts('prev', 2, 5)[0][0]") is True
    # the AttentionWidget appears below the atlas, in the same output, and draws its data
    cell.locator(".attnviz-root[data-attnviz-ready='true']").wait_for(timeout=60_000)
    status = cell.locator(".attnviz-atlas-status").text_content()
    assert status.startswith("layer 2, head 5: its top text #1 of 5 for prev"), status
    # the list of the head's top texts: a click on the second shows that one
    cell.locator('.attnviz-atlas-texts button[data-rank="1"]').click()
    kernel.wait_for("atlas.rank", 1, timeout=30)
    kernel.wait_for("atlas.detail.status == 'ready' and atlas.detail.text == stats.top_texts('prev', 2, 5)[1][0]",
                    True, timeout=120)
    assert cell.locator('.attnviz-atlas-texts button[aria-pressed="true"]').get_attribute("data-rank") == "1"
    assert atlas_lab.notebook.stderr_outputs() == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cell.screenshot(path=str(ARTIFACTS / "jupyterlab_atlas.png"))
