"""Benchmark: the widget in a real JupyterLab vs bertviz's head_view, 12 layers x 12 heads.

Not a test. Run it from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_widget.py [--lengths 128 512] [--repeats 3]
        [--bertviz-assets DIR] [--hover-samples 200] [--bertviz-render-512] [--no-bertviz]

What it does, for each length (default 128 and 512 tokens):

* builds a BERT-base-shaped classifier (12 layers x 12 heads, hidden 768) with RANDOM
  weights and a small word-level vocabulary, saved with ``save_pretrained`` into a temporary
  folder: random weights cost the same to run and to draw as trained ones (the attention
  patterns differ, the timings do not);
* starts a headless JupyterLab (``tests/browser/lab_harness.py``) in Debian's chromium; the kernel
  loads the model once and makes ``--repeats`` widgets per length on it
  (``AttentionWidget(backend, max_length=N)``), each run once on a short text without being
  displayed (warm: torch's one-time costs paid, the worker thread started);
* runs ``widget.show(text)`` in a notebook cell the way a user does (Ctrl+Enter), once per widget,
  timing key press -> the first progressive layer painted (the first overview layout while the
  model still runs that comes after the kernel sent a layer: a warm widget's new view first draws
  its previous data) and -> ``data-attnviz-ready`` (overview grid and focused heatmap painted) ->
  the next frame after it; in the kernel, probes time the same show (worker start, first layer
  message, the worker's work, landing) and its CPU seconds; kernel times are put on the page's
  clock (both monotonic, the offset read around one ``performance.now()``); the chromium
  processes' CPU seconds are read from /proc; after each show (the page idle), the plain
  ``extract`` of the same text in the same kernel, the baseline; medians and the ratio
  show -> painted / extraction are reported;
* focuses every layer in turn (a click on its thumbnail, dispatched in the page), timing
  click -> heatmap ready; then bytes sent: ``w.bytes_sent`` (the first matrix, float16 layers on demand) +
  the overview traits + the other synced traits, per attention value;
* hover response: synthetic ``mousemove`` events over heatmap rows and over tokens of the
  token view; the handler's own time (``performance.now()`` around ``dispatchEvent``), the
  time to the next animation frame, and to after that frame's paint; median and p95;
* JS heap of the page (CDP ``Runtime.getHeapUsage`` after a forced GC, with ArrayBuffer
  backing stores, and ``Performance.getMetrics``), before and after each widget;
* bertviz ``head_view(attention, tokens, html_action="return")`` on the same attention
  arrays (read from the kernel): time to produce the HTML and its size; then, where possible,
  chromium's time to render it. bertviz loads require.js, d3 5.7.0 and jQuery 2.0.0 from
  cdnjs, unreachable offline: with ``--bertviz-assets DIR`` holding ``require.js``,
  ``d3.min.js`` and ``jquery.min.js`` those requests are answered from DIR (e.g. from npm:
  requirejs@2.3.6, d3@5.7.0, jquery@2.1.0, the nearest jQuery on npm); without it the render is
  reported as not measured. The 512-token page is only loaded with ``--bertviz-render-512``:
  its HTML is one inline script of ~1.7 GB, beyond V8's maximum string length.

Prints a table with the ratios and writes ``tests/artifacts/bench_widget.json``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
LAYERS, HEADS, HIDDEN = 12, 12, 768
CDN = "https://cdnjs.cloudflare.com/ajax/libs/"
BERTVIZ_ASSETS = {
    "require.js/2.3.6/require.min.js": "require.js",
    "d3/5.7.0/d3.min.js": "d3.min.js",
    "jquery/2.0.0/jquery.min.js": "jquery.min.js",
}
WORDS = (
    "the movie was not bad at all and i loved it because every scene felt honest while the actors "
    "played their parts with care so that even small moments carried weight yet some critics said "
    "story moved too slowly for them but most people in theater laughed cried cheered when final "
    "song began a quiet night city lights rain fell on old streets where children ran home after school "
    "teacher closed door window opened music played softly during long dinner friends shared stories "
    "about travel work family dreams hopes fears plans for next year summer winter spring autumn"
).split()


@functools.cache
def load_harness() -> Any:
    """``tests/browser/lab_harness.py``, loaded once."""
    path = REPO / "tests" / "browser" / "lab_harness.py"
    spec = importlib.util.spec_from_file_location("attnviz_bench_jupyterlab_harness", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- the model ---------------------------------------------------------------------------------


def build_model(target: Path) -> Path:
    """A BERT-base-shaped sequence classifier with random weights and a word-level vocabulary."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(0)
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = special + sorted(set(WORDS))
    vocab += [f"[unused{i}]" for i in range(30522 - len(vocab))]
    target.mkdir(parents=True, exist_ok=True)
    (target / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(target / "vocab.txt"), do_lower_case=True, model_max_length=512)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=4 * HIDDEN,
        max_position_embeddings=512,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def bench_text(tokens: int) -> str:
    """A text of exactly ``tokens`` tokens with [CLS] and [SEP] (every word is in the vocabulary)."""
    import random

    rng = random.Random(tokens)
    return " ".join(rng.choice(WORDS) for _ in range(tokens - 2))


