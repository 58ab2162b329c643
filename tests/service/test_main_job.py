"""The README's main job, ``flowsentinel serve`` with nothing configured: it trains the demo
bundle on simulated traffic the first time, serves the simulator through both detectors,
and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx

from flowsentinel.cli import main
from service.conftest import wait_for


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSENTINEL_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_serve_with_no_bundle_trains_the_demo_one_and_serves_the_simulator(tmp_path):
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "flowsentinel", "serve", "--port", "0"], cwd=tmp_path,
                            env=_clean_env(), stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        def url():
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {log.read_text()[-3000:]}")
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())
            return m.group(0) if m else None

        base = wait_for(url, "the demo bundle to be trained and the service to listen", timeout=300, every=0.5)
        assert (tmp_path / "bundles" / "demo" / "manifest.json").is_file()
        assert (tmp_path / "out" / "live.db").is_file()
        assert "training the demo bundle" in log.read_text()

        detectors = httpx.get(base + "api/v1/detectors", timeout=10).json()["detectors"]
        assert {d["name"] for d in detectors} == {"rf", "cnn"}

        def scored():
            stats = httpx.get(base + "api/v1/stats", timeout=10).json()
            return stats if stats["flows_scored"] >= 50 else None

        stats = wait_for(scored, "the simulator's flows to be scored", timeout=60, every=0.5)
        assert stats["source"]["kind"] == "simulate" and stats["source"]["labelled"]
        assert stats["source"]["state"] == "running"
        for name in ("rf", "cnn"):
            det = stats["detectors"][name]
            assert det["confusion"] is not None and sum(det["confusion"].values()) > 0
        page = httpx.get(base, timeout=10)
        assert page.status_code == 200 and "FlowSentinel" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    out = log.read_text()
    assert code == 130, out[-2000:]
    assert "interrupted" in out and "Traceback" not in out


def test_serve_refuses_a_non_bundle_at_the_default_place(tmp_path, monkeypatch, capsys):
    for k in [k for k in os.environ if k.startswith("FLOWSENTINEL_")]:
        monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundles" / "demo").mkdir(parents=True)
    (tmp_path / "bundles" / "demo" / "notes.txt").write_text("not a bundle")
    assert main(["serve", "--port", "0", "-q"]) == 2
    err = capsys.readouterr().err
    assert "bundles/demo" in err and "manifest.json" in err
    assert (tmp_path / "bundles" / "demo" / "notes.txt").read_text() == "not a bundle"  # nothing overwritten
