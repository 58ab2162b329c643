"""One router per resource; ``api_router`` gathers those under /api/v1."""

from fastapi import APIRouter

from flowsentinel.service.api.routes import alerts, detectors, health, metrics, score, stats, trends
from flowsentinel.service.deps import Authorized

api_router = APIRouter(prefix="/api/v1", dependencies=[Authorized])
for _module in (score, alerts, detectors, stats, trends):
    api_router.include_router(_module.router)

__all__ = ["api_router", "health", "metrics"]
