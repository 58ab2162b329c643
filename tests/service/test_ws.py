"""/ws/live over real sockets: hello, batched updates, frame spacing, and a client that never reads."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import websockets

from service.conftest import make_settings, serving, wait_for


async def _frames(url: str, n: int) -> list[dict]:
    async with websockets.connect(url, max_size=None) as ws:
        return [json.loads(await asyncio.wait_for(ws.recv(), 30)) for _ in range(n)]


def test_hello_then_updates(service):
    frames = asyncio.run(_frames(service.ws_url, 8))
    hello, updates = frames[0], frames[1:]
    assert hello["type"] == "hello"
    assert hello["detectors"] == list(service.live.detectors)
    assert set(hello["thresholds"]) == set(hello["detectors"]) and hello["labelled"] is True
    assert hello["source"]["kind"] == "replay" and "last_alert_id" in hello
    assert all(u["type"] == "update" for u in updates)
    verdicts = [v for u in updates for v in u["verdicts"]]
    assert verdicts and all(len(u["verdicts"]) <= 100 and len(u["alerts"]) <= 500 for u in updates)
    assert set(verdicts[0]["scores"]) == set(hello["detectors"])
    seqs = [v["seq"] for v in verdicts]
    assert seqs == sorted(seqs)
    alerts = [a for u in updates for a in u["alerts"]]
    assert alerts and all(a["alert"] and isinstance(a["id"], int) and a["top_features"] for a in alerts)
    ids = [a["id"] for a in alerts]
    assert ids == sorted(ids)
    stored = service.client.get(f"/api/v1/alerts/{ids[-1]}").json()  # published only once committed
    assert stored["flow_id"] == alerts[-1]["flow_id"]
    assert all(isinstance(u["dropped"], int) and u["dropped"] >= u["dropped_alerts"] >= 0 for u in updates)
    assert {"flows_scored", "detectors", "ws_clients"} <= set(updates[-1]["stats"])
    # at most ws_max_fps frames a second: the server never sends two closer than 1/fps
    gap = 1.0 / service.live.settings.ws_max_fps
    assert all(b["t"] - a["t"] >= 0.9 * gap for a, b in zip(updates, updates[1:]))


def _stuck_client(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads a byte."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    return s


def test_a_stuck_client_loses_frames_but_stalls_nobody(bundle, replay_path, tmp_path):
    settings = make_settings(tmp_path, source=f"replay:{replay_path}@1500,loop", ws_mailbox=30)
    with serving(settings, bundle) as svc:
        stuck = _stuck_client(svc.port)
        try:
            wait_for(lambda: svc.client.get("/api/v1/stats").json()["ws_clients"] >= 1, "the stuck client")
            stuck_sub = next(iter(svc.live.hub._subs.values()))  # the only subscriber so far

            async def watch() -> tuple[list[dict], int]:
                async with websockets.connect(svc.ws_url, max_size=None) as ws:
                    frames = []
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                        frames.append(frame)
                        if frame["type"] == "update" and frame["stats"]["ws_dropped"] > 0 and len(frames) > 20:
                            return frames, sum(f.get("dropped", 0) for f in frames)

            frames, _ = asyncio.run(asyncio.wait_for(watch(), 90))
        finally:
            stuck.close()
        scored = [f["stats"]["flows_scored"] for f in frames if f["type"] == "update"]
        assert scored[-1] > scored[0]  # the pipeline kept going …
        seqs = [v["seq"] for f in frames if f["type"] == "update" for v in f["verdicts"]]
        assert len(seqs) > 100 and seqs == sorted(seqs)  # … the reading client kept receiving …
        assert stuck_sub.dropped > 0  # … and the stuck client's loss was counted
        stats = svc.client.get("/api/v1/stats").json()
        assert stats["ws_dropped"] > 0 and stats["flows_shed"] == 0
        assert svc.live.pipeline.state == "running"

