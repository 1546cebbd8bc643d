"""``attnviz-visualize --mode diff``: A | B | B − A of one head from two attention files."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".html")


def diff_command(
    input_file: str | os.PathLike[str],
    compare_file: str | os.PathLike[str],
    output: Path,
    layer: int,
    head: int | str,
) -> str:
    """Compare two attention files (A: ``input_file``, B: ``compare_file``), draw one head
    (or an aggregate: ``"mean"``, ``"max"``, ``"rollout"``), write ``output`` (PNG/SVG/PDF,
    or ``.html`` for plotly), and return the line to print."""
    suffix = output.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise InputError(f"cannot plot to '{output.name}': use a file ending in {', '.join(PLOT_SUFFIXES)}")
    from ..files import read_attention_file
    from .build import compare

    stems = Path(input_file).stem, Path(compare_file).stem
    labels = stems if stems[0] != stems[1] else ("A", "B")
    try:
        a = read_attention_file(input_file)
    except InputError as error:  # FormatError names the file already; InputError may not
        raise InputError(f"--input_file: {error}") from None
    try:
        b = read_attention_file(compare_file)
    except InputError as error:
        raise InputError(f"--compare_file: {error}") from None
    comparison = compare(a, b, labels=labels)
    if layer not in comparison.layer_indices:
        from ..data import describe_range

        raise InputError(f"--layer {layer} is out of range; {describe_range(comparison.layer_indices)}")
    if isinstance(head, int) and not 0 <= head < comparison.num_heads:
        raise InputError(f"--head {head} is out of range; valid heads are 0 to {comparison.num_heads - 1}")
    head_index, aggregate = (head, None) if isinstance(head, int) else (0, head)
    if suffix == ".html":
        from ..plot import plot_plotly, save_plotly_html

        save_plotly_html(plot_plotly(comparison, layer, head_index, aggregate=aggregate), output)
    else:
        from ..plot import save_heatmap

        save_heatmap(comparison, output, layer, head_index, aggregate=aggregate)
    name_a, name_b = comparison.names
    js, tv = comparison.head_score(layer, head, "js"), comparison.head_score(layer, head, "tv")
    if isinstance(head, int):
        ranked = comparison.ranked_heads("js")
        rank = next(i for i, entry in enumerate(ranked) if (entry.layer, entry.head) == (layer, head)) + 1
        what, score = f"layer {layer}, head {head}", f"JS {js:.3g} bits (rank {rank} of {len(ranked)}), TV {tv:.3g}"
    else:
        from ..vocabulary import aggregate_info

        what, score = aggregate_info(head).title.format(layer=layer), f"JS {js:.3g} bits, TV {tv:.3g}"
    how = "same tokens" if comparison.mode == "same" else f"aligned tokens: {comparison.queries.describe()}"
    if len(how) > 200:
        how = how[:199] + "…"
    return f"wrote {output}: {what}, {name_b} − {name_a}; {score}; {how}"
