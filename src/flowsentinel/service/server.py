"""Run the app with uvicorn: bind first (clear errors), keep tokens out of the logs, print the URL."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket

import uvicorn

from flowsentinel.models.bundle import load_bundle
from flowsentinel.service.app import create_app, source_for
from flowsentinel.service.auth import RedactTokens
from flowsentinel.service.settings import Settings
from flowsentinel.stream.sources import FlowSource
from flowsentinel.stream.store import AlertStore

__all__ = ["bind", "serve", "url_for"]

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port); ``OSError`` says why not."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


class _Server(uvicorn.Server):
    """uvicorn's server, minus its re-raising of the stop signal after a graceful shutdown.

    uvicorn raises SIGINT/SIGTERM again once it has shut down; under ``asyncio.run`` that
    cancels the (finished) lifespan task and logs a traceback on every Ctrl-C.  The signals
    are kept in ``stopped_by`` instead, and ``serve`` reports a Ctrl-C once the loop is gone.
    """

    stopped_by: tuple[int, ...] = ()

    @contextlib.contextmanager
    def capture_signals(self):
        with super().capture_signals():
            try:
                yield
            finally:
                self.stopped_by = tuple(self._captured_signals)
                self._captured_signals.clear()


def serve(settings: Settings, *, source: FlowSource | None = None, announce=print,
          log_level: str = "info") -> None:
    """Serve until interrupted.  ``announce`` receives the URL line once the socket is bound."""
    settings.check_security()
    bundle = load_bundle(settings.bundle)  # errors now, before anything listens
    AlertStore(settings.db).close()        # the store can be opened (or says why not)
    if source is None:
        source = source_for(settings)
    source.check()                         # e.g. an interface that cannot be captured
    app = create_app(settings, bundle=bundle, source=source)
    redact = RedactTokens(settings.token)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(redact)
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=log_level, access_log=log_level == "debug", ws="websockets-sansio",
                            timeout_graceful_shutdown=3, log_config=None, lifespan="on")
    server = _Server(config)
    announce(f"FlowSentinel live at {url_for(settings.host, port)}"
             + ("  (append #token=YOUR_TOKEN to open the dashboard)" if settings.token else ""))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise RuntimeError("the service did not start; see the log above")
    if signal.SIGINT in server.stopped_by:
        raise KeyboardInterrupt  # after the graceful shutdown: the CLI says "interrupted", exit 130