# -- the notebook ------------------------------------------------------------------------------


#: Kernel code shared by the widget benchmarks: probes that time a widget's next ``show`` in the
#: kernel (its runner's work, each progressive layer message, landing, the worker thread's torch
#: threads, the kernel's CPU seconds), ``timed_show(key, text)`` for the notebook cells, and
#: ``widgets``, ``show_s``, ``PROBES`` keyed by ``(tokens, repeat)``.
KERNEL_PROBES = """\
import time
import torch

widgets, show_s, PROBES = {}, {}, {}

def probe(widget, key):
    marks = PROBES.setdefault(key, {"layers": []})
    runner, send = widget._runner, widget.send
    work, land = runner._work, runner._on_result
    def timed_work(job):
        marks["work_start"], marks["worker_threads"] = time.perf_counter(), torch.get_num_threads()
        result = work(job)
        marks["work_end"] = time.perf_counter()
        return result
    def timed_land(result):
        marks["land_start"] = time.perf_counter()
        land(result)
        marks["land_end"] = time.perf_counter()
    def timed_send(content, buffers=None):
        if isinstance(content, dict) and content.get("type") == "overview_layer":
            marks["layers"].append(time.perf_counter())
        send(content, buffers)
    runner._work, runner._on_result, widget.send = timed_work, timed_land, timed_send
    return marks

def timed_show(key, text):
    marks = PROBES[key]
    marks["start"], marks["cpu_start"] = time.perf_counter(), time.process_time()
    widget = widgets[key].show(text)
    marks["end"], marks["cpu_end"] = time.perf_counter(), time.process_time()
    show_s[key] = marks["end"] - marks["start"]
    return widget
"""


