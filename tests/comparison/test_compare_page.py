"""save_html of a comparison: one offline page with both sides, the alignment and the scores."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import make_attention

from attnviz_widget import save_html
from attnviz_widget.comparison import compare
from attnviz_widget.comparison.page import comparison_state
from attnviz_widget.errors import InputError
from attnviz_widget.html_export import BUNDLE

XSS = "</script><img src=x onerror=alert(1)>"
GOOD = ["[CLS]", "the", "movie", "was", "good", XSS, "[SEP]"]
NOT_GOOD = ["[CLS]", "the", "movie", "was", "not", "good", XSS, "[SEP]"]


@pytest.fixture
def comparison():
    a = make_attention(2, 3, len(GOOD), tokens=GOOD, seed=1)
    b = make_attention(2, 3, len(NOT_GOOD), tokens=NOT_GOOD, seed=2)
    return compare(a, b, labels=("good", "not <b>good</b>"))


def test_state_holds_both_sides_and_the_shared_comparison_traits(comparison) -> None:
    state = comparison_state(comparison, layer=1, head=2, metric="tv")
    shared = state["shared"]
    assert shared["view_kind"] == "comparison" and shared["layer"] == 1 and shared["head"] == 2
    assert shared["metric"] == "tv" and shared["compare_meta"]["names"] == ["A (good)", "B (not <b>good</b>)"]
    queries = np.frombuffer(base64.b64decode(shared["align_queries"]), dtype="<i4").reshape(2, -1)
    assert queries[0].tolist() == [0, 1, 2, 3, -1, 4, 5, 6]
    assert state["a"]["tokens"] == GOOD and state["b"]["tokens"] == NOT_GOOD
    assert sorted(state["b"]["layers"]) == ["0", "1"]


@pytest.mark.skipif(not BUNDLE.is_file(), reason="the bundle is not built (cd js && npm run build)")
def test_page_is_offline_and_escapes_text(comparison, tmp_path: Path) -> None:
    path = save_html(comparison, tmp_path / "compare.html", title="good <vs> not good")
    page = path.read_text(encoding="utf-8")
    assert "<title>good &lt;vs&gt; not good</title>" in page
    assert "mountComparison" in page and 'src="http' not in page
    body = page.split('<script type="text/plain" id="attnviz-bundle">')[0]
    assert "<img" not in body and "</script><img" not in body  # only the escaped JSON form
    state_json = re.search(r'id="attnviz-comparison-state">(.*?)</script>', page, flags=re.S).group(1)
    assert json.loads(state_json)["a"]["tokens"][5] == XSS


def test_bad_options_are_refused_and_write_nothing(comparison, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown comparison option"):
        save_html(comparison, tmp_path / "x.html", colour="red")
    with pytest.raises(InputError, match="valid heads are 0 to 2"):
        save_html(comparison, tmp_path / "x.html", head=9)
    with pytest.raises(InputError, match="metric must be one of js, tv"):
        save_html(comparison, tmp_path / "x.html", metric="kl")
    assert not list(tmp_path.iterdir())
