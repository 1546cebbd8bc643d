"""A real JupyterLab, driven headless: a reusable harness for browser tests and benchmarks.

Not a test module. It follows ``shared/notes/browser-testing.md``:

* :class:`JupyterLab` starts ``jupyter lab`` on a free local port in its own process group,
  with every Jupyter/IPython folder (config, data, runtime, settings, workspaces) in a
  temporary directory, a ``python3`` kernelspec that runs *this* interpreter (so the kernel
  has the package under test, whatever else is registered on the machine), notebook settings
  that start the kernel without a "Select Kernel" dialog and keep every cell in the DOM, and
  no news or update checks. :meth:`JupyterLab.stop` shuts the server and its kernels down and
  kills whatever is left of the process group.
* :class:`NotebookPage` opens a notebook in a Playwright page, waits until its kernel session
  is really connected and idle (a Run All issued earlier is silently dropped), runs all cells
  through the menu with retries, and waits until every code cell has run, failing with the
  cell's traceback if one raised.
* :class:`Kernel` talks to the notebook's own kernel with ``jupyter_client`` (through the
  connection file in the temporary runtime folder), so a test can read the Python side of
  what the browser did (``widget.selected_token`` and so on) without touching the notebook.

Example::

    with JupyterLab.start(root_dir) as lab, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page()
        nb = NotebookPage(page, lab, "demo.ipynb").open()
        nb.run_all()
        kernel = nb.kernel()
        print(kernel.evaluate("widget.layer"))
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
#: Flags that keep Debian's chromium quiet and working headless on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

#: JupyterLab settings written into the temporary settings folder.
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    # start the notebook's kernel by itself (no "Select Kernel" dialog on Run All) and keep
    # every cell in the DOM (no windowing), so prompts and outputs can be inspected
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True, "windowingMode": "none"},
    # no news, no update checks, no toasts over the notebook
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}

#: The plugins of :data:`LAB_SETTINGS` that Notebook 7 loads too.
NOTEBOOK_PLUGINS = ("@jupyterlab/notebook-extension/tracker",)


class LabError(RuntimeError):
    """JupyterLab, the page or the kernel did not do what was asked in time."""


class KernelError(LabError):
    """Code run with :meth:`Kernel.execute` raised."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy; return that, or raise :class:`LabError`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except LabError:
            raise
        except Exception as error:  # noqa: BLE001 - retried until the deadline
            last_error = error
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise LabError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def file_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ("" when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def end_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, the process group that ``proc`` leads (``start_new_session=True``)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    # whatever is left of the group (its pgid is the leader's pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def write_kernelspec(data_dir: Path, python: str, env: dict[str, str] | None = None) -> Path:
    """A ``python3`` kernelspec under ``data_dir/kernels`` that runs ``python -m ipykernel_launcher``.

    ``python`` is used as given (not resolved: a virtual environment's ``bin/python`` is a
    symlink, and resolving it would leave the environment).
    """
    spec_dir = data_dir / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "env": dict(env or {}),
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return spec_dir


#: The Jupyter front ends a :class:`JupyterLab` can serve: their module and settings class.
APPS: dict[str, tuple[str, str]] = {
    "lab": ("jupyterlab", "LabApp"),
    "notebook": ("notebook", "JupyterNotebookApp"),  # Notebook 7: JupyterLab's components, one notebook a page
}


def process_table() -> dict[int, tuple[str, int]]:
    """Every process as ``pid -> (name, parent pid)``, from Linux /proc (empty elsewhere)."""
    table: dict[int, tuple[str, int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return table
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1:
            table[int(entry.name)] = (stat[stat.find("(") + 1 : stat.rfind(")")], int(fields[1]))
    return table


class JupyterLab:
    """One headless JupyterLab (or Notebook 7) server; use :meth:`start` (a context manager as well)."""

    def __init__(self, root_dir: Path, base_dir: Path, python: str, env: dict[str, str], app: str = "lab") -> None:
        if app not in APPS:
            raise ValueError(f"app must be one of {sorted(APPS)}, not {app!r}")
        self.app = app
        self.root_dir = Path(root_dir)
        self.base_dir = Path(base_dir)
        self.python = python
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runtime_dir = self.base_dir / "runtime"
        self.log_path = self.base_dir / "jupyterlab.log"
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._kernel_pids: set[int] = set()
        self._owns_base = False

    # -- lifecycle -----------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        root_dir: Path | str,
        *,
        python: str | None = None,
        env: dict[str, str] | None = None,
        base_dir: Path | str | None = None,
        timeout: float = 60,
        app: str = "lab",
    ) -> JupyterLab:
        """Start JupyterLab (``app="lab"``) or Notebook 7 (``app="notebook"``) serving ``root_dir``.

        Waits until ``/api/status`` answers.

        Args:
            root_dir: the folder the lab shows (notebooks go there).
            python: interpreter of the kernel (default: this one).
            env: extra environment of the server and the kernel (``HF_HUB_OFFLINE=1`` is
                always set).
            base_dir: where Jupyter's folders go (default: a new temporary folder, removed
                by :meth:`stop`).
        """
        owns = base_dir is None
        base = Path(tempfile.mkdtemp(prefix="attnviz-lab-")) if base_dir is None else Path(base_dir)
        extra = {"HF_HUB_OFFLINE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1", **(env or {})}
        lab = cls(Path(root_dir), base, python or sys.executable, extra, app)
        lab._owns_base = owns
        try:
            lab._spawn()
            lab._wait_started(timeout)
        except BaseException:
            lab.stop()
            raise
        return lab

    def _spawn(self) -> None:
        base = self.base_dir
        dirs = {
            name: base / name
            for name in ("config", "data", "user-data", "runtime", "ipython", "settings", "workspaces")
        }
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        # the kernelspec: JUPYTER_PATH is searched before every other data folder
        write_kernelspec(dirs["data"], self.python, self._env)
        for plugin, values in LAB_SETTINGS.items():
            if self.app == "notebook" and plugin not in NOTEBOOK_PLUGINS:
                continue  # settings of a plugin the page does not load break its settings registry
            target = dirs["settings"] / f"{plugin}.jupyterlab-settings"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values), encoding="utf-8")
        env = {
            **os.environ,
            **self._env,
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_DATA_DIR": str(dirs["user-data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "JUPYTER_PATH": os.pathsep.join(filter(None, [str(dirs["data"]), os.environ.get("JUPYTER_PATH")])),
            "IPYTHONDIR": str(dirs["ipython"]),
            "JUPYTER_PLATFORM_DIRS": "1",
        }
        env.pop("JUPYTER_PREFER_ENV_PATH", None)
        module, app = APPS[self.app]
        argv = [
            self.python, "-m", module,
            "--no-browser",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--allow-root",
            f"--{app}.news_url=None",
            f"--{app}.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--{app}.user_settings_dir={dirs['settings']}",
            f"--{app}.workspaces_dir={dirs['workspaces']}",
        ]  # fmt: skip
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            argv,
            cwd=self.root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole in stop()
        )

    def _wait_started(self, timeout: float) -> None:
        def up() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise LabError(f"jupyter lab exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                return isinstance(self.api("/api/status", timeout=2), dict)
            except (OSError, urllib.error.URLError):
                return False

        try:
            wait_until(up, timeout, "jupyter lab's /api/status", interval=0.2)
        except LabError as error:
            raise LabError(f"{error}\n{self.log_tail()}") from None

    def stop(self) -> None:
        """Shut the kernels and the server down; kill the process group and any kernel left."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._kernel_pids |= self._child_pids(proc.pid)
            with contextlib.suppress(Exception):
                self.api("/api/shutdown", method="POST", timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        if proc is not None:
            end_process_group(proc)
        # kernels run in sessions of their own (jupyter_client starts them so); the server
        # normally shuts them down, this catches any that survived it
        for pid in self._kernel_pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        self._kernel_pids.clear()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._owns_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> JupyterLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _child_pids(parent: int) -> set[int]:
        """Direct children of ``parent`` (Linux /proc; empty elsewhere)."""
        return {pid for pid, (_, ppid) in process_table().items() if ppid == parent}

    def log_tail(self, lines: int = 40) -> str:
        return file_tail(self.log_path, lines)

    # -- REST --------------------------------------------------------------------------------

    def api(self, path: str, *, method: str = "GET", body: Any = None, timeout: float = 10) -> Any:
        """JSON from the server's REST API (authenticated with the token)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - local server
            raw = response.read()
        return json.loads(raw) if raw else None

    def lab_url(self, notebook: str) -> str:
        """The page that opens ``notebook``: in JupyterLab, or alone on a Notebook 7 page."""
        route = "lab/tree" if self.app == "lab" else "notebooks"
        return f"{self.url}/{route}/{notebook}?token={self.token}"

    def session_of(self, notebook: str) -> dict[str, Any] | None:
        for session in self.api("/api/sessions"):
            if session.get("path") == notebook or session.get("notebook", {}).get("path") == notebook:
                return dict(session)
        return None

    def wait_kernel_connected(self, notebook: str, timeout: float = 60) -> str:
        """The id of ``notebook``'s kernel once the page is connected to it and it is idle."""

        def ready() -> str | None:
            session = self.session_of(notebook)
            kernel = (session or {}).get("kernel") or {}
            if kernel.get("connections", 0) >= 1 and kernel.get("execution_state") == "idle":
                return str(kernel["id"])
            return None

        return str(wait_until(ready, timeout, f"a connected, idle kernel for {notebook}", interval=0.2))

    def connection_file(self, kernel_id: str) -> Path:
        return self.runtime_dir / f"kernel-{kernel_id}.json"

    def kernel(self, kernel_id: str, timeout: float = 30) -> Kernel:
        """A client of the running kernel ``kernel_id`` (the notebook's own kernel)."""
        path = wait_until(
            lambda: self.connection_file(kernel_id) if self.connection_file(kernel_id).is_file() else None,
            timeout,
            f"the connection file of kernel {kernel_id}",
        )
        kernel = Kernel(Path(path))
        with contextlib.suppress(Exception):
            self._kernel_pids.add(int(kernel.evaluate("__import__('os').getpid()", timeout=timeout)))
        return kernel


class Kernel:
    """A ``jupyter_client`` connection to a running kernel (shell and iopub channels)."""

    def __init__(self, connection_file: Path) -> None:
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=30)

    def execute(self, code: str, timeout: float = 60) -> str:
        """Run ``code`` in the kernel (queued after whatever it is running); return its stdout.

        Raises :class:`KernelError` with the traceback when the code raises.
        """
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                errors.append("\n".join(content.get("traceback", [])) or f"{content['ename']}: {content['evalue']}")

        reply = self.client.execute_interactive(code, store_history=False, timeout=timeout, output_hook=hook)
        if reply["content"]["status"] != "ok" or errors:
            text = errors[0] if errors else f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}"
            raise KernelError(f"kernel code failed:\n{code}\n{_strip_ansi(text)}")
        return "".join(out)

    def evaluate(self, expression: str, timeout: float = 60) -> Any:
        """The value of a Python expression in the kernel, passed through JSON."""
        code = f"print('\\x1e' + __import__('json').dumps({expression}))"
        out = self.execute(code, timeout=timeout)
        marker = out.rfind("\x1e")
        if marker < 0:
            raise KernelError(f"no value printed for {expression!r}: {out!r}")
        return json.loads(out[marker + 1 :].strip())

    def wait_for(self, expression: str, expected: Any, timeout: float = 10) -> Any:
        """Poll ``expression`` until it equals ``expected``; raise with the last value if it never does."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression, timeout=timeout)
            if value == expected:
                return value
            if time.monotonic() > deadline:
                raise LabError(f"{expression} is {value!r} in the kernel after {timeout:.0f} s, expected {expected!r}")
            time.sleep(0.05)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.stop_channels()


def _origin(error: Any) -> str:
    """The script (URL without query) of the innermost frame of a page error's stack."""
    match = re.search(r"\(?((?:https?|blob|file):[^\s?)]+)", getattr(error, "stack", "") or "")
    return match.group(1) if match else "?"


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# -- the browser ----------------------------------------------------------------------------


