"""``create_app(settings)``: the FastAPI app over a live pipeline.

The lifespan loads the bundle, opens the store, starts the pipeline and
stops it on shutdown.  Routes live in ``api/routes`` (one router per
resource), the WebSocket in ``ws.py``; this file only wires them, with the
limits (body size, CORS closed unless configured) and the error format.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from flowsentinel import __version__
from flowsentinel.models.bundle import Bundle, load_bundle
from flowsentinel.service import ws
from flowsentinel.service.api.routes import api_router, health, metrics
from flowsentinel.service.metrics import Metrics
from flowsentinel.service.schemas import format_errors
from flowsentinel.service.settings import Settings
from flowsentinel.service.state import LiveService
from flowsentinel.stream.hub import Hub
from flowsentinel.stream.pipeline import Pipeline
from flowsentinel.stream.sources import FlowSource, parse_source
from flowsentinel.stream.store import AlertStore

__all__ = ["BodyLimit", "create_app"]

log = logging.getLogger(__name__)


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = JSONResponse({"detail": f"request body larger than {self.max_bytes} bytes"},
                               status_code=status.HTTP_413_CONTENT_TOO_LARGE)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await too_big(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return msg

        async def tracking(msg: dict) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited, tracking)
        except _TooLarge:
            if not started:
                await too_big(scope, receive, send)


class _TooLarge(Exception):
    pass


def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = format_errors(list(exc.errors()))
    return JSONResponse({"detail": errors[0]["message"] if errors else "invalid request", "errors": errors[:100]},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _document_flow_in(app: FastAPI) -> None:
    """Add the bundle's ``FlowIn`` schema to the OpenAPI document (the score route reads its body itself)."""
    from fastapi.openapi.utils import get_openapi

    from flowsentinel import schema as fs_schema
    from flowsentinel.service.schemas import flow_model

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes)
            live = getattr(app.state, "live", None)
            model = live.flow_in if live is not None else flow_model(fs_schema.FEATURES)
            doc.setdefault("components", {}).setdefault("schemas", {})["FlowIn"] = model.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}")
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def source_for(settings: Settings) -> FlowSource:
    """The flow source ``settings.source`` names, with the packet sources' settings applied."""
    return parse_source(settings.source, closed_wait_s=settings.closed_wait_s, bpf=settings.bpf)


def create_app(settings: Settings | None = None, *, bundle: Bundle | None = None,
               source: FlowSource | None = None) -> FastAPI:
    """Build the app.  Nothing is loaded until it starts (the lifespan).

    Parameters
    ----------
    settings : Settings
        Defaults read from ``FLOWSENTINEL_*`` environment variables.
    bundle : Bundle, optional
        An already loaded bundle (tests, benchmarks); else ``settings.bundle`` is loaded.
    source : FlowSource, optional
        A source object; else ``settings.source`` is parsed.

    Raises
    ------
    ValueError
        A non-loopback host without an API token, or an invalid source spec.
    """
    settings = settings or Settings()
    settings.check_security()
    if source is None:
        source = source_for(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = bundle if bundle is not None else load_bundle(settings.bundle)
        store = AlertStore(settings.db, verdict_window=settings.verdict_window,
                           alert_retention_s=settings.alert_retention_days * 86400.0,
                           max_alerts=settings.max_alerts, synchronous=settings.db_synchronous)
        hub = Hub(mailbox=settings.ws_mailbox)
        pipeline = Pipeline(loaded, source, store, hub, batch_max=settings.batch_max,
                            batch_ms=settings.batch_ms, queue_capacity=settings.queue_capacity)
        live = LiveService(settings=settings, bundle=loaded, source=source, store=store, hub=hub,
                           pipeline=pipeline, metrics=Metrics(pipeline.snapshot))
        pipeline.add_listener(live.metrics.observe)
        app.state.live = live
        # Everything loaded so far (torch, pandas, FastAPI, the bundle: a few 100 000 objects) lives as long as
        # the service; frozen, a full collection no longer walks it.  Unfrozen, each one paused the
        # event loop ~150 ms and set the flow->client latency p99 at 10k flows/s (210 ms -> 70 ms).
        gc.collect()
        gc.freeze()
        await pipeline.start()
        try:
            yield
        finally:
            await pipeline.stop()
            store.close()
            gc.unfreeze()

    app = FastAPI(title="FlowSentinel", version=__version__, lifespan=lifespan,
                  description="Live network-flow attack detection: every detector side by side. "
                  "JSON shapes: docs/live.md.")
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(api_router)
    app.include_router(ws.router)
    if settings.origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.origins, allow_methods=["GET", "POST", "PATCH"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    _document_flow_in(app)
    static = settings.static_dir
    if static is not None and static.is_dir() and (static / "index.html").is_file():
        app.mount("/", StaticFiles(directory=static, html=True), name="dashboard")
    return app
