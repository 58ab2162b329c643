"""POST /api/v1/score: a JSON list of flow records → every detector's verdict on each."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from flowsentinel import schema
from flowsentinel.service.deps import LiveDep
from flowsentinel.service.schemas import FlowScoreOut, format_errors

router = APIRouter(tags=["score"])


def _unprocessable(errors: list[dict]) -> JSONResponse:
    return JSONResponse({"detail": errors[0]["message"], "errors": errors[:100]},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _score(live, records: list[dict]) -> list[dict]:
    frame = pd.DataFrame.from_records(records)
    for name in live.bundle.features:
        frame[name] = frame[name].astype(np.float64)
    if schema.LABEL in frame.columns:
        labels = frame[schema.LABEL]
        known = labels.notna()
        infos = {raw: schema.classify_label(raw) for raw in pd.unique(labels[known])}
        frame[schema.LABEL] = [infos[r].label if r is not None and r == r else None for r in labels]
        frame[schema.FAMILY] = [infos[r].family if r is not None and r == r else None for r in labels]
    batch = live.scorer.score(frame, np.full(len(frame), time.time()))
    return batch.to_dicts()


@router.post("/score", response_model=FlowScoreOut, summary="Score flow records with every detector",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "array", "items": {"$ref": "#/components/schemas/FlowIn"}}}}}},
             responses={413: {"description": "body or list too large"},
                        422: {"description": "names the row and field, e.g. \"row 3, field 'Flow Duration': "
                                             "expected a finite number\""}})
async def score(request: Request, live: LiveDep) -> JSONResponse:
    """Body: a JSON list of flow records with canonical feature names (identifiers and ``Label``
    optional).  Returns ``{"verdicts": [Verdict, ...]}`` in input order; nothing is stored."""
    body = await request.body()
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _unprocessable([{"row": None, "field": None, "message": f"body is not valid JSON: {exc}"}])
    if not isinstance(data, list):
        return _unprocessable([{"row": None, "field": None,
                                "message": "expected a JSON list of flow records"}])
    limit = live.settings.max_score_rows
    if len(data) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"{len(data)} flow records; at most {limit} per request")
    if not data:
        return JSONResponse({"verdicts": []})
    try:
        await run_in_threadpool(live.flows_adapter.validate_python, data)
    except ValidationError as exc:
        return _unprocessable(format_errors(exc.errors(include_url=False)))
    try:
        verdicts = await run_in_threadpool(_score, live, data)
    except schema.UnknownLabelError as exc:
        return _unprocessable([{"row": None, "field": schema.LABEL, "message": f"field 'Label': {exc}"}])
    return JSONResponse({"verdicts": verdicts})
