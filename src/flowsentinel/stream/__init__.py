"""Stream: the live pipeline — sources, micro-batching, scoring, the alert store and the fan-out hub.

Knows nothing of HTTP; :mod:`flowsentinel.service` serves what it produces.
The record every part shares is :class:`~flowsentinel.stream.record.Verdict`
(docs/live.md).
"""

from flowsentinel.stream.hub import Hub, Subscriber, Update
from flowsentinel.stream.pipeline import FlowBuffer, Pipeline, Scorer
from flowsentinel.stream.record import Verdict, VerdictBatch
from flowsentinel.stream.sources import FlowSource, SourceError, parse_source
from flowsentinel.stream.store import AlertQuery, AlertStore, StoreError

__all__ = [
    "AlertQuery", "AlertStore", "FlowBuffer", "FlowSource", "Hub", "Pipeline", "Scorer", "SourceError",
    "StoreError", "Subscriber", "Update", "Verdict", "VerdictBatch", "parse_source",
]
