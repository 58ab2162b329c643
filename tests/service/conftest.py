"""Live-service fixtures: a small bundle, a replay file, and the app on a real 127.0.0.1 socket."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from flowsentinel.models.bundle import load_bundle
from flowsentinel.service.app import create_app
from flowsentinel.service.server import bind
from flowsentinel.service.settings import Settings
from stream.livekit import live_bundle, replay_csv


@pytest.fixture(scope="session")
def bundle_path(tmp_path_factory) -> Path:
    return live_bundle(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def bundle(bundle_path):
    return load_bundle(bundle_path)


@pytest.fixture(scope="session")
def replay_path(tmp_path_factory) -> Path:
    return replay_csv(tmp_path_factory.getbasetemp())


class Running:
    """A served app: ``url``, ``ws_url`` and an httpx ``client``."""

    def __init__(self, server: uvicorn.Server, port: int, app) -> None:
        self.server, self.port, self.app = server, port, app
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws/live"
        self.client = httpx.Client(base_url=self.url, timeout=30)

    @property
    def live(self):
        return self.app.state.live


@contextlib.contextmanager
def serving(settings: Settings, bundle, source=None, log_level: str = "warning") -> Iterator[Running]:
    """Run the app with uvicorn in a thread on a free 127.0.0.1 port."""
    app = create_app(settings, bundle=bundle, source=source)
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(app, log_level=log_level, ws="websockets-sansio", lifespan="on",
                            timeout_graceful_shutdown=2, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    running = Running(server, sock.getsockname()[1], app)
    try:
        yield running
    finally:
        running.client.close()
        server.should_exit = True
        thread.join(30)
        sock.close()


def make_settings(tmp_path: Path, **kw) -> Settings:
    return Settings(_env_file=None, db=tmp_path / "live.db", **{"source": "simulate", **kw})


@pytest.fixture(scope="module")
def service(bundle, replay_path, tmp_path_factory) -> Iterator[Running]:
    """One app per module, replaying the labelled file in a loop at 1 000 flows/s."""
    settings = make_settings(tmp_path_factory.mktemp("svc"), source=f"replay:{replay_path}@1000,loop")
    with serving(settings, bundle) as running:
        yield running


def wait_for(predicate, what: str, timeout: float = 30.0, every: float = 0.1):
    """Poll until ``predicate()`` is truthy (a deadline, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(every)
