"""One self-contained HTML file with the interactive widget: no kernel, no network.

The widget's own bundle and every full-resolution layer (float16, base64) are inlined,
so the page opens from ``file://`` on a machine without Python or internet access and
renders the same views as in Jupyter. Encoder-decoder data get one widget per stack.

Text is data: the JSON state is embedded with ``<``, ``>`` and ``&`` escaped as JSON
unicode escapes, so no token can close the script element, and the frontend renders
tokens with ``textContent``.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

import orjson

from .data import AttentionData
from .errors import InputError
from .files import atomic_output
from .traits import fit_selection, view_defaults
from .wire import build_view, float16_bytes

#: The frontend bundle, built from ``js/`` during ``pip install``; the widget serves the same file.
BUNDLE = Path(__file__).parent / "static" / "widget.js"
SECTION_TITLES = {
    "self": "Self-attention",
    "encoder": "Encoder self-attention",
    "decoder": "Decoder self-attention",
    "cross": "Cross-attention (decoder queries, encoder keys)",
}


def _b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def standalone_state(data: AttentionData, section: str, **traits: Any) -> dict[str, Any]:
    """The state ``mountStandalone`` takes: the widget's traits plus every layer as base64 float16.

    The user-state traits start from :class:`~attnviz_widget.traits.ViewState`'s defaults
    (the widget's own), overridden by ``traits``; a layer or head this stack lacks falls
    back as in the widget (the first layer, head 0, the mean where rollout is undefined).
    """
    defaults = view_defaults()
    unknown = sorted(set(traits) - set(defaults))
    if unknown:
        raise InputError(f"unknown widget option(s) {', '.join(unknown)}; valid: {', '.join(sorted(defaults))}")
    payload = build_view(data, section)
    view = payload.view
    chosen = {**defaults, "text": view.text, "section": section, **traits}
    chosen["layer"], chosen["head"] = fit_selection(view, payload.rollout is not None, chosen["layer"], chosen["head"])
    _lock_step_row(chosen, payload.traits["meta"].get("generation"), data.generation is not None)
    state: dict[str, Any] = {
        name: _b64(value) if isinstance(value, bytes) else value for name, value in payload.traits.items()
    }
    state["layers"] = {
        str(layer): _b64(float16_bytes(view.attentions[position])) for position, layer in enumerate(view.layer_indices)
    }
    state["rollout"] = None if payload.rollout is None else _b64(float16_bytes(payload.rollout))
    state.update(chosen, data_version=1, status="ready", error="")
    return state


def _lock_step_row(chosen: dict[str, Any], generation: dict[str, Any] | None, generated: bool) -> None:
    """A chosen ``step`` selects and locks the row that chose its token, as the widget does;
    a stack without generated tokens (an encoder's) shows no step."""
    step = chosen.get("step")
    if step is None:
        return
    if not generated:
        raise InputError("step needs generated text (attnviz_widget.generate); this data holds none")
    if generation is None:
        chosen["step"] = None
        return
    count = len(generation["steps"])
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < count:
        raise InputError(f"step {step!r} is out of range; valid steps are 0 to {count - 1}")
    chosen.update(selected_token=generation["prompt_tokens"] + step - 1, token_locked=True)


def _script_safe_json(value: Any) -> str:
    """JSON that cannot end a ``<script>`` element or open markup."""
    text = orjson.dumps(value).decode("utf-8")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(data: AttentionData, *, title: str | None = None, **traits: Any) -> str:
    """The page as a string (see :func:`save_html`)."""
    if not BUNDLE.is_file():
        raise InputError("the widget's JavaScript bundle is missing; reinstall the package (pip install builds it)")
    bundle = BUNDLE.read_text(encoding="utf-8").replace("</script", "<\\/script")
    model = data.model.short_name if data.model is not None else None  # never a local path
    heading = title or f"Attention of {model or 'a transformer'}"
    blocks = []
    for index, section in enumerate(data.sections):
        state = _script_safe_json(standalone_state(data, section, **traits))
        caption = f"<h2>{html.escape(SECTION_TITLES[section])}</h2>" if len(data.sections) > 1 else ""
        blocks.append(
            f'{caption}<div class="attnviz-mount" data-state="attnviz-state-{index}"></div>\n'
            f'<script type="application/json" id="attnviz-state-{index}">{state}</script>'
        )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(heading)}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 16px; color: #222; }} h1 {{ font-size: 1.3em; }}
.attnviz-text {{ color: #555; max-width: 60em; }}</style>
</head>
<body>
<h1>{html.escape(heading)}</h1>
<p class="attnviz-text"></p>
{chr(10).join(blocks)}
<script type="text/plain" id="attnviz-bundle">{bundle}</script>
<script type="module">
const code = document.getElementById("attnviz-bundle").textContent;
const url = URL.createObjectURL(new Blob([code], {{ type: "text/javascript" }}));
const {{ mountStandalone }} = await import(url);
for (const mount of document.querySelectorAll(".attnviz-mount")) {{
  const state = JSON.parse(document.getElementById(mount.dataset.state).textContent);
  mountStandalone(mount, state);
}}
const first = JSON.parse(document.getElementById("attnviz-state-0").textContent);
document.querySelector(".attnviz-text").textContent = first.text;
</script>
</body>
</html>
"""


def save_html(
    data: AttentionData | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    **traits: Any,
) -> Path:
    """Write one self-contained interactive HTML page for ``data`` (or a JSON file of either format).

    An :class:`~attnviz_widget.comparison.AttentionComparison` gives the comparison view
    instead (both sides, B − A, the change scores; see :mod:`attnviz_widget.comparison.page`).

    ``traits`` set the initial view (``layer``, ``head``, ``color_scale``, ...). The
    page embeds every layer as float16: about 2.7 bytes a value after base64, so a
    12 × 12 model at 512 tokens makes a ~100 MB page; keep fewer layers
    (``data.select_layers``) for smaller files.
    """
    from .comparison.result import AttentionComparison

    if isinstance(data, AttentionComparison):  # A and B side by side, B − A and the change scores
        from .comparison.page import save_comparison_html

        return save_comparison_html(data, path, title=title, **traits)
    if not isinstance(data, AttentionData):
        from .files import read_attention_file

        data = read_attention_file(data)
    page = render_html(data, title=title, **traits).encode("utf-8")
    with atomic_output(path) as handle:
        handle.write(page)
    return Path(path)
