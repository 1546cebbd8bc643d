"""Real-browser tests of the widget (a package, so its conftest does not shadow ``tests/conftest.py``)."""
