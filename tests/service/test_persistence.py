"""kill -9 and restart: every alert a client was shown or the API returned is still in the store."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import websockets

from service.conftest import wait_for


def _start(bundle: Path, source: str, db: Path, log: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("FLOWSENTINEL_API_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "flowsentinel", "serve", "--bundle", str(bundle),
                             "--source", source, "--port", "0", "--db", str(db)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)

    def url():
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {log.read_text()[-2000:]}")
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())
        if not m:
            return None
        try:
            httpx.get(m.group(0) + "healthz", timeout=2).raise_for_status()
        except httpx.HTTPError:
            return None
        return m.group(0).rstrip("/")

    return proc, wait_for(url, "flowsentinel serve to answer", timeout=60, every=0.2)


def test_alerts_survive_kill_dash_nine(bundle_path, replay_path, tmp_path):
    db = tmp_path / "live.db"
    proc, base = _start(bundle_path, f"replay:{replay_path}@800,loop", db, tmp_path / "serve1.log")
    shown: dict[int, str] = {}
    try:
        async def watch():
            async with websockets.connect(base.replace("http", "ws") + "/ws/live", max_size=None) as ws:
                while len(shown) < 300:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    for a in frame.get("alerts", []):
                        shown[a["id"]] = a["flow_id"]

        asyncio.run(asyncio.wait_for(watch(), 90))
        for a in httpx.get(base + "/api/v1/alerts", params={"limit": 200}, timeout=10).json()["items"]:
            shown[a["id"]] = a["flow_id"]
    finally:
        proc.send_signal(signal.SIGKILL)  # no shutdown, no flush: the process is gone mid-stream
        proc.wait(30)
    assert len(shown) >= 300

    proc, base = _start(bundle_path, "simulate", db, tmp_path / "serve2.log")
    try:
        c = httpx.Client(base_url=base, timeout=10)
        missing = []
        for alert_id, flow_id in shown.items():
            r = c.get(f"/api/v1/alerts/{alert_id}")
            if r.status_code != 200 or r.json()["flow_id"] != flow_id:
                missing.append(alert_id)
        assert missing == []
        hello_last = c.get("/api/v1/alerts", params={"limit": 1}).json()["items"][0]["id"]
        assert hello_last >= max(shown)  # ids continue after the restart, never reused
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
