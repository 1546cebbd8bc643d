"""What the head atlas sends to the browser: every metric of every head, and how to read it.

Pure numpy, like :mod:`attnviz_widget.wire`. Encoding (little-endian):

- ``atlas_values``: float32 ``(3, metrics, layers, heads)``: the mean, the standard
  deviation and the count of texts of each metric, in the order of ``atlas_meta.metrics``;
  NaN where no text had a value.
- ``atlas_meta``: the metric names, which of them span probability mass (coloured on
  0 to 1; the others on their own min to max), which have top texts to open, the grid's
  size, and the model and corpus described.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .metrics import PROBE_METRICS
from .plot import UNIT_METRICS
from .result import HeadStats

#: One-line descriptions shown beside the metric's name (definitions: ``stats/metrics.py``).
METRIC_TITLES = {
    "self": "attention to the token itself",
    "prev": "attention to the previous token",
    "next": "attention to the next token",
    "first": "attention to the first token (sink mass α0)",
    "cls_bos": "attention to [CLS]/BOS",
    "sep_eos": "attention to [SEP]/EOS",
    "punct": "attention to punctuation",
    "entropy": "entropy of a query's attention (nats)",
    "entropy_uniform": "entropy of uniform attention over the visible keys (nats)",
    "confidence": "largest weight of a query (Voita et al.)",
    "distance": "mean attention distance (tokens)",
    "sink_fraction": "fraction of texts with α0 > 0.3",
    "probe_prev": "previous-token score on the random-token probe",
    "probe_duplicate": "duplicate-token score on the random-token probe",
    "probe_induction": "induction score on the random-token probe",
}


def atlas_values(stats: HeadStats) -> bytes:
    """float32 ``(3, metrics, layers, heads)`` bytes: mean, std and count (see the module docstring)."""
    stacked = np.stack([stats.mean, stats.std, stats.count]).astype("<f4")
    return np.ascontiguousarray(stacked).tobytes()


def atlas_meta(stats: HeadStats, *, can_open: bool) -> dict[str, Any]:
    """The description of the atlas the frontend draws (``can_open``: clicking a head opens its top text)."""
    has_top = stats.top_index is not None and bool(stats.texts)
    return {
        "metrics": list(stats.metrics),
        "titles": [METRIC_TITLES.get(name, name) for name in stats.metrics],
        "unit": [name in UNIT_METRICS for name in stats.metrics],
        "openable": [has_top and name not in PROBE_METRICS for name in stats.metrics],
        "layers": stats.layers,
        "heads": stats.heads,
        "model": Path(stats.model).name or stats.model,
        "corpus": stats.corpus,
        "texts": int(stats.summary.get("texts", 0)),
        "can_open": bool(can_open),
    }
