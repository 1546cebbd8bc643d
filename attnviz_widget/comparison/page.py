"""``save_html(comparison, path)``: the comparison view as one self-contained offline page.

The page embeds the built bundle, each side's state as the single-run page embeds a run
(:func:`attnviz_widget.html_export.standalone_state`: traits plus every compared layer as
float16) and the comparison's shared traits; ``mountComparison`` in the bundle draws it with no
kernel and no network. Token text reaches the page only as JSON inside a script element
that cannot be closed early, and is shown as text.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files import atomic_output
from ..html_export import BUNDLE, _script_safe_json, standalone_state
from .result import AttentionComparison
from .scores import METRICS
from .wire import comparison_traits

#: View options the page accepts (as :class:`~attnviz_widget.comparison.view.ComparisonWidget`).
OPTIONS = ("layer", "head", "metric", "color_scale", "row_normalize", "hide_special", "direction")


def comparison_state(comparison: AttentionComparison, **options: Any) -> dict[str, Any]:
    """What ``mountComparison`` takes: ``{"shared": {...}, "a": side state, "b": side state}``."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InputError(f"unknown comparison option(s) {', '.join(unknown)}; valid: {', '.join(OPTIONS)}")
    layer = int(options.pop("layer", comparison.layer_indices[0]))
    head = options.pop("head", 0)
    if options.get("metric", "js") not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}, got {options['metric']!r}")
    comparison.matrices(layer, head)  # one-line InputError for a layer or head it does not have
    shared: dict[str, Any] = {
        name: base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        for name, value in comparison_traits(comparison).items()
    }
    shared.update(view_kind="comparison", status="ready", error="", layer=layer, head=head, token_locked=False,
                  direction="from", color_scale="sqrt", row_normalize=False, hide_special=False, section="",
                  metric="js", a_selected_token=None, b_selected_token=None)
    shared.update(options)
    sides = {}
    b_layer = dict(comparison.layer_pairs)[layer]
    for side, layers, focus in (("a", [a for a, _ in comparison.layer_pairs], layer),
                                ("b", [b for _, b in comparison.layer_pairs], b_layer)):
        data = getattr(comparison, side).select_layers(layers)
        sides[side] = standalone_state(data, data.kind, layer=focus, head=head)
    return {"shared": shared, **sides}


def render_comparison_html(comparison: AttentionComparison, *, title: str | None = None, **options: Any) -> str:
    """The page as a string (see :func:`save_comparison_html`)."""
    if not BUNDLE.is_file():
        raise InputError("the widget's JavaScript bundle is missing; reinstall the package (pip install builds it)")
    bundle = BUNDLE.read_text(encoding="utf-8").replace("</script", "<\\/script")
    name_a, name_b = comparison.names
    heading = title or f"{name_b} compared with {name_a}"
    state = _script_safe_json(comparison_state(comparison, **options))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(heading)}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 16px; color: #222; }} h1 {{ font-size: 1.3em; }}</style>
</head>
<body>
<h1>{html.escape(heading)}</h1>
<div class="attnviz-mount"></div>
<script type="application/json" id="attnviz-comparison-state">{state}</script>
<script type="text/plain" id="attnviz-bundle">{bundle}</script>
<script type="module">
const code = document.getElementById("attnviz-bundle").textContent;
const url = URL.createObjectURL(new Blob([code], {{ type: "text/javascript" }}));
const {{ mountComparison }} = await import(url);
const state = JSON.parse(document.getElementById("attnviz-comparison-state").textContent);
mountComparison(document.querySelector(".attnviz-mount"), state);
</script>
</body>
</html>
"""


def save_comparison_html(
    comparison: AttentionComparison, path: str | os.PathLike[str], *, title: str | None = None, **options: Any
) -> Path:
    """Write the comparison view as one offline HTML page, atomically.

    ``options`` set the initial view (``layer`` in A's numbering, ``head``, ``metric``, ...).
    The page embeds every compared layer of both sides as float16 (about 2.7 bytes a value
    after base64): twice the size of one run's page.
    """
    page = render_comparison_html(comparison, title=title, **options).encode("utf-8")
    with atomic_output(path) as handle:
        handle.write(page)
    return Path(path)
