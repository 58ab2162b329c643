"""The traffic simulator moved to :mod:`flowsentinel.simulate`; this name keeps old imports working."""

from flowsentinel.simulate import ATTACKS, TrafficSimulator

__all__ = ["ATTACKS", "TrafficSimulator"]
