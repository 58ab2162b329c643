"""``serve`` on a live interface: real connections reach the WebSocket seconds after they close.

A network namespace made by the test (``capture.netkit``) runs an HTTP server; the service
captures the host end of the veth pair (``iface:`` source, the live rule for closed
connections at 1 s) while curl fetches a file three times and a raw socket sends a bounded
SYN scan.  Every one of those connections must come out of the WebSocket, scored by every
detector, long before the 120 s flow timeout that alone would write them under the dataset's
rule.  A few UDP datagrams are still open flows when the service stops: they are scored and
stored at the stop, not lost.  Needs root, like the capture tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time

import websockets

from capture.netkit import netns, syn_scan, wait_listening  # noqa: F401 - netns is a fixture
from flowsentinel.stream import AlertStore
from service.conftest import make_settings, serving, wait_for

N_FETCH, N_SCAN, N_UDP = 3, 10, 4


class Feed:
    """Collects every verdict the WebSocket carries, in a thread of its own."""

    def __init__(self, url: str) -> None:
        self.url, self.verdicts, self.hello = url, {}, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        async with websockets.connect(self.url, max_size=None) as ws:
            while not self._stop.is_set():
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except asyncio.TimeoutError:
                    continue
                if frame["type"] == "hello":
                    self.hello = frame
                for v in frame.get("verdicts", []):
                    self.verdicts[v["seq"]] = v

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_serve_scores_live_connections_seconds_after_they_close(netns, bundle, tmp_path):
    port, sport0 = 18090, 46000
    (tmp_path / "page.html").write_bytes(os.urandom(3000))
    server = subprocess.Popen(
        ["ip", "netns", "exec", netns["name"], sys.executable, "-m", "http.server", str(port),
         "--bind", netns["server"], "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    settings = make_settings(tmp_path, source=f"iface:{netns['host_if']}", closed_wait_s=1.0,
                             bpf=f"host {netns['server']}")  # serve --bpf: filtered in the kernel
    try:
        wait_listening(netns["server"], port)
        time.sleep(0.3)  # the readiness probe is over before the capture starts
        with serving(settings, bundle) as svc:
            source = svc.live.source
            wait_for(lambda: source.capture_stats() is not None, "the capture to open")
            feed = Feed(svc.ws_url)
            try:
                wait_for(lambda: feed.hello is not None, "the WebSocket hello")
                assert feed.hello["source"]["kind"] == "iface" and feed.hello["labelled"] is False
                for _ in range(N_FETCH):
                    subprocess.run(["curl", "-s", "--local-port", "41000-41999", "-o", "/dev/null",
                                    f"http://{netns['server']}:{port}/page.html"], check=True, timeout=20)
                syn_scan(netns["client"], netns["server"], list(range(port + 1, port + 1 + N_SCAN)), sport0)
                for i in range(N_UDP):  # open flows (UDP ends only at its timeout): written at the stop
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                        u.bind((netns["client"], 47000 + i))
                        u.sendto(b"query", (netns["server"], 5353))
                sent = time.time()

                def ours():
                    return [v for v in feed.verdicts.values() if v["dst_ip"] == netns["server"] and v["protocol"] == 6]

                # the dataset's rule would hold these until their 120 s timeout (no SYN follows)
                got = wait_for(lambda: len(ours()) >= N_FETCH + N_SCAN and ours(), "the connections' verdicts",
                               timeout=20)
                stats = svc.client.get("/api/v1/stats").json()
                metrics = svc.client.get("/metrics").text
                assert not [v for v in feed.verdicts.values() if v["protocol"] == 17]  # still open
            finally:
                feed.close()
    finally:
        server.terminate()
        server.wait(10)
    store = AlertStore(settings.db)
    try:
        udp = [v for v in store.recent_verdicts(1000) if v["protocol"] == 17 and v["dst_port"] == 5353]
    finally:
        store.close()
    assert sorted(v["src_port"] for v in udp) == list(range(47000, 47000 + N_UDP))
    assert len(got) == N_FETCH + N_SCAN
    web = [v for v in got if v["dst_port"] == port]
    scan = [v for v in got if v["dst_port"] != port]
    assert len(web) == N_FETCH and all(41000 <= v["src_port"] <= 41999 for v in web)
    assert sorted(v["src_port"] for v in scan) == list(range(sport0, sport0 + N_SCAN))
    detectors = list(svc.live.detectors)
    for v in got:
        assert v["src_ip"] == netns["client"] and v["protocol"] == 6
        assert set(v["scores"]) == set(detectors) and all(0.0 <= s <= 1.0 for s in v["scores"].values())
        assert v["label"] is None and v["family"] is None  # a live interface has no ground truth
        assert v["scored_ts"] >= v["ingest_ts"] >= v["timestamp"]
        assert v["ingest_ts"] < sent + 20
    assert stats["source"]["kind"] == "iface" and stats["flows_shed"] == 0
    cap = stats["source"]["capture"]  # the capture's own counters, live
    assert cap["packets"] >= 10 * N_FETCH + 2 * N_SCAN and cap["kernel_drops"] == 0 and cap["malformed"] == 0
    assert cap["open_flows"] >= N_UDP and cap["flows"] >= N_FETCH + N_SCAN
    assert f"flowsentinel_capture_packets_total {float(cap['packets'])}" in metrics
    assert "flowsentinel_capture_kernel_drops_total 0.0" in metrics and "flowsentinel_meter_open_flows" in metrics
