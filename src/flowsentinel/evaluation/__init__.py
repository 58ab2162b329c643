"""Metrics, multi-seed summaries, reports and plots.

Everything here takes plain arrays (labels, scores, a threshold, family names)
so that it needs nothing from ``flowsentinel.models``.  Importing this package
does not import matplotlib; only :func:`write_report` does.
"""

from .metrics import curves, detection_metrics, precision_at_prevalence
from .report import write_json, write_report
from .summary import stats, summarize_runs

__all__ = [
    "curves",
    "detection_metrics",
    "precision_at_prevalence",
    "stats",
    "summarize_runs",
    "write_json",
    "write_report",
]
