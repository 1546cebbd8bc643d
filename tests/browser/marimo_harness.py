"""A real marimo server, headless: ``marimo run`` or ``marimo edit`` of one notebook.

Not a test module. :class:`Marimo` starts the server on a free local port in its own process
group (no token, no browser, no update check, ``HF_HUB_OFFLINE=1``, marimo's config and cache
folders in a temporary directory), serves a copy of the notebook (marimo writes session files
next to it), passes ``args`` to the notebook (``mo.cli_args()``), and
:meth:`Marimo.stop` kills the group. :func:`open_app` loads the page and, in edit mode, runs
every cell (a notebook opened for editing shows its code without running it).

marimo renders an anywidget inside its cell output; Playwright's CSS locators see through the
shadow roots involved, so ``page.locator(".attnviz-root")`` finds the widget either way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from .lab_harness import LabError, end_process_group, file_tail, free_port, wait_until


class Marimo:
    """One ``marimo run|edit NOTEBOOK`` server; a context manager."""

    def __init__(self, notebook: Path, mode: str, args: dict[str, str], base_dir: Path | None = None) -> None:
        if mode not in ("run", "edit"):
            raise ValueError(f"mode must be 'run' or 'edit', not {mode!r}")
        self.notebook = Path(notebook)
        self.mode = mode
        self.args = dict(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="attnviz-marimo-"))
        self.log_path = self.base_dir / f"marimo-{mode}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Marimo:
        home = self.base_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        # serve a copy: marimo writes session snapshots (__marimo__/) next to the notebook
        served = self.base_dir / "app" / self.notebook.name
        served.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.notebook, served)
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "XDG_CONFIG_HOME": str(home / "config"),  # a fresh marimo.toml: default settings
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_STATE_HOME": str(home / "state"),
        }
        argv = [
            sys.executable, "-m", "marimo", self.mode, str(served),
            "--headless", "--no-token", "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        if self.mode == "edit":
            argv.append("--skip-update-check")
        argv += ["--", *(part for name, value in self.args.items() for part in (f"--{name}", value))]
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                argv, cwd=self.base_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            wait_until(self._up, timeout, f"marimo {self.mode} to answer on {self.url}", interval=0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def _up(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise LabError(f"marimo {self.mode} exited with {self._proc.returncode}:\n{self.log_tail()}")
        with urllib.request.urlopen(self.url, timeout=2) as response:  # noqa: S310 - local server
            return bool(response.status == 200)

    def log_tail(self, lines: int = 40) -> str:
        return file_tail(self.log_path, lines)

    def stop(self) -> None:
        if self._proc is not None:
            end_process_group(self._proc)
            self._proc = None

    def __enter__(self) -> Marimo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def open_app(page: Any, server: Marimo, timeout: float = 120, attempts: int = 3) -> None:
    """Load the notebook's page; in edit mode, run its cells with the Run button (retried).

    Returns once the widget is on the page.
    """
    page.goto(server.url, timeout=timeout * 1000)
    widget = page.locator(".attnviz-root")
    if server.mode == "run":
        widget.first.wait_for(state="attached", timeout=timeout * 1000)
        return
    run = page.locator("[data-testid='run-button']").last
    run.wait_for(timeout=timeout * 1000)
    for attempt in range(1, attempts + 1):
        wait_until(lambda: widget.count() or run.is_enabled(), timeout, "the Run button or the widget")
        if not widget.count():
            run.click()
        try:  # running: the button is disabled until the cells are done, or the widget is there
            wait_until(lambda: widget.count() or not run.is_enabled(), 20, "the cells to start")
            widget.first.wait_for(state="attached", timeout=timeout * 1000)
            return
        except LabError:
            if attempt == attempts:
                raise LabError(
                    f"marimo edit did not run the cells after {attempts} clicks:\n{server.log_tail()}"
                ) from None