def write_cells(path: Path, setup: str, lengths: list[int], repeats: int, text: str = "TEXTS[{n}]") -> dict[tuple[int, int], int]:
    """A notebook of ``setup`` then one ``timed_show`` cell per length and repeat; the cell index of each."""
    import nbformat

    cells = [nbformat.v4.new_code_cell(setup)]
    index = {}
    for n in lengths:
        for r in range(repeats):
            index[n, r] = len(cells)
            cells.append(nbformat.v4.new_code_cell(f"w{n}_{r} = timed_show(({n}, {r}), {text.format(n=n)})"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)
    return index


def write_notebook(path: Path, model_dir: Path, lengths: list[int], repeats: int) -> dict[tuple[int, int], int]:
    """Setup cell, then one ``show`` cell per length and repeat; returns the cell index of each.

    The setup loads the model once (one backend shared by every widget), makes ``repeats`` widgets
    per length, runs each once on a short text (torch's one-time costs, and the widget's worker
    thread started, as a warm widget has it) without displaying it, and wraps each with the probes
    of :data:`KERNEL_PROBES`.
    """
    texts = {n: bench_text(n) for n in lengths}
    setup = KERNEL_PROBES + f"""
import json
import numpy as np
from attnviz_widget import AttentionWidget
from attnviz_widget.extractor import AttentionExtractor

MODEL_DIR = {str(model_dir)!r}
TEXTS = {texts!r}
EXTRACTOR = AttentionExtractor(MODEL_DIR)

def timed_extract(n):
    cpu, start = time.process_time(), time.perf_counter()
    EXTRACTOR.extract(TEXTS[n], max_length=n)
    return time.perf_counter() - start, time.process_time() - cpu

for n in {lengths!r}:
    for r in range({repeats}):
        widgets[n, r] = AttentionWidget(EXTRACTOR.backend, max_length=n)
        widgets[n, r].text = "warm up"  # first forward pass (torch's one-time costs), not displayed
        widgets[n, r].wait()
        probe(widgets[n, r], (n, r))
EXTRACTOR.extract("warm up")
print("ready", torch.get_num_threads())"""
    return write_cells(path, setup, lengths, repeats)


# -- page-side measurements ----------------------------------------------------------------------

#: Arms the page for one ``show`` cell: the key press, every overview layout while the status is
#: "loading" (with the frame after it), and ``data-attnviz-ready`` (with the frame after it). A warm
#: widget's view first draws its previous data (stale) while loading; the progressive layers come
#: after, so :func:`measure_show` takes the first loading layout after the kernel sent a layer.
ARM_SHOW_JS = """(cellIndex) => {
    const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[cellIndex];
    const bench = window.__attnvizShow = { t0: null, ready: null, frame: null, painted: null, loadingLayouts: [] };
    document.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && e.ctrlKey && bench.t0 === null) bench.t0 = performance.now();
    }, { capture: true });
    const check = (records) => {
        const root = cell.querySelector('.attnviz-root');
        if (!root) return;
        const body = root.querySelector('.attnviz-body');
        const laidOut = records.some((r) => r.attributeName === 'data-layout' && r.target.matches('canvas.attnviz-overview'));
        if (laidOut && root.dataset.status === 'loading' && body && !body.hidden) {
            const entry = { at: performance.now(), painted: null };
            bench.loadingLayouts.push(entry);
            requestAnimationFrame(() => setTimeout(() => { entry.painted = performance.now(); }, 0));
        }
        if (root.dataset.attnvizReady !== 'true' || bench.ready !== null) return;
        bench.ready = performance.now();
        observer.disconnect();
        requestAnimationFrame(() => {
            bench.frame = performance.now();
            setTimeout(() => { bench.painted = performance.now(); }, 0);
        });
    };
    const observer = new MutationObserver(check);
    observer.observe(cell, {
        subtree: true, childList: true, attributes: true, attributeFilter: ['data-attnviz-ready', 'data-layout', 'data-status', 'hidden'],
    });
}"""

#: Focus (layer row, column) by a click dispatched on the overview; ms until the heatmap is ready again.
FOCUS_JS = """async ([cellIndex, row, col]) => {
    const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[cellIndex];
    const root = cell.querySelector('.attnviz-root');
    const canvas = root.querySelector('canvas.attnviz-overview');
    const L = JSON.parse(canvas.dataset.layout);
    const rect = canvas.getBoundingClientRect();
    const step = L.thumb + L.gap;
    const x = L.left + col * step + (col >= L.heads ? L.aggregateGap : 0) + L.thumb / 2;
    const y = L.top + row * step + L.thumb / 2;
    const t0 = performance.now();
    canvas.dispatchEvent(new MouseEvent('click', { clientX: rect.left + x, clientY: rect.top + y, bubbles: true }));
    const ready = () => root.dataset.attnvizReady === 'true';
    if (!ready()) {
        await new Promise((resolve, reject) => {
            const timer = setTimeout(() => { obs.disconnect(); reject(new Error('heatmap not ready after 30 s')); }, 30000);
            const obs = new MutationObserver(() => { if (ready()) { clearTimeout(timer); obs.disconnect(); resolve(); } });
            obs.observe(root, { attributes: true, attributeFilter: ['data-attnviz-ready'] });
        });
    }
    const t1 = performance.now();
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    return { ready: t1 - t0, painted: performance.now() - t0, layer: root.dataset.layer, head: root.dataset.head };
}"""

#: Hover timings over heatmap cells (rows) or token spans: handler, next frame, after paint.
HOVER_JS = """async ([cellIndex, kind, samples]) => {
    const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[cellIndex];
    const root = cell.querySelector('.attnviz-root');
    const canvas = root.querySelector('canvas.attnviz-heatmap');
    const grid = JSON.parse(canvas.dataset.grid);
    const spans = Array.from(root.querySelectorAll(".attnviz-token[data-axis='query']"));
    const frame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
    const out = { handler: [], frame: [], painted: [], selected: 0 };
    await frame();
    for (let i = 0; i < samples; i++) {
        const q = (i * 37 + 1) % grid.rows;
        let target, x, y;
        if (kind === 'heatmap') {
            const rect = canvas.getBoundingClientRect();
            target = canvas;
            x = rect.left + grid.x + (((i * 53) % grid.cols) + 0.5) * grid.w / grid.cols;
            y = rect.top + grid.y + (q + 0.5) * grid.h / grid.rows;
        } else {
            target = spans[q];
            const r = target.getBoundingClientRect();
            x = r.left + r.width / 2; y = r.top + r.height / 2;
        }
        const t0 = performance.now();
        target.dispatchEvent(new MouseEvent('mousemove', { clientX: x, clientY: y, bubbles: true }));
        const t1 = performance.now();
        const t2 = await frame();
        await new Promise((r) => setTimeout(r, 0));
        const t3 = performance.now();
        out.handler.push(t1 - t0); out.frame.push(t2 - t0); out.painted.push(t3 - t0);
        if (root.dataset.selectedToken === String(q)) out.selected++;
    }
    (kind === 'heatmap' ? canvas : root.querySelector('.attnviz-tokens')).dispatchEvent(new MouseEvent('mouseleave'));
    return out;
}"""

BERTVIZ_INIT_JS = """(() => {
    window.__bv = { rendered: null, painted: null };
    new MutationObserver((_, obs) => {
        const svg = document.querySelector('#vis svg');
        if (!svg || !svg.querySelector('#attention') || window.__bv.rendered !== null) return;
        window.__bv.rendered = performance.now();
        obs.disconnect();
        requestAnimationFrame(() => setTimeout(() => { window.__bv.painted = performance.now(); }, 0));
    }).observe(document, { childList: true, subtree: true });
})();"""

BERTVIZ_HOVER_JS = """async (samples) => {
    const tokens = Array.from(document.querySelectorAll('#vis svg #left > g:not(.attentionBoxes) > g'));
    const frame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
    const out = { handler: [], frame: [], painted: [], tokens: tokens.length };
    await frame();
    for (let i = 0; i < samples; i++) {
        const target = tokens[(i * 37 + 1) % tokens.length].querySelector('text');
        const t0 = performance.now();
        target.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }));
        const t1 = performance.now();
        const t2 = await frame();
        await new Promise((r) => setTimeout(r, 0));
        const t3 = performance.now();
        out.handler.push(t1 - t0); out.frame.push(t2 - t0); out.painted.push(t3 - t0);
    }
    return out;
}"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "p95": percentile(values, 95), "max": max(values), "n": len(values)}


def heap(cdp: Any) -> dict[str, float]:
    """JS heap after a forced garbage collection (bytes)."""
    for _ in range(2):
        cdp.send("HeapProfiler.collectGarbage")
    usage = cdp.send("Runtime.getHeapUsage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {
        "used": float(usage["usedSize"]),
        "backing_store": float(usage.get("backingStorageSize", 0.0)),
        "embedder": float(usage.get("embedderHeapUsedSize", 0.0)),
        "metrics_js_heap_used": float(metrics.get("JSHeapUsedSize", 0.0)),
        "dom_nodes": float(metrics.get("Nodes", 0.0)),
    }


def heap_total(h: dict[str, float]) -> float:
    return h["used"] + h["backing_store"]


# -- the widget in JupyterLab ------------------------------------------------------------------


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds used so far by the processes ``pids`` (Linux /proc; ended ones count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def chromium_pids() -> set[int]:
    """This benchmark's chromium processes: descendants of this process named chrom*."""
    table = load_harness().process_table()
    children: dict[int, list[int]] = {}
    for pid, (_, parent) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if table[child][0].startswith("chrom"):
                found.add(child)
    return found


def measure_show(page: Any, notebook: Any, kernel: Any, cell: int, key: tuple[int, int]) -> dict[str, Any]:
    """One ``show(text)`` cell: key press -> first progressive layer and -> overview and focused heatmap
    painted (page clock); the kernel's own timings of the same show (its clock); CPU seconds of the
    kernel and of chromium meanwhile."""
    page.evaluate(ARM_SHOW_JS, cell)
    before = time.perf_counter()  # the page's clock on ours (and the kernel's: both CLOCK_MONOTONIC)
    page_now = page.evaluate("() => performance.now()")
    origin = (before + time.perf_counter()) / 2 - page_now / 1000
    browsers = chromium_pids()
    browser_cpu = cpu_seconds(browsers)
    notebook.run_cell(cell, timeout=300, wait=False)
    page.wait_for_function(  # polled every 100 ms, not every frame: the poll itself must not load the page
        "() => window.__attnvizShow && window.__attnvizShow.painted !== null", timeout=300_000, polling=100)
    browser_cpu = cpu_seconds(browsers) - browser_cpu
    shown = page.evaluate("() => window.__attnvizShow")
    kernel.wait_for(f"{key!r} in show_s", True, timeout=60)
    marks = kernel.evaluate(f"PROBES[{key!r}]")
    start = marks["start"]

    def on_page(kernel_time: float) -> float:
        """A kernel time as ms after the key press on the page's clock."""
        return (kernel_time - origin) * 1000 - shown["t0"]

    # the first progressive paint: the first overview laid out, while loading, after the first layer left the kernel
    sent = on_page(marks["layers"][0]) if marks["layers"] else None
    progressive = [e for e in shown["loadingLayouts"] if sent is not None and e["at"] - shown["t0"] >= sent - 1.0]
    first_painted = progressive[0]["painted"] if progressive and progressive[0]["painted"] is not None else None

    r: dict[str, Any] = {
        "show_ready_ms": shown["ready"] - shown["t0"],
        "show_frame_ms": shown["frame"] - shown["t0"],
        "show_painted_ms": shown["painted"] - shown["t0"],
        "first_layer_painted_ms": None if first_painted is None else first_painted - shown["t0"],
        "kernel": {
            "show_s": marks["end"] - start,
            "work_start_s": marks["work_start"] - start,
            "first_layer_sent_s": marks["layers"][0] - start if marks["layers"] else None,
            "layers_sent": len(marks["layers"]),
            "forward_s": marks["work_end"] - marks["work_start"],
            "land_s": marks["land_end"] - marks["land_start"],
            "landed_s": marks["land_end"] - start,
            "worker_torch_threads": marks["worker_threads"],
            "cpu_s": marks["cpu_end"] - marks["cpu_start"],
        },
        "browser_cpu_s": browser_cpu,
        "timeline_ms": {  # on the page's clock, from the key press
            "show_starts": on_page(start),
            "first_layer_sent": sent,
            "first_layer_painted": None if first_painted is None else first_painted - shown["t0"],
            "landed": on_page(marks["land_end"]),
            "ready": shown["ready"] - shown["t0"],
            "painted": shown["painted"] - shown["t0"],
        },
    }
    return r


def bench_widget(
    harness: Any, model_dir: Path, lengths: list[int], hover_samples: int, work: Path, repeats: int
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    root = work / "lab-root"
    root.mkdir()
    cells = write_notebook(root / "bench.ipynb", model_dir, lengths, repeats)
    results: dict[str, Any] = {"lengths": {}, "repeats": repeats}
    with harness.JupyterLab.start(root, base_dir=work / "lab-home") as lab, sync_playwright() as playwright:
        browser = harness.launch_chromium(playwright)
        results["chromium"] = browser.version
        context = browser.new_context(viewport={"width": 1600, "height": 1400}, device_scale_factor=1)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        notebook = harness.NotebookPage(page, lab, "bench.ipynb").open(timeout=120)
        t = time.perf_counter()
        notebook.run_cell(0, timeout=300)
        results["setup_cell_s"] = time.perf_counter() - t
        kernel = notebook.kernel()
        try:
            results["main_torch_threads"] = kernel.evaluate("torch.get_num_threads()")
            before = heap(cdp)
            results["heap_before"] = before
            previous = before
            for n in lengths:
                # 1. show(text) on a fresh warm widget, `repeats` times, each followed by the plain
                # extraction in the same kernel (the baseline; the browser idle by then)
                shows, extractions = [], []
                for rep in range(repeats):
                    shows.append(measure_show(page, notebook, kernel, cells[n, rep], (n, rep)))
                    time.sleep(0.5)  # let the page settle (no drawing left) before the baseline
                    extractions.append(kernel.evaluate(f"timed_extract({n})"))
                    print(f"  {n} tokens, repeat {rep + 1}: show -> painted {shows[-1]['show_painted_ms']:,.0f} ms, "
                          f"extract {extractions[-1][0] * 1000:,.0f} ms", flush=True)
                for rep in range(repeats - 1):  # their views leave the page: the heap below is one widget's
                    kernel.execute(f"widgets[{n}, {rep}].close()")
                cell = cells[n, repeats - 1]
                w = f"w{n}_{repeats - 1}"
                r: dict[str, Any] = {"shows": shows, "extract_s": [e[0] for e in extractions],
                                     "extract_cpu_s": [e[1] for e in extractions]}
                r["show_painted_ms"] = statistics.median(s["show_painted_ms"] for s in shows)
                r["show_ready_ms"] = statistics.median(s["show_ready_ms"] for s in shows)
                firsts = [s["first_layer_painted_ms"] for s in shows if s["first_layer_painted_ms"] is not None]
                r["first_layer_painted_ms"] = statistics.median(firsts) if firsts else None
                r["first_layer_painted_of"] = len(firsts)
                r["python_extract_s"] = statistics.median(r["extract_s"])
                r["python_show_s"] = statistics.median(s["kernel"]["show_s"] for s in shows)
                r["tokens"] = kernel.evaluate(f"len({w}.tokens)")
                r["python_overview_s"] = kernel.evaluate(
                    "(lambda t, v: (__import__('attnviz_widget.wire', fromlist=['x']).build_overview("
                    "v, __import__('attnviz_widget.wire', fromlist=['x']).rollout_or_none(v)), "
                    f"time.perf_counter() - t)[1])(time.perf_counter(), {w}.data.part({w}.section).without_padding())"
                )
                meta = kernel.evaluate(f"{w}.meta")
                layer_indices = meta["layer_indices"]
                # 2. every layer in full, one at a time: head 1 of the first layer (only head 0
                # came with the data), then head 0 of every other layer; then other heads of
                # the last layer (cached in the page: no request)
                last = len(layer_indices) - 1
                switches = [page.evaluate(FOCUS_JS, [cell, 0, 1])]
                switches += [page.evaluate(FOCUS_JS, [cell, row, 0]) for row in range(1, last + 1)]
                assert switches[-1]["layer"] == str(layer_indices[last]), switches[-1]
                r["layer_switch_ms"] = summary([s["ready"] for s in switches])
                r["layer_switch_painted_ms"] = summary([s["painted"] for s in switches])
                head_switches = [page.evaluate(FOCUS_JS, [cell, last, col]) for col in range(1, 6)]
                r["head_switch_ms"] = summary([s["ready"] for s in head_switches])
                # 3. bytes on the wire
                sizes = kernel.evaluate(
                    f"""(lambda s: {{
                        "bytes_sent": {w}.bytes_sent,
                        "overview": len({w}.overview) + len({w}.overview_scale),
                        "other_state": len(json.dumps({{k: v for k, v in s.items() if not isinstance(v, (bytes, bytearray, memoryview)) and k not in ("_esm", "_css")}}, default=str)),
                        "values": int(np.prod({w}.data.attentions.shape)),
                        "layer_bytes": len({w}.layer_bytes({w}.layer)),
                        "first_matrix": len({w}.first_matrix),
                    }})({w}.get_state())"""
                )
                r.update(sizes)
                r["layers_requested"] = (sizes["bytes_sent"] - sizes["first_matrix"]) / sizes["layer_bytes"]
                r["total_bytes"] = sizes["bytes_sent"] + sizes["overview"] + sizes["other_state"]
                r["bytes_per_value"] = r["total_bytes"] / sizes["values"]
                # 4. hover
                for kind in ("heatmap", "tokens"):
                    hover = page.evaluate(HOVER_JS, [cell, kind, hover_samples])
                    r[f"hover_{kind}"] = {
                        "handler_ms": summary(hover["handler"]),
                        "frame_ms": summary(hover["frame"]),
                        "painted_ms": summary(hover["painted"]),
                        "selected_ok": hover["selected"],
                    }
                # 5. memory
                after = heap(cdp)
                r["heap_after"] = after
                r["heap_delta"] = {k: after[k] - previous[k] for k in after}
                previous = after
                # attention for bertviz
                np_path = work / f"attention_{n}.npy"
                kernel.execute(f"np.save({str(np_path)!r}, {w}.data.attentions)")
                r["token_list"] = kernel.evaluate(f"list({w}.tokens)")
                r["_attention_path"] = str(np_path)
                results["lengths"][n] = r
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "bench_widget.png"))
            results["page_problems"] = [p for p in notebook.problems if "attnviz" in p.lower() or p.startswith("pageerror")]
        finally:
            kernel.close()
            browser.close()
    return results


