"""A real capture made in the test: a network namespace, curl, a bounded SYN scan.

The test builds a veth pair into a fresh network namespace that runs a local
HTTP server, captures the host end with :class:`LiveSource` (libpcap via
pcapy-ng, BPF filter ``tcp``) while ``curl`` fetches a file and a raw socket
sends 20 SYNs, then checks the flows.  Everything stays inside the namespace
pair and is torn down afterwards; it needs root (namespaces, raw sockets).
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from flowsentinel.capture import FlowStreamer, flows_to_frame, get_profile
from flowsentinel.capture.live import LiveCaptureError, LiveSource

N_SCAN = 20


def _require_root_tools() -> None:
    missing = [t for t in ("ip", "curl") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        pytest.fail("the live-capture tests need root (network namespaces, raw sockets) and the "
                    f"tools ip (iproute2) and curl; missing: {missing or 'root'}")


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


@pytest.fixture
def netns(tmp_path):
    _require_root_tools()
    tag = os.getpid() % 100_000
    name, host_if, ns_if = f"fst{tag}", f"fsh{tag}", f"fsn{tag}"
    net = f"10.213.{tag % 250}"
    try:
        _run("ip", "netns", "add", name)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", ns_if, "netns", name)
        _run("sysctl", "-qw", f"net.ipv6.conf.{host_if}.disable_ipv6=1")
        _run("ip", "addr", "add", f"{net}.1/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "netns", "exec", name, "sysctl", "-qw", f"net.ipv6.conf.{ns_if}.disable_ipv6=1")
        _run("ip", "netns", "exec", name, "ip", "addr", "add", f"{net}.2/30", "dev", ns_if)
        _run("ip", "netns", "exec", name, "ip", "link", "set", ns_if, "up")
        _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield {"name": name, "host_if": host_if, "client": f"{net}.1", "server": f"{net}.2"}
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=20)


def _wait_listening(addr: str, port: int, limit: float = 10.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"HTTP server on {addr}:{port} did not start within {limit} s")


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _syn_scan(src: str, dst: str, ports: list[int], first_sport: int) -> None:
    """Send one SYN per port from a raw socket (the kernel adds the IP header)."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as raw:
        for i, port in enumerate(ports):
            hdr = struct.pack("!HHIIBBHHH", first_sport + i, port, 12345 + i, 0, 5 << 4, 0x02, 1024, 0, 0)
            pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
            hdr = hdr[:16] + struct.pack("!H", _csum(pseudo + hdr)) + hdr[18:]
            raw.sendto(hdr, (dst, 0))
            time.sleep(0.005)


def test_real_capture_curl_and_syn_scan(netns, tmp_path) -> None:
    port, sport0 = 18080, 45000
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(5000))
    server = subprocess.Popen(
        ["ip", "netns", "exec", netns["name"], sys.executable, "-m", "http.server", str(port),
         "--bind", netns["server"], "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(netns["server"], port)
        time.sleep(0.3)  # the readiness probe's packets are over before the capture starts
        source = LiveSource(netns["host_if"], bpf_filter="tcp", duration=30)
        streamer = FlowStreamer(source)
        chunks: list = []
        worker = threading.Thread(target=lambda: chunks.extend(streamer), daemon=True)
        worker.start()
        time.sleep(0.3)
        done = subprocess.run(
            ["curl", "-s", "--local-port", "40000-40999", "-o", "/dev/null",
             "-w", "%{size_request} %{size_header} %{size_download}",
             f"http://{netns['server']}:{port}/blob.bin"], capture_output=True, text=True, timeout=20)
        request, header, body = map(int, done.stdout.split())
        closed = [p for p in range(port + 1, port + N_SCAN)]
        _syn_scan(netns["client"], netns["server"], [port, *closed], sport0)
        time.sleep(0.5)
        source.stop()
        worker.join(10)
        assert not worker.is_alive(), "the capture did not stop"
    finally:
        server.terminate()
        server.wait(10)
    flows = flows_to_frame(chunks)
    assert body == 5000
    assert len(flows) == 1 + N_SCAN, flows[["Flow ID", "Total Fwd Packet", "Total Bwd packets"]]
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
