"""FlowSentinel: network-flow anomaly detection on CICIDS-2017 features."""

__version__ = "0.1.0"
