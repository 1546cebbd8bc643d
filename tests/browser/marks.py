"""The marks of a browser test that drives the built bundle in headless chromium."""

from __future__ import annotations

import pytest

from attnviz_widget.html_export import BUNDLE

from .lab_harness import CHROMIUM

#: ``browser``, and a skip that says how to mend it where chromium or the built bundle is missing.
NEEDS_CHROMIUM_AND_BUNDLE = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not found (apt-get install chromium)"),
    pytest.mark.skipif(not BUNDLE.is_file(), reason="the JS bundle is not built (cd js && npm install && npm run build)"),
]
