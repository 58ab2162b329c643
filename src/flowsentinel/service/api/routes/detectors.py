"""GET /api/v1/detectors: the bundle's detectors, thresholds and evaluation metrics."""

from __future__ import annotations

from fastapi import APIRouter

from flowsentinel.service.deps import LiveDep
from flowsentinel.service.schemas import DetectorsOut

router = APIRouter(tags=["detectors"])


@router.get("/detectors", response_model=DetectorsOut, summary="Detectors, thresholds and test metrics")
def detectors(live: LiveDep) -> dict:
    manifest = live.bundle.manifest
    meta = manifest.get("metadata", {})
    metrics = meta.get("metrics", {})
    out = []
    for name, det in live.bundle.detectors.items():
        entry = manifest["detectors"].get(name, {})
        m = metrics.get(name, {})
        test = {k: v for k, v in (m.get("test") or {}).items() if k != "curves"}
        out.append({"name": name, "kind": entry.get("kind"), "threshold": float(det.threshold_),
                    "metrics": test, "seeds": m.get("seeds")})
    return {"detectors": out, "bundle": {
        "path": str(live.bundle.path), "created": manifest.get("created"),
        "features": list(live.bundle.features), "versions": manifest.get("versions", {}),
        "config": meta.get("config", {}), "split": meta.get("split", {})}}
