"""Alerts: list (filtered, cursor-paginated), fetch one, triage (PATCH)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from starlette.concurrency import run_in_threadpool

from flowsentinel.service.deps import LiveDep, StoreDep
from flowsentinel.service.schemas import AlertOut, AlertPage, AlertPatch
from flowsentinel.stream.store import ALERT_STATUSES, AlertQuery, CursorError

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=AlertPage, summary="Alerts, newest first (or oldest first from after_id)")
async def list_alerts(
    live: LiveDep,
    since: Annotated[float | None, Query(description="scored at or after (epoch seconds)")] = None,
    until: Annotated[float | None, Query(description="scored before (epoch seconds)")] = None,
    family: Annotated[str | None, Query(description="attack family, or 'unlabelled'")] = None,
    detector: Annotated[str | None, Query(description="only alerts this detector flagged")] = None,
    status_: Annotated[str | None, Query(alias="status", description="new | acknowledged | false_positive")] = None,
    after_id: Annotated[int | None, Query(ge=0, description="oldest first, ids above this (backfill)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    features: Annotated[bool, Query(description="false: leave out each alert's features and top_features "
                                    "(null; a fifth of the bytes) — GET /alerts/{id} has them")] = True,
) -> dict:
    if detector is not None and detector not in live.detectors:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"query parameter 'detector': unknown detector {detector!r}; "
                            f"this bundle has {', '.join(live.detectors)}")
    if status_ is not None and status_ not in ALERT_STATUSES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"query parameter 'status': expected one of {', '.join(ALERT_STATUSES)}")
    q = AlertQuery(since=since, until=until, family=family, detector=detector, status=status_,
                   after_id=after_id, limit=limit, cursor=cursor, features=features)
    try:
        items, next_cursor = await run_in_threadpool(live.store.list_alerts, q)
    except CursorError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"query parameter 'cursor': {exc}") from None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{alert_id}", response_model=AlertOut, summary="One alert with its features and explanation")
async def get_alert(alert_id: int, store: StoreDep) -> dict:
    alert = await run_in_threadpool(store.get_alert, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    return alert


@router.patch("/{alert_id}", response_model=AlertOut, summary="Acknowledge, mark false positive, add a note")
async def patch_alert(alert_id: int, change: AlertPatch, store: StoreDep) -> dict:
    if not change.model_fields_set:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "body: give 'status' and/or 'note'")
    alert = await run_in_threadpool(store.update_alert, alert_id, change.status, change.note,
                                    "note" in change.model_fields_set and change.note is None)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    return alert
