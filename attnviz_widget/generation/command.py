"""``attnviz-extract --generate N``: the flags, their checks, and the run.

:mod:`attnviz_widget.cli` adds these flags to its parser and hands over when ``--generate`` is
given; the written JSON then holds the attention of prompt + generated tokens and the
``"generation"`` key (see :mod:`attnviz_widget.files.extracted_json`; a ``.safetensors`` file keeps it
in its metadata).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from ..data import AttentionData


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """``--generate``, ``--temperature`` and ``--seed``."""
    parser.add_argument(
        "--generate", type=int, default=None, metavar="N",
        help="let the model (a causal or sequence-to-sequence LM) generate up to N tokens after --text and "
        "write the attention of prompt + generated tokens, with the generated text and per-step scores under "
        '"generation" (default: no generation)',
    )
    parser.add_argument(
        "--temperature", type=float, default=None,
        help="with --generate: sample at this temperature (> 0) instead of greedy decoding",
    )
    parser.add_argument("--seed", type=int, default=None, help="with --generate: seed for sampling (reproducible)")


def check_generate_arguments(args: argparse.Namespace, output: Path) -> None:
    """One-line errors for flags that do not go together, before any model loads."""
    if args.generate is None:
        for flag in ("temperature", "seed"):
            if getattr(args, flag) is not None:
                raise InputError(f"--{flag} applies only with --generate N")
        return
    if args.generate <= 0:
        raise InputError(f"--generate must be at least 1 (new tokens to generate), got {args.generate}")
    if args.temperature is not None and not args.temperature > 0:
        raise InputError(f"--temperature must be greater than 0, got {args.temperature}; leave it out for greedy")
    if args.max_length is not None:
        raise InputError("--max_length does not apply with --generate; a prompt too long for the model is refused")


def run_generate(args: argparse.Namespace, model_dir: str) -> AttentionData:
    """The :func:`~attnviz_widget.generation.run.generate` call the flags describe."""
    from .run import generate

    sampling = {} if args.temperature is None else {"do_sample": True, "temperature": args.temperature}
    return generate(
        model_dir, args.text, max_new_tokens=args.generate, device=args.device,
        layers=None if args.layer is None else [args.layer], seed=args.seed, store=getattr(args, "store", "auto"),
        **sampling,
    )


def describe_generation(data: AttentionData) -> str:
    """``generated 12 tokens, reached max_new_tokens: ' and the plot'``."""
    generation = data.generation
    return f"{generation.describe()}: {generation.text!r}"
