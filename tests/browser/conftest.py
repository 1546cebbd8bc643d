"""Fixtures of the browser tests: a notebook run in JupyterLab or Notebook 7 (``lab_harness.py``),
a marimo app (``marimo_harness.py``), and the small model the host tests show."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import lab_harness as harness

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "attnviz_widget" / "static" / "widget.js"
QUICK_START = REPO / "notebooks" / "01_quick_start.ipynb"
MARIMO_APP = REPO / "notebooks" / "marimo_quick_start.py"
ARTIFACTS = REPO / "tests" / "artifacts"
#: The variable holding the widget in the notebook under test.
WIDGET_VAR = "widget"
#: Used when the example notebook is missing or does not create ``widget``.
FALLBACK_TEXT = "The acting was wonderful and the story was moving"
#: The text of the host tests (every word is in the tiny models' vocabulary).
HOST_TEXT = "i loved the acting and the plot but the ending was really quite boring"


def missing_requirements(*extra: str) -> str | None:
    """Why a real-JupyterLab test (needing the ``extra`` packages too) cannot run here, or None."""
    chromium = harness.CHROMIUM
    if not chromium.exists():
        return f"{chromium} not found (apt-get install chromium)"
    if not BUNDLE.exists():
        return f"{BUNDLE.relative_to(REPO)} not built (cd js && npm install && npm run build)"
    for dist in ("playwright", "jupyterlab", "ipykernel", "jupyter_client", *extra):
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return f"the {dist} package is not installed (pip install -e '.[test]')"
    return None


def notebook_for_test(root: Path) -> tuple[str, str]:
    """Put the notebook under test into ``root``; return its name and where it came from.

    The example notebook is preferred when it creates the widget as ``widget = AttentionWidget(``;
    otherwise a small notebook doing just that is written.
    """
    if QUICK_START.is_file():
        cells = json.loads(QUICK_START.read_text(encoding="utf-8")).get("cells", [])
        sources = ["".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code"]
        if any(f"{WIDGET_VAR} = AttentionWidget(" in s for s in sources):
            shutil.copy(QUICK_START, root / QUICK_START.name)
            return QUICK_START.name, f"notebooks/{QUICK_START.name}"
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from attnviz_widget import AttentionWidget\n"
            "from attnviz_widget.demo import demo_model_dir\n\n"
            f"{WIDGET_VAR} = AttentionWidget(demo_model_dir()).show({FALLBACK_TEXT!r})"
        ),
        nbformat.v4.new_code_cell(f"print({WIDGET_VAR}.layer, {WIDGET_VAR}.head, {WIDGET_VAR}.selected_token)"),
    ]
    name = "widget_smoke.ipynb"
    nbformat.write(nb, root / name)
    return name, "a notebook written by the test (notebooks/01_quick_start.ipynb missing or unsuitable)"


@dataclass
class LabSession:
    """A notebook run top to bottom in a real JupyterLab, with its page and its kernel."""

    lab: Any  # jupyterlab.JupyterLab
    notebook: Any  # jupyterlab.NotebookPage
    kernel: Any  # jupyterlab.Kernel
    source: str
    widget_var: str = WIDGET_VAR

    @property
    def page(self) -> Any:
        return self.notebook.page

    def widget_root(self) -> Any:
        """Locator of the first view of ``widget`` (the output of the cell that created it)."""
        page = self.page
        cell = page.locator(".jp-CodeCell").filter(has_text=f"{self.widget_var} = AttentionWidget(")
        return cell.locator(".attnviz-root").first


@contextlib.contextmanager
def notebook_session(
    root: Path, name: str, source: str, base_dir: Path, *, app: str = "lab", run_timeout: float = 240
) -> Iterator[LabSession]:
    """``root/name`` run top to bottom in a headless JupyterLab (``app="lab"``) or Notebook 7."""
    from playwright.sync_api import sync_playwright

    lab = harness.JupyterLab.start(root, base_dir=base_dir, app=app)
    try:
        with sync_playwright() as playwright:
            browser = harness.launch_chromium(playwright)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1400}, device_scale_factor=1)
                notebook = harness.NotebookPage(context.new_page(), lab, name)
                try:
                    notebook.open()
                    notebook.run_all(timeout=run_timeout)
                    kernel = notebook.kernel()
                except harness.LabError as error:
                    raise harness.LabError(f"{error}\n--- jupyter {app} log ---\n{lab.log_tail()}") from None
                try:
                    yield LabSession(lab, notebook, kernel, source)
                finally:
                    kernel.close()
            finally:
                browser.close()
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def lab_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSession]:
    """The quick-start notebook run in a headless JupyterLab (module scope: one lab per module)."""
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    # fine-tune and cache the demo model here, outside the kernel's cell timeouts (instant when cached)
    from attnviz_widget.demo import demo_model_dir

    demo_model_dir()

    root = tmp_path_factory.mktemp("lab-root")
    name, source = notebook_for_test(root)
    with notebook_session(root, name, source, tmp_path_factory.mktemp("lab-home")) as session:
        yield session


@pytest.fixture(scope="session")
def host_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random BERT classifier shaped like the demo model (6 layers x 12 heads), built in ~1 s.

    Its large initial weights give peaked attention, so heatmaps differ from head to head.
    """
    from tiny_models import build_bert

    return build_bert(
        tmp_path_factory.mktemp("host-model") / "tiny-bert",
        num_hidden_layers=6, num_attention_heads=12, hidden_size=96, intermediate_size=128,
        initializer_range=0.5,
    )  # fmt: skip


def widget_notebook(root: Path, model_dir: Path, text: str = HOST_TEXT) -> str:
    """Write a one-widget notebook (``widget = AttentionWidget(model_dir).show(text)``); its name."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"from attnviz_widget import AttentionWidget\n\n"
            f"{WIDGET_VAR} = AttentionWidget({str(model_dir)!r}).show({text!r})"
        ),
        nbformat.v4.new_code_cell(f"print({WIDGET_VAR}.layer, {WIDGET_VAR}.head, {WIDGET_VAR}.selected_token)"),
    ]
    name = "host_widget.ipynb"
    nbformat.write(nb, root / name)
    return name


@pytest.fixture(scope="module")
def notebook7_session(tmp_path_factory: pytest.TempPathFactory, host_model_dir: Path) -> Iterator[LabSession]:
    """A one-widget notebook of :func:`host_model_dir` run in a headless Notebook 7."""
    reason = missing_requirements("notebook")
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("nb7-root")
    name = widget_notebook(root, host_model_dir)
    with notebook_session(root, name, "a notebook written by the test", tmp_path_factory.mktemp("nb7-home"),
                          app="notebook") as session:  # fmt: skip
        yield session


@dataclass
class MarimoSession:
    """A marimo app served and opened in headless chromium, with the page's errors."""

    server: Any  # marimo_harness.Marimo
    page: Any
    problems: list[str]


@pytest.fixture(scope="module", params=["run", "edit"])
def marimo_session(request: pytest.FixtureRequest, host_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[MarimoSession]:  # fmt: skip
    """The quick-start app of :func:`host_model_dir` served by ``marimo run`` or ``marimo edit``."""
    reason = missing_requirements("marimo") or (None if MARIMO_APP.is_file() else f"{MARIMO_APP} is missing")
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    from .marimo_harness import Marimo, open_app

    args = {"model_dir": str(host_model_dir), "text": HOST_TEXT}
    base = tmp_path_factory.mktemp(f"marimo-{request.param}")
    with Marimo(MARIMO_APP, request.param, args, base).start() as server, sync_playwright() as playwright:
        browser = harness.launch_chromium(playwright)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
            open_app(page, server)
            yield MarimoSession(server, page, problems)
        finally:
            browser.close()
