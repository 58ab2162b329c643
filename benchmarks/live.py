#!/usr/bin/env python3
"""Live capture: packets/s that ``LiveSource`` + the meter take, with every packet accounted for.

A veth pair, one end in a network namespace made for the run.  A sender
inside the namespace replays the frames of a simulated pcap (made by
``flowsentinel.simulate``) through an AF_PACKET socket at a fixed offered
rate, a bounded number of frames in a bounded time.  The host end is
captured by ``LiveSource`` → ``FlowStreamer`` → ``to_csv`` (what
``flowsentinel capture --iface`` does) in a process of its own, so its CPU
time is its own.  Nothing leaves the pair; both ends have IPv6 off, so the
only frames on it are the sender's.

Per offered rate the table accounts for every frame:

* ``sent``: frames the sender's ``send`` accepted;
* ``if_rx`` / ``if_drop``: the capture interface's kernel counters (a frame
  dropped before the capture tap, e.g. a full backlog, shows here);
* ``captured``: frames libpcap delivered to the meter; ``kernel_drops``:
  what ``LiveSource.kernel_drops`` reports (pcap's ``ps_drop + ps_ifdrop``);
* ``parsed``: packets the meter metered (``stats.packets``), ``flows``;
* ``unaccounted`` = sent - captured - kernel_drops - if_drop: must be 0.

``recv_pps`` is captured frames over the span from the first to the last
captured frame; ``pkts_per_cpu_s`` is captured frames over the receiving
process's CPU time (user + system), the number that does not depend on what
else the machine runs.

Needs root (namespaces, AF_PACKET) and iproute2.  Usage::

    .venv/bin/python benchmarks/live.py [--rates 10000,30000,60000,120000] [--seconds 5]
        [--max-packets 300000] [--buffer-mb 0,2]

``--buffer-mb 0`` is ``LiveSource``'s default kernel buffer (32 MiB), 2 is libpcap's.  Writes
``benchmarks/results/live.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
CACHE = HERE / ".cache" / "live"
sys.path.insert(0, str(REPO / "src"))

log = logging.getLogger("benchmarks.live")


# --- the two ends (each runs as its own process) -------------------------------------------

def sender(iface: str, pcap: str, rate: float, count: int, max_seconds: float) -> dict:
    """Send ``count`` frames of ``pcap`` on ``iface`` at ``rate`` frames/s (1 ms ticks).

    A count beyond the pcap replays it again from the start: the same
    5-tuples, so TCP connections that were torn down are closed by their next
    SYN and the meter writes flows while it captures (steady state).
    """
    from flowsentinel.capture import PcapFileSource

    frames: list[bytes] = []
    for batch in PcapFileSource(pcap):
        data = batch.data.tobytes()
        frames += [data[o:o + c] for o, c in zip(batch.offsets.tolist(), batch.caplens.tolist())]
        if len(frames) >= count:
            break
    frames = frames[:count]
    m = len(frames)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    send = sock.send
    sent = errors = 0
    tick = 0.001
    per_tick = rate * tick
    t0 = time.monotonic()
    due = 0.0
    i = 0
    n = count
    while i < n:
        due += per_tick
        stop = min(n, int(due))
        while i < stop:
            try:
                send(frames[i % m])
                sent += 1
            except OSError:
                errors += 1
            i += 1
        now = time.monotonic() - t0
        if now > max_seconds:
            break
        ahead = (i / rate) - now
        if ahead > 0:
            time.sleep(ahead)
    seconds = time.monotonic() - t0
    sock.close()
    return {"sent": sent, "send_errors": errors, "not_sent": n - i, "send_s": seconds,
            "sent_pps": sent / seconds if seconds > 0 else 0.0}


class _Timed:
    """A LiveSource seen through: notes when the first and the last frame arrived."""

    def __init__(self, source) -> None:
        self.source = source
        self.first = self.last = None

    def __getattr__(self, name):
        return getattr(self.source, name)

    def __iter__(self):
        for frames in self.source:
            if len(frames):
                now = time.monotonic()
                self.first = self.first or now
                self.last = now
            yield frames


def receiver(iface: str, buffer_mb: float, out: str) -> dict:
    """Capture ``iface`` into a flow CSV until a line arrives on stdin; report the counters."""
    from flowsentinel.capture import FlowStreamer, LiveSource

    kwargs = {"buffer_size": int(buffer_mb * 2 ** 20)} if buffer_mb else {}  # 0: LiveSource's default
    source = LiveSource(iface, duration=600, **kwargs)
    timed = _Timed(source)
    streamer = FlowStreamer(timed, progress=False)
    threading.Thread(target=lambda: (sys.stdin.readline(), source.stop()), daemon=True).start()
    print("ready", flush=True)
    cpu0 = time.process_time()
    flows = streamer.to_csv(out)
    cpu = time.process_time() - cpu0
    raw = source._handle.stats()
    source.close()
    st = streamer.stats
    span = (timed.last - timed.first) if timed.first else 0.0
    return {"captured": source.frames, "kernel_drops": st.kernel_drops, "parsed": st.packets,
            "malformed": st.malformed, "non_ip": st.non_ip, "flows": flows,
            "pcap_stats": {"ps_recv": raw[0], "ps_drop": raw[1], "ps_ifdrop": raw[2] if len(raw) > 2 else None},
            "recv_span_s": span, "recv_pps": source.frames / span if span > 0 else 0.0,
            "cpu_s": cpu, "pkts_per_cpu_s": source.frames / cpu if cpu > 0 else 0.0,
            "buffer_mb": buffer_mb or "default (32)"}


# --- the run -----------------------------------------------------------------------------------

def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


@contextlib.contextmanager
def veth_pair():
    """A veth pair: host end in this namespace, peer in a fresh one; removed afterwards."""
    tag = os.getpid() % 100_000
    ns, host, peer = f"fsbl{tag}", f"fsbh{tag}", f"fsbp{tag}"
    try:
        _ip("netns", "add", ns)
        _ip("link", "add", host, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", ns)
        for cmd in ([], ["ip", "netns", "exec", ns]):
            dev = peer if cmd else host
            subprocess.run([*cmd, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1"], check=True,
                           capture_output=True, timeout=20)
        _ip("link", "set", host, "mtu", "65535", "up")  # the simulator's few jumbo frames fit
        _ip("-n", ns, "link", "set", peer, "mtu", "65535", "up")
        time.sleep(0.5)  # link-up chatter, if any, is over before counters are read
        yield ns, host, peer
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", host], capture_output=True, timeout=20)


def _counters(dev: str, ns: str | None = None) -> dict[str, int]:
    names = ("rx_packets", "rx_dropped", "tx_packets", "tx_dropped")
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["cat"] + [
        f"/sys/class/net/{dev}/statistics/{n}" for n in names]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=20).stdout.split()
    return dict(zip(names, map(int, out)))


def run_rate(ns: str, host: str, peer: str, pcap: Path, rate: int, count: int, max_seconds: float,
             buffer_mb: float) -> dict:
    me = [sys.executable, __file__]
    before_host, before_peer = _counters(host), _counters(peer, ns)
    out = CACHE / f"flows-{rate}.csv"
    recv = subprocess.Popen([*me, "_receive", host, str(buffer_mb), str(out)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = recv.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"receiver did not start: {line} {recv.stderr.read()[-800:]}")
        send = subprocess.run(["ip", "netns", "exec", ns, *me, "_send", peer, str(pcap), str(rate), str(count),
                               str(max_seconds)], capture_output=True, text=True, timeout=max_seconds + 120)
        if send.returncode != 0:
            raise RuntimeError(f"sender failed: {send.stderr[-800:]}")
        sent = json.loads(send.stdout.strip().splitlines()[-1])
        time.sleep(1.0)  # the receiver drains its buffer
        got, err = recv.communicate("stop\n", timeout=120)
        received = json.loads(got.strip().splitlines()[-1])
    finally:
        if recv.poll() is None:
            recv.kill()
    after_host, after_peer = _counters(host), _counters(peer, ns)
    if_rx = after_host["rx_packets"] - before_host["rx_packets"]
    if_drop = (after_host["rx_dropped"] - before_host["rx_dropped"]
               + after_peer["tx_dropped"] - before_peer["tx_dropped"])
    row = {"offered_pps": rate, **sent, "if_rx": if_rx, "if_drop": if_drop, **received}
    # libpcap's ps_ifdrop is the interface's rx_dropped, already in kernel_drops: count it once
    pcap_ifdrop = received["pcap_stats"]["ps_ifdrop"] or 0
    row["unaccounted"] = sent["sent"] - received["captured"] - received["kernel_drops"] - (if_drop - pcap_ifdrop)
    row["drop_pct"] = 100.0 * received["kernel_drops"] / sent["sent"] if sent["sent"] else 0.0
    return row


def table(rows: list[dict]) -> str:
    cols = ["buffer_mb", "offered_pps", "sent", "sent_pps", "if_rx", "if_drop", "captured", "kernel_drops",
            "drop_pct", "parsed", "flows", "unaccounted", "recv_pps", "pkts_per_cpu_s", "cpu_s"]

    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
        if isinstance(v, int):
            return f"{v:,}"
        return "" if v is None else str(v)

    widths = {c: max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols), "  ".join("-" * widths[c] for c in cols)]
    lines += ["  ".join(fmt(r.get(c)).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "_send":
        iface, pcap, rate, count, secs = sys.argv[2:7]
        print(json.dumps(sender(iface, pcap, float(rate), int(count), float(secs))))
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "_receive":
        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(receiver(sys.argv[2], float(sys.argv[3]), sys.argv[4])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="10000,30000,60000,120000", help="offered frames/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=5.0, help="frames per rate = rate x seconds (bounded)")
    ap.add_argument("--max-packets", type=int, default=300_000,
                    help="most frames sent per rate (beyond the pcap's 277k, it is replayed again)")
    ap.add_argument("--buffer-mb", default="0,2",
                    help="kernel capture buffers to try, MiB (0 = LiveSource's default, 32; 2 = libpcap's)")
    ap.add_argument("--out", default="live.json", help="result file name under benchmarks/results/")
    ap.add_argument("--sim-seconds", type=float, default=100.0, help="length of the simulated capture replayed")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    missing = [t for t in ("ip",) if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        sys.exit(f"the live benchmark needs root (a network namespace, AF_PACKET) and iproute2; missing: "
                 f"{missing or 'root'}")

    from flowsentinel.simulate import TrafficSimulator

    CACHE.mkdir(parents=True, exist_ok=True)
    pcap = CACHE / f"sim-{args.sim_seconds:g}s-seed0.pcap"
    if not pcap.exists():
        n = TrafficSimulator(duration_s=args.sim_seconds, seed=0).write_pcap(pcap)
        log.info("simulated %d packets into %s", n, pcap)
    rows = []
    with veth_pair() as (ns, host, peer):
        for buffer_mb in [float(b) for b in args.buffer_mb.split(",")]:
            for rate in [int(r) for r in args.rates.split(",")]:
                count = min(args.max_packets, int(rate * args.seconds))
                log.info("offered %d frames/s, %d frames, buffer %s MiB", rate, count, buffer_mb or "default")
                rows.append(run_rate(ns, host, peer, pcap, rate, count, max_seconds=args.seconds * 3 + 10,
                                     buffer_mb=buffer_mb))
                print(table(rows[-1:]), flush=True)
    load = os.getloadavg()
    result = {
        "benchmark": "live",
        "setup": "veth pair into a fresh network namespace; AF_PACKET sender (Python, 1 ms ticks) in the "
                 "namespace; LiveSource -> FlowStreamer -> to_csv on the host end, own process",
        "pcap": {"path": str(pcap.relative_to(REPO)), "sim_seconds": args.sim_seconds, "seed": 0},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
                    "kernel": platform.release(), "loadavg_after": load},
        "args": vars(args),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(table(rows))
    bad = [r["offered_pps"] for r in rows if r["unaccounted"] != 0]
    print(f"every frame accounted for: {'yes' if not bad else f'NO at offered {bad}'}")
    print(f"written to {RESULTS / args.out}")


if __name__ == "__main__":
    main()
