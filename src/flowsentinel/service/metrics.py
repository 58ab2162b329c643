"""Prometheus metrics, in a registry of the app's own (several apps never share counters).

Per-batch observations come from a pipeline listener; totals and gauges are
read from the pipeline when /metrics is scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from flowsentinel.stream.record import VerdictBatch

__all__ = ["Metrics"]

_BATCH_BUCKETS = (1, 8, 32, 128, 512, 1024, 2048, 4096, 8192)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _PipelineCollector(Collector):
    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator:
        s = self.snapshot()
        for name, key, doc in (("flowsentinel_flows_in", "flows_in", "flows received from the source"),
                               ("flowsentinel_flows_shed", "flows_shed", "flows shed because scoring fell behind"),
                               ("flowsentinel_ws_dropped", "ws_dropped",
                                "verdicts slow WebSocket clients did not receive")):
            yield CounterMetricFamily(name, doc, value=s[key])
        for name, key, doc in (("flowsentinel_flows_per_second", "flows_per_s", "flows scored per second, last 5 s"),
                               ("flowsentinel_queue_depth", "queue_depth", "flows waiting to be scored"),
                               ("flowsentinel_queue_capacity", "queue_capacity", "flows the queue holds at most"),
                               ("flowsentinel_ws_clients", "ws_clients", "connected WebSocket clients"),
                               ("flowsentinel_uptime_seconds", "uptime_s", "seconds since the pipeline started")):
            yield GaugeMetricFamily(name, doc, value=s[key])
        cap = s["source"].get("capture")
        if cap:  # a source that meters packets (pcap:, iface:)
            for name, key, doc in (("flowsentinel_capture_packets", "packets", "packets metered into flows"),
                                   ("flowsentinel_capture_kernel_drops", "kernel_drops",
                                    "packets the kernel dropped before capture (live interface)"),
                                   ("flowsentinel_capture_malformed", "malformed", "frames skipped as malformed"),
                                   ("flowsentinel_capture_evicted", "evicted",
                                    "flows written early because the meter held too many")):
                yield CounterMetricFamily(name, doc, value=cap[key])
            yield GaugeMetricFamily("flowsentinel_meter_open_flows", "flows open in the meter (not yet scored)",
                                    value=cap["open_flows"])


class Metrics:
    """The app's Prometheus registry and the pipeline listener that feeds it."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.flows = Counter("flowsentinel_flows_scored", "flows scored by every detector", registry=self.registry)
        self.batches = Histogram("flowsentinel_batch_size_flows", "flows per micro-batch",
                                 buckets=_BATCH_BUCKETS, registry=self.registry)
        self.latency = Histogram("flowsentinel_detector_batch_latency_seconds",
                                 "time a detector took on a micro-batch", ["detector"],
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.alerts = Counter("flowsentinel_alerts", "alerts (flows any detector flagged) by family",
                              ["family"], registry=self.registry)
        self.flagged = Counter("flowsentinel_detector_flagged", "flows each detector flagged as attack",
                               ["detector"], registry=self.registry)
        self.registry.register(_PipelineCollector(snapshot))

    def observe(self, batch: VerdictBatch) -> None:
        """Pipeline listener: one call per committed batch."""
        self.flows.inc(len(batch))
        self.batches.observe(len(batch))
        for j, name in enumerate(batch.detectors):
            self.latency.labels(name).observe(float(batch.latency_ms[j]) / 1e3)
            self.flagged.labels(name).inc(int(batch.flags[:, j].sum()))
        for family, count in batch.alerts_by_family().items():
            self.alerts.labels(family).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
