"""What the app holds while it runs: bundle, store, pipeline, hub, metrics — one object, injected by deps.py."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter

from flowsentinel.models.bundle import Bundle
from flowsentinel.service.metrics import Metrics
from flowsentinel.service.schemas import flow_model
from flowsentinel.service.settings import Settings
from flowsentinel.stream.hub import Hub
from flowsentinel.stream.pipeline import Pipeline, Scorer
from flowsentinel.stream.sources import FlowSource
from flowsentinel.stream.store import AlertStore

__all__ = ["LiveService"]

log = logging.getLogger(__name__)


@dataclass
class LiveService:
    settings: Settings
    bundle: Bundle
    source: FlowSource
    store: AlertStore
    hub: Hub
    pipeline: Pipeline
    metrics: Metrics
    scorer: Scorer = field(init=False)
    flow_in: type[BaseModel] = field(init=False)
    flows_adapter: TypeAdapter = field(init=False)
    _stats: tuple[float, dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        self.scorer = self.pipeline.scorer
        self.flow_in = flow_model(tuple(self.bundle.features))
        self.flows_adapter = TypeAdapter(list[self.flow_in])  # type: ignore[name-defined]

    @property
    def detectors(self) -> tuple[str, ...]:
        return self.scorer.detectors

    def stats(self, max_age_s: float = 0.1) -> dict[str, Any]:
        """The Stats object, recomputed at most every ``max_age_s`` (every client's frame shares it)."""
        now = time.monotonic()
        if self._stats is None or now - self._stats[0] > max_age_s:
            self._stats = (now, self.pipeline.snapshot())
        return self._stats[1]

    def hello(self) -> dict[str, Any]:
        return {"type": "hello", "detectors": list(self.detectors),
                "thresholds": {d: float(t) for d, t in zip(self.detectors, self.scorer.thresholds)},
                "source": self.pipeline.source_info(), "labelled": bool(self.source.labelled),
                "last_alert_id": self.store.last_alert_id()}
