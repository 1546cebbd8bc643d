"""Command-line tools: ``attnviz-extract`` and ``attnviz-visualize``.

The flags and defaults are the specification's (``SPECIFICATION.md`` in this package).
Every problem a user can cause ends in one line on stderr and exit status 2, with no
output file written; nothing imports this module.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_messages import special_only_warning, summary
from .errors import AttnvizError, InputError, TruncationWarning
from .files import check_output_path
from .inputs import DEFAULT_MODEL_DIR, check_text

if TYPE_CHECKING:  # the CLI imports the heavy modules only once it needs them
    from .data import AttentionData

EXIT_USAGE = 2
PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".html")


def _fail(program: str, message: str) -> int:
    print(f"{program}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run(program: str, main: Callable[[], int]) -> int:
    """Run ``main``; user errors become one line and exit 2, truncation warnings one line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        try:
            status = main()
        except AttnvizError as error:
            status = _fail(program, str(error))
        except KeyboardInterrupt:
            print(f"{program}: interrupted", file=sys.stderr)
            status = 130
    for warning in caught:
        if issubclass(warning.category, TruncationWarning):
            print(f"{program}: warning: {warning.message}", file=sys.stderr)
    return status


# -- attnviz-extract ---------------------------------------------------------------------


def extract_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attnviz-extract",
        description="Extract the attention matrices of every layer and head for a text.",
    )
    parser.add_argument(
        "--model_dir",
        default=None,
        help=f"directory containing your trained model (default: {DEFAULT_MODEL_DIR}; when it does not "
        "exist, the built-in demo sentiment model is used)",
    )
    parser.add_argument("--text", required=True, help="input text to extract attention for (required)")
    parser.add_argument(
        "--output_file",
        default="attention_data.json",
        help="file to save attention data to (default: attention_data.json); a name ending in .safetensors "
        "writes the binary format, memory-mapped on read, for long texts",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float16"),
        default="float32",
        help="precision of the attention in a .safetensors file (default: float32, exact; float16 halves the "
        "file); JSON always holds float32",
    )
    parser.add_argument(
        "--store",
        choices=("auto", "dense", "lazy"),
        default="auto",
        help="keep the full attention (dense) or the captured queries and keys, computing weights on demand "
        "(lazy, for long texts; saved as such in a .safetensors file); auto: lazy past a 2 GB budget",
    )
    parser.add_argument(
        "--device", default=None, help="device to use for inference (cuda, mps, cpu; default: best available)"
    )
    parser.add_argument(
        "--layer", type=int, default=None, help="specific layer to extract attention from (default: all layers)"
    )
    parser.add_argument(
        "--max_length",
        type=int,
        default=None,
        help="cut the input to this many tokens (default: what the model accepts)",
    )
    parser.add_argument(
        "--no_truncation",
        action="store_true",
        help="refuse texts longer than the model accepts instead of truncating them with a warning",
    )
    from .generation.command import add_generate_arguments

    add_generate_arguments(parser)
    return parser


def _model_dir(requested: str | None) -> str:
    if requested is not None:
        return requested
    if Path(DEFAULT_MODEL_DIR).exists():
        return DEFAULT_MODEL_DIR
    from .demo import demo_model_dir

    print(
        f"attnviz-extract: {DEFAULT_MODEL_DIR} not found; using the built-in demo sentiment model "
        "(pretrained MiniLM fine-tuned on 48 sentences, a toy)",
        file=sys.stderr,
    )
    return str(demo_model_dir())


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def extract_main(argv: Sequence[str] | None = None) -> int:
    args = extract_parser().parse_args(argv)

    def main() -> int:
        output = check_output_path(args.output_file)
        if args.dtype != "float32" and output.suffix.lower() != ".safetensors":
            raise InputError(f"--dtype {args.dtype} applies to .safetensors files only; JSON holds float32 values")
        check_text(args.text)
        from .generation.command import check_generate_arguments, describe_generation, run_generate

        check_generate_arguments(args, output)
        _quiet_transformers()
        from .extractor import extract
        from .files import write_attention

        data = run_generate(args, _model_dir(args.model_dir)) if args.generate is not None else extract(
            _model_dir(args.model_dir),
            args.text,
            device=args.device,
            layers=None if args.layer is None else [args.layer],
            max_length=args.max_length,
            truncation=not args.no_truncation,
            store=args.store,
        )
        write_attention(data, output, dtype=args.dtype)
        print(f"wrote {output}: {summary(data)}")
        if data.generation is not None:
            print(describe_generation(data))
        if (warning := special_only_warning(data)) is not None:
            print(f"attnviz-extract: warning: {warning}", file=sys.stderr)
        return 0

    return _run("attnviz-extract", main)


