"""GET /api/v1/stats: the pipeline's Stats object (docs/live.md)."""

from fastapi import APIRouter

from flowsentinel.service.deps import LiveDep

router = APIRouter(tags=["stats"])


@router.get("/stats", summary="Pipeline statistics: rates, queue, latency, confusion per detector")
def stats(live: LiveDep) -> dict:
    return live.stats(max_age_s=0.0)
