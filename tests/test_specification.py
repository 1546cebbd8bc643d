"""``attnviz_widget/SPECIFICATION.md`` ships with the package, is what docstrings cite, and
agrees with the command-line parsers it describes."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

import attnviz_widget
from attnviz_widget.cli import extract_parser, visualize_parser
from attnviz_widget.inputs import DEFAULT_MODEL_DIR

PACKAGE = Path(attnviz_widget.__file__).parent
SPEC = PACKAGE / "SPECIFICATION.md"


def flag_table(program: str) -> dict[str, tuple[str, str]]:
    """``{flag: (values, default)}`` from the table under the ``program`` heading."""
    text = SPEC.read_text(encoding="utf-8")
    section = text.split(f"### `{program}`", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(--\w+)(?: ([^`]*))?` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {flag: (values.replace("\\|", "|"), default.strip()) for flag, values, default in rows}


def actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


@pytest.mark.parametrize(
    ("program", "parser"), [("attnviz-extract", extract_parser), ("attnviz-visualize", visualize_parser)]
)
def test_every_flag_of_the_specification_is_accepted_with_its_default(program: str, parser) -> None:
    table = flag_table(program)
    assert len(table) == 5, table  # the original tools' five flags each
    known = actions(parser())
    for flag, (values, default) in table.items():
        assert flag in known, f"{program} lacks {flag}"
        action = known[flag]
        if default == "required":
            assert action.required, flag
            continue
        assert not action.required, flag
        if "|" in values and action.choices is not None:
            assert set(values.split("|")) <= set(action.choices), (flag, action.choices)
        if re.fullmatch(r"`[^`]+`", default):
            expected = default.strip("`")
            shown = DEFAULT_MODEL_DIR if flag == "--model_dir" else action.default
            assert str(shown) == expected, (flag, shown, expected)


def test_docstrings_cite_the_file_in_the_package_not_one_outside_it() -> None:
    citing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "shared/spec" not in text and "seed-readme" not in text, f"{path} cites a file outside the repository"
        if re.search(r"\bspecification\b", text, flags=re.IGNORECASE):
            citing.append(path.relative_to(PACKAGE).as_posix())
            assert "SPECIFICATION.md" in text, f"{path} mentions the specification without naming SPECIFICATION.md"
    assert citing, "no module cites the specification"


def test_the_specification_covers_the_contract() -> None:
    text = SPEC.read_text(encoding="utf-8")
    for heading in ("The two commands", "The extracted format", "The backend format",
                    "How the attention weights are obtained", "The PNG heatmap"):  # fmt: skip
        assert re.search(rf"^## \d\. {heading}$", text, flags=re.MULTILINE), heading
    for key in ('"tokens"', '"text"', '"attention_matrices"', '"layers"', '"layer_idx"', '"head_idx"', '"attention"'):
        assert key in text, key
