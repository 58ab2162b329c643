"""Input and output schemas of the REST API (pydantic); shapes follow docs/live.md.

``FlowIn`` is built per bundle (:func:`flow_model`): the bundle's features are
required finite numbers, the other canonical features and the identifiers
optional, anything else refused, so a misspelt feature name is an error, not
a silently missing value.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, create_model

from flowsentinel import schema

__all__ = ["AlertOut", "AlertPage", "AlertPatch", "DetectorsOut", "FlowScoreOut", "TrendsOut",
           "VerdictOut", "flow_model", "format_errors"]

Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Port = Annotated[int, Field(strict=True, ge=0, le=65535)]
Proto = Annotated[int, Field(strict=True, ge=0, le=255)]

_IDENTIFIER_TYPES: dict[str, Any] = {
    "Flow ID": StrictStr, "Src IP": StrictStr, "Dst IP": StrictStr, "Src Port": Port, "Dst Port": Port,
    "Protocol": Proto, "Timestamp": StrictStr | Finite,
}


def _safe(name: str) -> str:
    return "f_" + re.sub(r"\W", "_", name)


def flow_model(features: tuple[str, ...]) -> type[BaseModel]:
    """The ``FlowIn`` schema for a bundle whose transform reads ``features``."""
    fields: dict[str, Any] = {}
    for name in (*schema.IDENTIFIERS, *schema.FEATURES, *features):
        if _safe(name) in fields:
            continue
        if name in features:
            fields[_safe(name)] = (Finite, Field(alias=name))
        elif name in _IDENTIFIER_TYPES:
            fields[_safe(name)] = (_IDENTIFIER_TYPES[name] | None, Field(None, alias=name))
        else:
            fields[_safe(name)] = (Finite | None, Field(None, alias=name))
    fields["f_Label"] = (StrictStr | None, Field(None, alias=schema.LABEL, description="ground truth, optional"))
    return create_model("FlowIn", __config__=ConfigDict(extra="forbid", populate_by_name=False), **fields)


_MESSAGES = {
    "missing": "field required",
    "extra_forbidden": "unknown field (not a canonical flow feature or identifier)",
    "finite_number": "expected a finite number",
    "float_type": "expected a finite number",
    "int_type": "expected an integer",
    "string_type": "expected a string",
    "model_type": "expected a JSON object (one flow record)",
    "list_type": "expected a JSON list of flow records",
}


def format_errors(errors: list[dict[str, Any]], where: str = "body") -> list[dict[str, Any]]:
    """Pydantic errors → ``[{"row", "field", "message"}]`` with messages such as
    ``row 3, field 'Flow Duration': expected a finite number``."""
    out = []
    for err in errors:
        loc = [p for p in err.get("loc", ()) if p != "body"]
        if loc and loc[0] in ("query", "path", "header"):
            where_, loc = loc[0], loc[1:]
        else:
            where_ = where
        row = next((p for p in loc if isinstance(p, int)), None)
        field_ = next((p for p in loc if isinstance(p, str)), None)
        kind = err.get("type", "")
        text = _MESSAGES.get(kind, err.get("msg", "invalid value"))
        if kind in ("greater_than_equal", "less_than_equal", "too_long", "too_short", "literal_error",
                    "enum", "value_error", "int_parsing", "float_parsing", "bool_parsing"):
            text = err.get("msg", text)
        if where_ == "body":
            parts = ([f"row {row}"] if row is not None else []) + ([f"field {field_!r}"] if field_ else [])
        else:
            parts = [f"{where_} parameter {field_!r}"] if field_ else [where_]
        prefix = ", ".join(parts)
        out.append({"row": row, "field": field_, "message": f"{prefix}: {text}" if prefix else text})
    return out


# --- outputs (documentation of the JSON the routes return) -------------------------------------

class VerdictOut(BaseModel):
    """One flow's verdict from every detector (docs/live.md, "The verdict record")."""

    seq: int | None
    flow_id: str | None
    src_ip: str | None
    src_port: int | None
    dst_ip: str | None
    dst_port: int | None
    protocol: int | None
    timestamp: float | None
    ingest_ts: float
    scored_ts: float
    scores: dict[str, float]
    verdicts: dict[str, bool]
    latency_ms: dict[str, float]
    label: str | None
    family: str | None
    agreement: bool
    alert: bool


class TopFeature(BaseModel):
    name: str
    value: float | None
    z: float
    weight: float


class AlertOut(VerdictOut):
    id: int
    status: Literal["new", "acknowledged", "false_positive"]
    note: str | None
    updated_at: float | None
    features: dict[str, float | None] | None = None
    top_features: list[TopFeature] | None = None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class AlertPatch(BaseModel):
    """Triage an alert: any of status and note (``note: null`` clears it)."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["new", "acknowledged", "false_positive"] | None = None
    note: Annotated[str, Field(max_length=4000)] | None = None


class FlowScoreOut(BaseModel):
    verdicts: list[VerdictOut]


class DetectorOut(BaseModel):
    name: str
    kind: str | None
    threshold: float
    metrics: dict[str, Any]
    seeds: dict[str, Any] | None


class DetectorsOut(BaseModel):
    detectors: list[DetectorOut]
    bundle: dict[str, Any]


class TrendsOut(BaseModel):
    start: int
    minutes: list[int]
    families: dict[str, list[int]]