def launch_chromium(playwright: Any, **options: Any) -> Any:
    """Debian's chromium through Playwright (never ``playwright install``)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, **options)


#: JS: the prompt text of every code cell in the open notebook.
_PROMPTS_JS = """() => Array.from(
    document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell .jp-InputArea-prompt')
).map(p => p.textContent.trim())"""

#: JS: the text of every stderr or error output in the open notebook (JupyterLab renders
#: a traceback with the stderr MIME type).
_STDERR_JS = """() => Array.from(document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
)).map(e => e.textContent)"""

_EXECUTED = re.compile(r"^\[\d+\]:?$")


class NotebookPage:
    """One notebook opened in a Playwright page of a :class:`JupyterLab`."""

    def __init__(self, page: Any, lab: JupyterLab, notebook: str) -> None:
        self.page = page
        self.lab = lab
        self.notebook = notebook
        self.kernel_id: str | None = None
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error} at {_origin(error)}"))
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        """Keep console errors, and anywidget's warnings (its deprecation notices among them)."""
        if message.type == "error" or (message.type == "warning" and "anywidget" in message.text.lower()):
            self.problems.append(f"console.{message.type}: {message.text}")

    def open(self, timeout: float = 90, *, collapse_left: bool = True) -> NotebookPage:
        """Load the lab on the notebook; wait for its cells and for a connected, idle kernel.

        ``collapse_left`` closes the file browser so the notebook gets the page's width.
        """
        self.page.goto(self.lab.lab_url(self.notebook), timeout=timeout * 1000)
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout * 1000)
        if collapse_left:
            self.collapse_left_sidebar()
        self.kernel_id = self.lab.wait_kernel_connected(self.notebook, timeout=timeout)
        return self

    def collapse_left_sidebar(self) -> None:
        """Close the left side panel (a click on its current tab), if it is open."""
        current = self.page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if current.count():
            current.first.click()
            self.page.locator("#jp-left-stack").wait_for(state="hidden", timeout=5000)

    def prompts(self) -> list[str]:
        return list(self.page.evaluate(_PROMPTS_JS))

    def stderr_outputs(self) -> list[str]:
        return [_strip_ansi(text) for text in self.page.evaluate(_STDERR_JS)]

    def _dismiss_dialog(self) -> None:
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count():
            text = dialog.first.inner_text()
            self.problems.append(f"dialog: {text!r}")
            self.page.locator(".jp-Dialog .jp-mod-accept").first.click()

    def run_all(self, timeout: float = 180, attempts: int = 3) -> None:
        """Run > Run All Cells (retried until the first cell starts), then wait for every cell."""
        for attempt in range(1, attempts + 1):
            self._dismiss_dialog()
            self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
            self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()
            try:
                wait_until(
                    lambda: (p := self.prompts()) and (p[0] == "[*]:" or _EXECUTED.match(p[0])),
                    10,
                    "the first cell to start",
                )
                break
            except LabError:
                self._dismiss_dialog()
                if attempt == attempts:
                    raise LabError(f"Run All did not start after {attempts} tries; prompts {self.prompts()}") from None
        self.wait_executed(timeout)

    def cell(self, index: int) -> Any:
        """Locator of code or markdown cell ``index`` (0-based) of the open notebook."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)

    def run_cell(self, index: int, timeout: float = 180, *, wait: bool = True) -> None:
        """Run one code cell as a user does (click into it, Ctrl+Enter); wait until it has run.

        With ``wait=False`` return right after the key press (the caller waits for its own
        condition). Raises :class:`LabError` with the cell's stderr output if it failed.
        """
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        prompt = cell.locator(".jp-InputArea-prompt")
        before = prompt.inner_text().strip()
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Control+Enter")
        if not wait:
            return

        def finished() -> bool:
            now = prompt.inner_text().strip()
            return bool(_EXECUTED.match(now)) and now != before

        wait_until(finished, timeout, f"cell {index} to run", interval=0.05)
        errors = cell.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        texts = [_strip_ansi(errors.nth(i).inner_text()) for i in range(errors.count())]
        if any("Traceback" in t for t in texts):
            raise LabError(f"cell {index} failed:\n" + "\n".join(texts)[-3000:])

    def wait_executed(self, timeout: float = 180) -> None:
        """Wait until every code cell shows ``[n]``; raise with the stderr outputs if a cell failed.

        A failed cell stops Run All: no cell is running (``[*]``) any more, yet some never ran.
        """
        stopped_since: list[float] = []

        def done() -> bool:
            prompts = self.prompts()
            if prompts and all(_EXECUTED.match(p) for p in prompts):
                return True
            if prompts and "[*]:" not in prompts:
                stopped_since.append(time.monotonic())
                if stopped_since[-1] - stopped_since[0] > 1.5:
                    stderr = "\n---\n".join(text[-3000:] for text in self.stderr_outputs())
                    raise LabError(f"Run All of {self.notebook} stopped (a cell raised?); prompts {prompts}\n{stderr}")
            else:
                stopped_since.clear()
            return False

        wait_until(done, timeout, f"every cell of {self.notebook} to run", interval=0.2)

    def kernel(self) -> Kernel:
        if self.kernel_id is None:
            raise LabError("open() the notebook first")
        return self.lab.kernel(self.kernel_id)


@contextlib.contextmanager
def running_notebook(
    notebook_src: Path,
    *,
    viewport: tuple[int, int] = (1400, 1000),
    run_timeout: float = 240,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[JupyterLab, NotebookPage, Kernel]]:
    """Copy a notebook into a fresh lab, open it in headless chromium and run all its cells.

    Yields the lab, the page wrapper (``.page`` is the Playwright page) and a client of the
    notebook's kernel; tears everything down afterwards.
    """
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="attnviz-nb-"))
    shutil.copy(notebook_src, root / notebook_src.name)
    try:
        with JupyterLab.start(root, env=env) as lab, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
                page = context.new_page()
                notebook = NotebookPage(page, lab, notebook_src.name).open()
                notebook.run_all(timeout=run_timeout)
                kernel = notebook.kernel()
                try:
                    yield lab, notebook, kernel
                finally:
                    kernel.close()
            finally:
                browser.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
