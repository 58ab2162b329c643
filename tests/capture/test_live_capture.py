"""A real capture made in the test: a network namespace, curl, a bounded SYN scan.

The test builds a veth pair into a fresh network namespace that runs a local
HTTP server, captures the host end with :class:`LiveSource` (libpcap via
pcapy-ng, BPF filter ``tcp``) while ``curl`` fetches a file and a raw socket
sends 20 SYNs, then checks the flows.  Everything stays inside the namespace
pair and is torn down afterwards; it needs root (namespaces, raw sockets).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from flowsentinel.capture import FlowStreamer, flows_to_frame, get_profile
from flowsentinel.capture.live import LiveCaptureError, LiveSource

from .netkit import netns, syn_scan, wait_listening  # noqa: F401 - netns is a fixture

N_SCAN = 20


@pytest.mark.parametrize("closed_wait_s", [None, 1.0])
def test_real_capture_curl_and_syn_scan(netns, tmp_path, closed_wait_s) -> None:
    """The same flows with the dataset's rule (written at the end: no SYN follows, no timeout
    passes) and with the live rule (each connection written ~1 s after it closed, by the timer)."""
    port, sport0 = 18080, 45000
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(5000))
    server = subprocess.Popen(
        ["ip", "netns", "exec", netns["name"], sys.executable, "-m", "http.server", str(port),
         "--bind", netns["server"], "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(netns["server"], port)
        time.sleep(0.3)  # the readiness probe's packets are over before the capture starts
        source = LiveSource(netns["host_if"], bpf_filter="tcp", duration=30, expire_interval=0.2)
        streamer = FlowStreamer(source, closed_wait_s=closed_wait_s)
        chunks: list = []
        before_stop: list[int] = []
        worker = threading.Thread(target=lambda: chunks.extend(streamer), daemon=True)
        worker.start()
        time.sleep(0.3)
        done = subprocess.run(
            ["curl", "-s", "--local-port", "40000-40999", "-o", "/dev/null",
             "-w", "%{size_request} %{size_header} %{size_download}",
             f"http://{netns['server']}:{port}/blob.bin"], capture_output=True, text=True, timeout=20)
        request, header, body = map(int, done.stdout.split())
        closed = [p for p in range(port + 1, port + N_SCAN)]
        syn_scan(netns["client"], netns["server"], [port, *closed], sport0)
        time.sleep(0.5 if closed_wait_s is None else closed_wait_s + 1.5)
        before_stop.append(sum(map(len, chunks)))
        source.stop()
        worker.join(10)
        assert not worker.is_alive(), "the capture did not stop"
    finally:
        server.terminate()
        server.wait(10)
    flows = flows_to_frame(chunks)
    assert body == 5000
    assert len(flows) == 1 + N_SCAN, flows[["Flow ID", "Total Fwd Packet", "Total Bwd packets"]]
    # every connection closed (FINs and the last ACK, or an RST): the live rule wrote them all
    # while the capture ran; the dataset's rule keeps them until a SYN, a timeout or the end
    assert before_stop == [len(flows) if closed_wait_s is not None else 0]
    assert (flows["Protocol"] == 6).all()
    web = flows[flows["Dst Port"] == port]
    web = web[web["Src Port"] < sport0]
    assert len(web) == 1, flows[["Flow ID", "Total Fwd Packet", "Total Bwd packets"]]
    web = web.iloc[0]
    assert web["Src IP"] == netns["client"]
    assert web["Total Length of Fwd Packet"] == request
    assert web["Total Length of Bwd Packet"] == header + body
    assert web["SYN Flag Count"] == 2 and web["FIN Flag Count"] == 2
    assert web["Fwd Act Data Pkts"] == 1 and web["FWD Init Win Bytes"] > 0
    assert web["Total TCP Flow Time"] == web["Flow Duration"] > 0
    scan = flows[(flows["Src Port"] >= sport0) & (flows["Src Port"] < sport0 + N_SCAN)]
    assert len(scan) == N_SCAN
    shut = scan[scan["Dst Port"] != port]
    assert (shut["Total Fwd Packet"] == 1).all() and (shut["Total Bwd packets"] == 1).all()
    assert (shut["Bwd RST Flags"] == 1).all() and (shut["SYN Flag Count"] == 1).all()
    opened = scan[scan["Dst Port"] == port].iloc[0]  # SYN, SYN-ACK, then our kernel's RST
    assert opened["Total Fwd Packet"] == 2 and opened["Total Bwd packets"] == 1
    assert opened["SYN Flag Count"] == 2 and opened["Fwd RST Flags"] == 1
    st = streamer.stats
    assert st.kernel_drops == 0 and st.malformed == 0 and st.packets == st.frames


def test_idle_flows_expire_on_the_wall_clock(netns) -> None:
    """With no packets arriving, a flow is written once its timeout passes."""
    profile = get_profile("cicids2017").with_timeouts(flow_timeout_us=1_000_000)
    source = LiveSource(netns["host_if"], bpf_filter="udp", expire_interval=0.1, duration=20)
    streamer = FlowStreamer(source, profile=profile)
    seen: list[tuple[float, int]] = []

    def consume() -> None:
        for chunk in streamer:
            seen.append((time.monotonic(), len(chunk)))

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    time.sleep(0.3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"hello", (netns["server"], 9999))
    sent = time.monotonic()
    time.sleep(2.0)
    stopped = time.monotonic()
    source.stop()
    worker.join(10)
    assert seen and seen[0][1] == 1
    assert sent + 0.9 <= seen[0][0] < stopped  # written by the timer, before shutdown


def test_live_source_errors_are_actionable(netns) -> None:
    with pytest.raises(LiveCaptureError, match="no-such-if0"):
        LiveSource("no-such-if0")
    with pytest.raises(LiveCaptureError, match="not a filter"):
        LiveSource(netns["host_if"], bpf_filter="not a filter ((")
