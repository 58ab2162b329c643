"""GET /healthz: liveness, open without a token (it reveals no data)."""

from fastapi import APIRouter

from flowsentinel.service.deps import LiveDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and pipeline state")
def healthz(live: LiveDep) -> dict:
    p = live.pipeline
    return {"status": "ok" if p.state in ("running", "finished") else p.state, "pipeline": p.state,
            "uptime_s": round(live.stats(max_age_s=1.0)["uptime_s"], 3)}
