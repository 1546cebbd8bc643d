import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import html
    import json

    import marimo as mo

    from attnviz_widget import AttentionWidget

    return AttentionWidget, html, json, mo


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    # attnviz-widget in marimo

    Type a text: the model runs on it and the widget below shows every layer and head.
    Click a thumbnail to focus it, hover a token to see where it looks, click to lock.
    The line under the widget is Python reading the widget's state back.

    Run it with `marimo run notebooks/marimo_quick_start.py` (or `marimo edit`). Without
    arguments it uses the built-in demo model; `-- --model_dir DIR` shows your own
    (a folder written by `save_pretrained`).
    """)
    return


@app.cell
def _(mo):
    model_dir = mo.cli_args().get("model_dir")
    if model_dir is None:
        from attnviz_widget.demo import demo_model_dir

        model_dir = demo_model_dir()  # fine-tuned once (~15 s), then cached
    text = mo.ui.text(
        value=str(mo.cli_args().get("text") or "The acting was wonderful and the story was moving"),
        label="Text",
        full_width=True,
    )
    text
    return model_dir, text


@app.cell
def _(AttentionWidget, model_dir):
    widget = AttentionWidget(model_dir)
    return (widget,)


@app.cell
def _(mo, text, widget):
    widget.text = text.value  # runs the model on a worker thread
    widget.wait()
    view = mo.ui.anywidget(widget)
    view
    return (view,)


@app.cell
def _(html, json, mo, view, widget):
    view.value  # this cell runs again whenever the widget's state changes in the browser
    _token = widget.tokens[widget.selected_token] if widget.selected_token is not None else None
    _state = {
        "layer": widget.layer,
        "head": widget.head,
        "selected_token": widget.selected_token,
        "token_locked": widget.token_locked,
        "tokens": list(widget.tokens),
        "layer_indices": widget.meta.get("layer_indices", []),
        "num_heads": widget.meta.get("num_heads"),
        "status": widget.status,
    }
    mo.Html(
        f'<p class="attnviz-python-state" data-state="{html.escape(json.dumps(_state), quote=True)}">'
        f"Python sees layer {widget.layer}, head {html.escape(str(widget.head))}, "
        f"selected token {html.escape(repr(_token))}{' (locked)' if widget.token_locked else ''}</p>"
    )
    return


if __name__ == "__main__":
    app.run()