# -- bertviz -----------------------------------------------------------------------------------


def bench_bertviz(
    harness: Any,
    attention_path: Path,
    tokens: list[str],
    work: Path,
    assets: Path | None,
    render: bool,
    hover_samples: int,
) -> dict[str, Any]:
    import numpy as np
    import torch
    from bertviz import head_view

    attn = np.load(attention_path)
    attention = tuple(torch.from_numpy(attn[i : i + 1]) for i in range(attn.shape[0]))
    del attn
    t = time.perf_counter()
    html = head_view(attention, tokens, html_action="return").data
    r: dict[str, Any] = {"html_s": time.perf_counter() - t, "html_bytes": len(html.encode())}
    del attention
    if not render:
        r["render"] = "not attempted"
        return r
    if assets is None or not all((assets / f).is_file() for f in BERTVIZ_ASSETS.values()):
        r["render"] = "not measured: bertviz loads require.js, d3 and jQuery from cdnjs (unreachable offline); pass --bertviz-assets"
        return r
    page_path = work / f"bertviz_{len(tokens)}.html"
    page_path.write_text(f'<!doctype html><html><head><meta charset="utf-8"></head><body>{html}</body></html>', encoding="utf-8")
    del html
    gc.collect()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = harness.launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1400}, device_scale_factor=1)

            def serve(route: Any) -> None:
                name = route.request.url[len(CDN) :]
                local = BERTVIZ_ASSETS.get(name)
                if local is None:
                    route.abort()
                else:
                    route.fulfill(path=str(assets / local), content_type="application/javascript")

            context.route(CDN + "**", serve)
            context.add_init_script(BERTVIZ_INIT_JS)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            t = time.perf_counter()
            try:
                page.goto(page_path.as_uri(), wait_until="load", timeout=300_000)
                page.wait_for_function("() => window.__bv && window.__bv.painted !== null", timeout=300_000)
            except Exception as error:  # noqa: BLE001 - reported, not raised
                r["render"] = f"failed after {time.perf_counter() - t:.1f} s: {str(error).splitlines()[0]}; page errors {errors[:2]}"
                return r
            bv = page.evaluate("() => window.__bv")
            r["render_ms"] = bv["rendered"]
            r["render_painted_ms"] = bv["painted"]
            r["render_wall_s"] = time.perf_counter() - t
            r["heap"] = heap(cdp)
            hover = page.evaluate(BERTVIZ_HOVER_JS, hover_samples)
            r["hover"] = {k: summary(hover[k]) for k in ("handler", "frame", "painted")}
            r["render"] = "ok"
            r["page_errors"] = errors[:3]
            page.screenshot(path=str(ARTIFACTS / f"bertviz_{len(tokens)}.png"))
        finally:
            browser.close()
    return r


