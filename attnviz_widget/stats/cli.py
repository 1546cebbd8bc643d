"""``attnviz-stats``: head statistics of a model over a corpus file, written as Parquet.

Every problem a user can cause ends in one line on stderr and exit status 2, and no
output file (the Parquet file is written atomically at the end).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AttnvizError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from .result import HeadStats

EXIT_USAGE = 2
#: The heads the summary names: the strongest on each of these metrics.
HIGHLIGHTS = ("prev", "next", "cls_bos", "sep_eos", "punct", "probe_induction")


def stats_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attnviz-stats",
        description="Measure every attention head of a model over a corpus (attention to the previous token, "
        "[CLS], [SEP], punctuation, entropy, sink mass, induction, ...) and write one row per head to Parquet.",
    )
    parser.add_argument("--model_dir", required=True, help="directory holding the model and its tokenizer")
    parser.add_argument(
        "--input_file", required=True, help="corpus: .txt (one text a line), .jsonl (a 'text' field) or .parquet"
    )
    parser.add_argument("--output_file", default="head_stats.parquet", help="Parquet file to write")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="where to run (default: local)")
    parser.add_argument("--ray_address", default=None, help="a running Ray cluster (default: start a local one)")
    parser.add_argument("--batch_size", type=int, default=32, help="texts per forward pass (default: 32)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    parser.add_argument("--max_length", type=int, default=None, help="cut texts to this many tokens")
    parser.add_argument("--shard_dir", default=None, help="save partial sums here and resume from them")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def _check_output(path: str) -> Path:
    target = Path(path).expanduser()
    if target.suffix.lower() != ".parquet":
        raise InputError(f"--output_file must end in .parquet, got {target.name!r}")
    if target.is_dir():
        raise InputError(f"cannot write {target}: it is a directory")
    if not target.parent.is_dir():
        raise InputError(f"cannot write {target}: directory {target.parent} does not exist; create it first")
    if not os.access(target.parent, os.W_OK):
        raise InputError(f"cannot write {target}: permission denied")
    return target


def stats_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``attnviz-stats``; returns the exit status."""
    args = stats_parser().parse_args(argv)
    try:
        output = _check_output(args.output_file)
        from .api import head_stats

        stats = head_stats(
            args.model_dir, args.input_file, device=args.device, batch_size=args.batch_size, engine=args.engine,
            ray_address=args.ray_address, max_length=args.max_length, shard_dir=args.shard_dir,
            progress=not args.no_progress,
        )
        stats.to_parquet(output)
    except AttnvizError as error:
        print(f"attnviz-stats: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("attnviz-stats: interrupted", file=sys.stderr)
        return 130
    print(summary(stats, output))
    return 0


def summary(stats: HeadStats, output: Path) -> str:
    """A few lines: what was measured, where it went, and the strongest head per highlighted metric."""
    import numpy as np

    counts = stats.summary
    lines = [
        f"wrote {output}: {stats.layers} layers × {stats.heads} heads, {len(stats.metrics)} metrics",
        f"{counts.get('texts', 0)} texts ({counts.get('tokens', 0)} tokens) in {counts.get('seconds', 0):.1f} s "
        f"on {counts.get('engine')}; {counts.get('truncated', 0)} truncated, {counts.get('empty', 0)} empty skipped",
    ]
    for metric in HIGHLIGHTS:
        if metric in stats.metrics:
            values = stats.values(metric)
            if np.isfinite(values).any():
                layer, head = divmod(int(np.nanargmax(values)), stats.heads)
                lines.append(f"strongest {metric}: layer {layer} head {head} ({values[layer, head]:.3f})")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(stats_main())
