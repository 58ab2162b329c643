"""GET /api/v1/trends: alerts per family per minute."""

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from flowsentinel.service.deps import StoreDep
from flowsentinel.service.schemas import TrendsOut

router = APIRouter(tags=["trends"])


@router.get("/trends", response_model=TrendsOut, summary="Alerts per family per minute, last N minutes")
async def trends(store: StoreDep, minutes: Annotated[int, Query(ge=1, le=1440)] = 60) -> dict:
    return await run_in_threadpool(store.trends, minutes)