# -- report ----------------------------------------------------------------------------------


def mb(x: float) -> str:
    return f"{x / 1e6:,.1f} MB" if x >= 1e5 else f"{x / 1e3:,.1f} kB"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not a:
        return "n/a"
    return f"{b / a:,.0f}x" if b / a >= 10 else f"{b / a:,.1f}x"


def report(results: dict[str, Any]) -> str:
    lines = []
    env = results["environment"]
    lines.append(
        f"attnviz-widget benchmark: BERT-base-shaped model ({LAYERS} layers x {HEADS} heads, hidden {HIDDEN}) "
        "with RANDOM weights (timing only; patterns are not meaningful)"
    )
    lines.append(
        f"{env['cpus']} CPUs, Python {env['python']}, torch {env['torch']}, chromium {results['widget'].get('chromium')}, "
        f"JupyterLab {env['jupyterlab']}, bertviz {env['bertviz']}; headless, no GPU"
    )
    for n, r in results["widget"]["lengths"].items():
        bv = results["bertviz"].get(n, {})
        lines.append("")
        lines.append(f"== {r['tokens']} tokens: {r['values']:,} attention values ({LAYERS}x{HEADS}x{r['tokens']}x{r['tokens']})")
        rows: list[tuple[str, str, str, str]] = []
        rows.append(("metric", "attnviz widget", "bertviz head_view", "bertviz / widget"))
        # bertviz needs the same forward pass first (output_attentions=True): counted in its total
        forward_ms = r["python_extract_s"] * 1000
        bv_ms = None
        if "render_painted_ms" in bv:
            bv_ms = forward_ms + bv["html_s"] * 1000 + bv["render_painted_ms"]
        bv_render = bv.get("render", "")
        rows.append((
            "text -> painted",
            f"{r['show_painted_ms']:,.0f} ms",
            f"{bv_ms:,.0f} ms (forward {forward_ms:,.0f} + HTML {bv['html_s'] * 1000:,.0f} + render {bv['render_painted_ms']:,.0f})"
            if bv_ms is not None else f"forward {forward_ms:,.0f} + HTML {bv.get('html_s', 0) * 1000:,.0f} ms + render: n/a",
            ratio(r["show_painted_ms"], bv_ms),
        ))
        kernel = [shown["kernel"] for shown in r["shows"]]

        def median_of(name: str, values: list[dict[str, Any]] = kernel) -> float:
            known = [v[name] for v in values if v[name] is not None]
            return statistics.median(known) if known else float("nan")

        rows.append((
            f"  show -> painted / extraction (median of {len(r['shows'])})",
            f"{r['show_painted_ms'] / forward_ms:.2f}x (each: "
            + ", ".join(f"{s['show_painted_ms']:,.0f}" for s in r["shows"]) + " ms; extraction "
            + ", ".join(f"{e * 1000:,.0f}" for e in r["extract_s"]) + " ms)",
            "", "",
        ))
        if r["first_layer_painted_ms"] is not None:
            rows.append((
                "  first layer painted (progressive)",
                f"{r['first_layer_painted_ms']:,.0f} ms = {r['first_layer_painted_ms'] / forward_ms:.2f}x extraction "
                f"({r['first_layer_painted_of']} of {len(r['shows'])} shows)",
                "", "",
            ))
        rows.append((
            "  in the kernel (median)",
            f"worker starts {median_of('work_start_s') * 1000:,.0f} ms, 1st layer sent {median_of('first_layer_sent_s') * 1000:,.0f} ms, "
            f"work {median_of('forward_s') * 1000:,.0f} ms, landing {median_of('land_s') * 1000:,.0f} ms, "
            f"show() returns {median_of('show_s') * 1000:,.0f} ms",
            "", "",
        ))
        timeline = [shown["timeline_ms"] for shown in r["shows"]]
        rows.append((
            "  timeline from the key press (median)",
            f"show() starts {median_of('show_starts', timeline):,.0f} ms, 1st layer sent {median_of('first_layer_sent', timeline):,.0f}"
            f" / painted {median_of('first_layer_painted', timeline):,.0f}, landed {median_of('landed', timeline):,.0f}, "
            f"ready {median_of('ready', timeline):,.0f}, painted {median_of('painted', timeline):,.0f} ms",
            "", "",
        ))
        rows.append((
            "  CPU seconds during show (median)",
            f"kernel {median_of('cpu_s'):.2f} s (plain extraction {statistics.median(r['extract_cpu_s']):.2f} s), "
            f"chromium {statistics.median(s['browser_cpu_s'] for s in r['shows']):.2f} s; torch threads: worker "
            f"{kernel[0]['worker_torch_threads']}, main {results['widget'].get('main_torch_threads')}",
            "", "",
        ))
        rows.append((
            "  of which Python (extract+overview)",
            f"{r['python_show_s'] * 1000:,.0f} ms (extract {r['python_extract_s'] * 1000:,.0f}, "
            f"overview+rollout {r['python_overview_s'] * 1000:,.0f})",
            f"{bv.get('html_s', 0) * 1000:,.0f} ms (head_view HTML)",
            "",
        ))
        rows.append((
            "bytes to the browser, all layers",
            f"{mb(r['total_bytes'])} ({r['bytes_per_value']:.2f} B/value)",
            f"{mb(bv['html_bytes'])} ({bv['html_bytes'] / r['values']:.1f} B/value)" if "html_bytes" in bv else "n/a",
            ratio(r["total_bytes"], bv.get("html_bytes")),
        ))
        rows.append((
            "  float16 first matrix + layers / overview / other",
            f"{mb(r['bytes_sent'])} (1 matrix + {r['layers_requested']:.0f} layers) / {mb(r['overview'])}"
            f" / {mb(r['other_state'])}",
            "", "",
        ))
        rows.append((
            "first view, bytes before painting",
            f"{mb(r['first_matrix'] + r['overview'] + r['other_state'])}",
            f"{mb(bv['html_bytes'])}" if "html_bytes" in bv else "n/a",
            ratio(r["first_matrix"] + r["overview"] + r["other_state"], bv.get("html_bytes")),
        ))
        rows.append((
            "layer switch (request + draw)",
            f"median {r['layer_switch_ms']['median']:.0f} ms, p95 {r['layer_switch_ms']['p95']:.0f} ms",
            "(all layers embedded in the page)", "",
        ))
        rows.append(("head switch (cached layer)", f"median {r['head_switch_ms']['median']:.1f} ms", "", ""))
        for kind in ("heatmap", "tokens"):
            h = r[f"hover_{kind}"]
            rows.append((
                f"hover ({'heatmap rows' if kind == 'heatmap' else 'token view'}) handler",
                f"median {h['handler_ms']['median']:.2f} ms, p95 {h['handler_ms']['p95']:.2f} ms",
                (f"median {bv['hover']['handler']['median']:.2f} ms, p95 {bv['hover']['handler']['p95']:.2f} ms"
                 if "hover" in bv and kind == "tokens" else ""),
                ratio(h["handler_ms"]["median"], bv["hover"]["handler"]["median"]) if "hover" in bv and kind == "tokens" else "",
            ))
            rows.append((
                "  -> next frame / after paint",
                f"{h['frame_ms']['median']:.1f} / {h['painted_ms']['median']:.1f} ms (p95 {h['frame_ms']['p95']:.1f} / {h['painted_ms']['p95']:.1f})",
                (f"{bv['hover']['frame']['median']:.1f} / {bv['hover']['painted']['median']:.1f} ms (p95 {bv['hover']['frame']['p95']:.1f} / {bv['hover']['painted']['p95']:.1f})"
                 if "hover" in bv and kind == "tokens" else ""),
                ratio(h["painted_ms"]["median"], bv["hover"]["painted"]["median"]) if "hover" in bv and kind == "tokens" else "",
            ))
        d = r["heap_delta"]
        rows.append((
            "JS heap (+ArrayBuffers), after GC",
            f"+{mb(d['used'])} (+{mb(d['backing_store'])} buffers), +{d['dom_nodes']:,.0f} DOM nodes",
            (f"{mb(bv['heap']['used'])} (+{mb(bv['heap']['backing_store'])} buffers), {bv['heap']['dom_nodes']:,.0f} DOM nodes"
             if "heap" in bv else ""),
            ratio(heap_total(d), heap_total(bv["heap"])) if "heap" in bv else "",
        ))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for i, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        if bv_render and bv_render != "ok":
            lines.append(f"bertviz render: {bv_render}")
        if "html_s" in bv:
            lines.append(f"bertviz HTML: {bv['html_s']:.1f} s, {mb(bv['html_bytes'])}")
    lines.append("")
    lines.append(
        "text -> painted: widget = Ctrl+Enter on the show(text) cell to the frame after data-attnviz-ready (model forward, "
        "overview and the focused matrix over the comm, drawing); bertviz = the same forward pass (measured in the kernel) + "
        "head_view(html_action='return') + chromium loading the page to the frame after its SVG exists. "
        "Widget heap delta is the page's heap after the widget (shown, every layer visited, hovered) minus before it; "
        "the bertviz heap is its whole page. Hover: synthetic mousemove/mouseover dispatched in the page; handler = "
        "synchronous work, next frame = to the next requestAnimationFrame (includes waiting for the ~16.7 ms frame tick), "
        "after paint = a task after that frame."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--repeats", type=int, default=3, help="show() cells per length, each on a fresh warm widget")
    parser.add_argument("--hover-samples", type=int, default=200)
    parser.add_argument("--bertviz-assets", type=Path, default=None, help="folder with require.js, d3.min.js, jquery.min.js")
    parser.add_argument("--no-bertviz", action="store_true")
    parser.add_argument("--bertviz-render-512", action="store_true", help="also try to load the >1 GB bertviz page")
    parser.add_argument("--json", type=Path, default=ARTIFACTS / "bench_widget.json")
    args = parser.parse_args()

    harness = load_harness()
    if not harness.CHROMIUM.exists():
        print(f"{harness.CHROMIUM} not found", file=sys.stderr)
        return 2
    import torch

    try:
        import bertviz
        bertviz_version = getattr(bertviz, "__version__", None) or importlib.metadata.version("bertviz")
    except ImportError:
        bertviz_version = "not installed"

    results: dict[str, Any] = {
        "environment": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "jupyterlab": importlib.metadata.version("jupyterlab"),
            "bertviz": bertviz_version,
            "platform": platform.platform(),
        },
        "model": "BertForSequenceClassification, random weights (torch.manual_seed(0))",
    }
    work = Path(tempfile.mkdtemp(prefix="attnviz-bench-"))
    try:
        t = time.perf_counter()
        model_dir = build_model(work / "bert-base-random")
        print(f"model built in {time.perf_counter() - t:.1f} s: {model_dir}", flush=True)
        t = time.perf_counter()
        results["widget"] = bench_widget(harness, model_dir, sorted(args.lengths), args.hover_samples, work, args.repeats)
        print(f"widget measured in {time.perf_counter() - t:.1f} s", flush=True)
        results["bertviz"] = {}
        if not args.no_bertviz and bertviz_version != "not installed":
            for n, r in results["widget"]["lengths"].items():
                t = time.perf_counter()
                render = n <= 256 or args.bertviz_render_512
                bv = bench_bertviz(
                    harness, Path(r["_attention_path"]), r["token_list"], work, args.bertviz_assets, render, args.hover_samples
                )
                if not render:
                    bv["render"] = (
                        f"not attempted: the page is one {bv['html_bytes'] / 1e9:.1f} GB inline script, beyond V8's maximum "
                        "string length (2^29-24 characters in Chrome), so chromium cannot even parse it "
                        "(--bertviz-render-512 tries anyway)"
                    )
                results["bertviz"][n] = bv
                print(f"bertviz {n} tokens measured in {time.perf_counter() - t:.1f} s", flush=True)
                gc.collect()
        for r in results["widget"]["lengths"].values():
            r.pop("_attention_path", None)
            r.pop("token_list", None)
        text = report(results)
        print()
        print(text)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
        (args.json.with_suffix(".txt")).write_text(text + "\n", encoding="utf-8")
        print(f"\nwritten: {args.json} and {args.json.with_suffix('.txt')}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
