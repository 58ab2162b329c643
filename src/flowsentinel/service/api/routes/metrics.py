"""GET /metrics: Prometheus text format (token required when one is set)."""

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from flowsentinel.service.deps import Authorized, LiveDep

router = APIRouter(tags=["metrics"], dependencies=[Authorized])


@router.get("/metrics", summary="Prometheus metrics")
def metrics(live: LiveDep) -> Response:
    return Response(live.metrics.render(), media_type=CONTENT_TYPE_LATEST)
