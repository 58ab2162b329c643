"""A network namespace joined to the host by a veth pair, for tests that capture real traffic.

The ``netns`` fixture makes ``fst<pid>`` with a /30 (``client`` on the host end, ``server``
inside) and removes it afterwards; traffic sent to ``server`` stays inside the pair.  It needs
root (namespaces, raw sockets) and iproute2; the tests fail, never skip, without them.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time

import pytest


def require_root_tools() -> None:
    missing = [t for t in ("ip", "curl") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        pytest.fail("the live-capture tests need root (network namespaces, raw sockets) and the "
                    f"tools ip (iproute2) and curl; missing: {missing or 'root'}")


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


@pytest.fixture
def netns(tmp_path):
    require_root_tools()
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


def wait_listening(addr: str, port: int, limit: float = 10.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"HTTP server on {addr}:{port} did not start within {limit} s")


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn_scan(src: str, dst: str, ports: list[int], first_sport: int) -> None:
    """Send one SYN per port from a raw socket (the kernel adds the IP header)."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as raw:
        for i, port in enumerate(ports):
            hdr = struct.pack("!HHIIBBHHH", first_sport + i, port, 12345 + i, 0, 5 << 4, 0x02, 1024, 0, 0)
            pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
            hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
            raw.sendto(hdr, (dst, 0))
            time.sleep(0.005)
