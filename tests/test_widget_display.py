"""One live view per cell, however ``show()`` is written: checked in a real kernel.

``show()`` displays the widget and returns it, so as a cell's last expression the same
widget reaches IPython's display hook a second time. A notebook built here runs each
documented form in its own cell with nbclient, and the widget-view outputs of each cell
are counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_notebooks import kernel_env  # noqa: F401 - the fixture: a kernel running this interpreter
from tiny_models import build_bert

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

#: Each form of showing a widget (a cell's source) and the number of live views it must produce.
FORMS = [
    ("last expression", 'AttentionWidget(model_dir, device="cpu").show("the movie was good")', 1),
    ("assigned", 'assigned = AttentionWidget(model_dir, device="cpu").show("the plot")', 1),
    ("inside a function", 'def make():\n    return AttentionWidget(model_dir).show("the acting")\nmake()', 1),
    ("two statements", 'w = AttentionWidget(model_dir, device="cpu")\nw.show("the ending")', 1),
    ("shown again in a new cell", "w", 1),
    ("chained", 'AttentionWidget(model_dir, device="cpu").show("a plot").show("the movie")', 1),
    ("an attribute of the result", 'AttentionWidget(model_dir, device="cpu").show("the plot").status', 1),
    ("display()", "from IPython.display import display\ndisplay(AttentionWidget.from_data(w.data))", 1),
    ("assigned, not shown", 'quiet = AttentionWidget.from_data(w.data)', 0),
]


def widget_views(cell) -> int:
    return sum(
        1
        for output in cell.get("outputs", [])
        if output.output_type in ("display_data", "execute_result") and WIDGET_VIEW in output.get("data", {})
    )


@pytest.mark.slow  # a kernel that loads torch and a model
def test_each_form_shows_exactly_one_view(kernel_env: Path, tmp_path: Path) -> None:  # noqa: F811
    model_dir = build_bert(tmp_path / "bert")
    setup = f"from attnviz_widget import AttentionWidget\nmodel_dir = {str(model_dir)!r}"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(setup)] + [nbformat.v4.new_code_cell(source) for _, source, _ in FORMS]
    client = nbclient.NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(kernel_env)}}
    )
    client.execute()
    counts = {name: widget_views(cell) for (name, _, _), cell in zip(FORMS, notebook.cells[1:], strict=True)}
    assert counts == {name: views for name, _, views in FORMS}
    attribute = notebook.cells[1 + [name for name, _, _ in FORMS].index("an attribute of the result")]
    results = [output for output in attribute.outputs if output.output_type == "execute_result"]
    assert [result["data"]["text/plain"] for result in results] == ["'ready'"]


def test_a_second_display_in_the_same_cell_shows_nothing(random_attention, monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    from attnviz_widget import AttentionWidget, display

    shown: list[dict] = []
    monkeypatch.setattr(IPython.display, "display", lambda data, **kwargs: shown.append(data))
    widget = AttentionWidget.from_data(random_attention())
    for cell in (5, 5, 6, 6, 7):
        monkeypatch.setattr(display, "execution_count", lambda cell=cell: cell)
        widget._ipython_display_()
    assert [data[WIDGET_VIEW]["model_id"] for data in shown] == [widget.model_id] * 3  # cells 5, 6 and 7
    monkeypatch.setattr(display, "execution_count", lambda: None)  # outside IPython: every display goes through
    widget._ipython_display_()
    widget._ipython_display_()
    assert len(shown) == 5