# -- attnviz-visualize -------------------------------------------------------------------


def visualize_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attnviz-visualize",
        description="Plot one layer and head as a heatmap, or prepare attention data for a frontend.",
    )
    parser.add_argument(
        "--input_file", required=True, help="JSON (or .safetensors) file containing attention data (required)"
    )
    parser.add_argument(
        "--output_file",
        default=None,
        help="output file for the visualization (.png, .svg, .pdf, or .html for an interactive Plotly page; "
        "default: attention_vis.png) or the processed data (default: backend_data.json)",
    )
    parser.add_argument(
        "--mode", choices=("plot", "prepare", "html", "diff"), default="plot",
        help='"plot" (visualize) or "prepare" (for backend) (default: plot); "html" writes the interactive '
        'widget as one self-contained offline page; "diff" draws A (--input_file), B (--compare_file) and B − A',
    )
    parser.add_argument(
        "--compare_file", default=None,
        help="with --mode diff: the second attention file (B), compared with --input_file (A)",
    )
    parser.add_argument("--layer", type=int, default=0, help="layer index to visualize in plot mode (default: 0)")
    parser.add_argument("--head", type=int, default=0, help="head index to visualize in plot mode (default: 0)")
    parser.add_argument(
        "--aggregate", choices=("mean", "max", "rollout"), default=None,
        help="plot an aggregate over heads instead of one head (rollout: over layers 0..--layer)",
    )
    return parser


def visualize_main(argv: Sequence[str] | None = None) -> int:
    args = visualize_parser().parse_args(argv)

    def main() -> int:
        default_output = {"plot": "attention_vis.png", "prepare": "backend_data.json", "html": "attention.html",
                          "diff": "attention_diff.png"}[args.mode]
        output = check_output_path(args.output_file or default_output)
        if args.mode == "diff" or args.compare_file is not None:
            return _diff(args, output)
        from .files import read_attention_file, read_extracted

        # prepare needs extracted data (JSON or safetensors); plot and html read every format
        data = (read_extracted if args.mode == "prepare" else read_attention_file)(args.input_file)
        if args.mode == "html":
            from .html_export import save_html

            _check_indices(data, args.layer, args.head)
            save_html(data, output, layer=args.layer, head=args.head)
            print(f"wrote {output}: interactive page, {summary(data)}, opens offline")
            return 0
        if args.mode == "prepare":
            from .files import write_backend_json
            from .prepare import prepare

            write_backend_json(prepare(data), output)
            clean = data.without_padding()
            print(
                f"wrote {output}: {clean.num_layers} layers × {clean.num_heads} heads × "
                f"{len(clean.tokens)} tokens, padding removed ({len(data.tokens) - len(clean.tokens)} tokens)"
            )
            return 0
        return _plot(data, args, output)

    return _run("attnviz-visualize", main)


def _plot(data: AttentionData, args: argparse.Namespace, output: Path) -> int:
    suffix = output.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise InputError(f"cannot plot to '{output.name}': use a file ending in {', '.join(PLOT_SUFFIXES)}")
    _check_indices(data, args.layer, None if args.aggregate else args.head)
    if suffix == ".html":
        from .plot import plot_plotly, save_plotly_html

        figure = plot_plotly(data, args.layer, args.head, aggregate=args.aggregate)
        save_plotly_html(figure, output)
    else:
        from .plot import save_heatmap

        save_heatmap(data, output, args.layer, args.head, aggregate=args.aggregate)
    if args.aggregate is None:
        what = f"layer {args.layer}, head {args.head}"
    elif args.aggregate == "rollout":
        what = f"attention rollout through layer {args.layer}"
    else:
        what = f"layer {args.layer}, {args.aggregate} over heads"
    print(f"wrote {output}: {what}, {len(data.without_padding().tokens)} tokens")
    return 0


def _diff(args: argparse.Namespace, output: Path) -> int:
    if args.mode != "diff":
        raise InputError("--compare_file is used only with --mode diff")
    if args.compare_file is None:
        raise InputError("--mode diff needs --compare_file: the attention file to compare with --input_file")
    from .comparison.command import diff_command

    print(diff_command(args.input_file, args.compare_file, output, args.layer, args.aggregate or args.head))
    return 0


def _check_indices(data: AttentionData, layer: int, head: int | None) -> None:
    from .data import describe_range

    if layer not in data.layer_indices:
        raise InputError(f"--layer {layer} is out of range; {describe_range(data.layer_indices)}")
    if head is not None and not 0 <= head < data.num_heads:
        raise InputError(f"--head {head} is out of range; valid heads are 0 to {data.num_heads - 1}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(extract_main())
