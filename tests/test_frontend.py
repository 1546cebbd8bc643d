"""The JS frontend's own checks, run from pytest so one command tests everything:
the TypeScript type check and the vitest unit tests of the pure modules (js/tests/)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[1] / "js"

pytestmark = [
    pytest.mark.slow,  # npm subprocesses: tsc and vitest
    pytest.mark.skipif(
        shutil.which("npm") is None or not (JS / "node_modules").is_dir(),
        reason="needs npm and js/node_modules (pip install builds them; or run npm ci in js/)",
    ),
]


def run_npm(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", "run", "--silent", script], cwd=JS, capture_output=True, text=True, timeout=300, check=False
    )


def test_typescript_type_checks() -> None:
    result = run_npm("typecheck")
    assert result.returncode == 0, result.stdout + result.stderr


def test_vitest_unit_tests_pass() -> None:
    result = run_npm("test")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed" in output and " failed" not in output.split("Tests")[-1]
