#!/usr/bin/env python3
"""Flow meters side by side: FlowSentinel's meter vs the ``cicflowmeter`` and ``nfstream`` packages.

One run, one simulated pcap (a few hundred thousand packets from
``flowsentinel.simulate``), every meter in its own subprocess pinned to one
CPU core, each writing its flows to CSV the way its command line does.
Measured per meter: wall time, packets/s (packets in the pcap / wall time,
start-up included) and net of start-up (the wall time of the same command on
a one-packet pcap subtracted), peak RSS of the process, and the number of
flows it wrote.  Ours runs as the library call behind ``flowsentinel capture``.

The peers are installed into a throwaway virtual environment under
``benchmarks/.cache/peers`` (git-ignored), never into the project.  A peer
that fails to install or crashes is recorded with its error instead of
stopping the run.  ``cicflowmeter`` (a scapy-based Python meter) manages a
few hundred packets per second, so by default it meters the first
``--prefix`` packets of the same pcap, and the table has a row for every
meter on that prefix too: the ratio against it is taken on identical input.

Usage::

    .venv/bin/python benchmarks/meters.py [--seconds 100] [--seed 0] [--prefix 30000]
        [--full-cicflowmeter] [--timeout 900]

Writes ``benchmarks/results/meters.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import ctypes.util
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
CACHE = HERE / ".cache"
PEERS = CACHE / "peers"
sys.path.insert(0, str(REPO / "src"))

log = logging.getLogger("benchmarks.meters")

#: Peer packages and the versions the runner needs; cicflowmeter 0.2.0 writes no flows with scapy >= 2.6.
PEER_REQUIREMENTS = ["cicflowmeter", "nfstream", "scapy==2.5.0"]

_OURS = """
import sys
from flowsentinel.capture import FlowStreamer
# pcap -> the release's CSV, streamed chunk by chunk, as the library does it; the command line's own
# start-up (it imports torch for the model commands) is measured by `benchmarks/run.py capture`
FlowStreamer(sys.argv[1], progress=False).to_csv(sys.argv[2])
"""

_NFSTREAM = """
import sys
from nfstream import NFStreamer
# statistical features on (what a CICFlowMeter-like meter computes), no nDPI dissection, one meter
# process; CICFlowMeter's 120 s flow timeout as both nfstream timeouts
s = NFStreamer(source=sys.argv[1], statistical_analysis=True, n_dissections=0, n_meters=1,
               idle_timeout=120, active_timeout=120)
print(s.to_csv(path=sys.argv[2]))
"""


def _pin() -> list[str]:
    """Prefix that pins a command to one core (the last one), when taskset exists."""
    taskset = shutil.which("taskset")
    cores = os.cpu_count() or 1
    return [taskset, "-c", str(cores - 1)] if taskset else []


def measure(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run ``cmd`` and time it (the caller reads its CPU time and peak RSS from RUSAGE_CHILDREN)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    return {"ok": proc.returncode == 0, "returncode": proc.returncode, "wall_s": wall,
            "stdout": out.decode(errors="replace")[-2000:], "stderr": err.decode(errors="replace")[-2000:]}


def run_measured(cmd: list[str], timeout: float) -> dict:
    """:func:`measure` in a fresh helper process, so RUSAGE_CHILDREN is this command's alone."""
    helper = (f"import json,resource,sys;sys.path.insert(0,{str(HERE)!r});from meters import measure;"
              "r=measure(json.loads(sys.argv[1]),float(sys.argv[2]));"
              "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
              "r.update(cpu_s=u.ru_utime+u.ru_stime,peak_rss_mb=u.ru_maxrss/1024);print(json.dumps(r))")
    proc = subprocess.run([sys.executable, "-c", helper, json.dumps(cmd), str(timeout)],
                          capture_output=True, text=True, check=False)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"ok": False, "error": f"benchmark helper failed: {proc.stderr[-500:]}"}


def ensure_peers() -> dict[str, str | None]:
    """Create the throwaway venv and install the peers; name → error (None when installed)."""
    py = PEERS / "bin" / "python"
    if not py.exists():
        log.info("creating %s", PEERS)
        venv.EnvBuilder(with_pip=True, clear=True).create(PEERS)
    errors: dict[str, str | None] = {}
    for req in PEER_REQUIREMENTS:
        name = req.split("=")[0]
        check = subprocess.run([str(py), "-m", "pip", "show", name], capture_output=True, text=True, check=False)
        pinned = "==" in req and f"Version: {req.split('==')[1]}\n" not in check.stdout
        if check.returncode != 0 or pinned:
            log.info("pip install %s into %s", req, PEERS)
            proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet", req], capture_output=True,
                                  text=True, check=False)
            errors[name] = None if proc.returncode == 0 else proc.stderr.strip()[-800:] or "pip failed"
        else:
            errors[name] = None
    return errors


def _csv_rows(path: Path) -> int | None:
    if not path.exists():
        return None
    with open(path, "rb") as fh:
        lines = sum(1 for _ in fh)
    return max(0, lines - 1)


def bench_meters(pcap: Path, packets: int, label: str, meters: list[str], install: dict, timeout: float,
                 work: Path, startup: dict[str, float]) -> list[dict]:
    pin = _pin()
    rows = []
    for meter in meters:
        out = work / f"{label}-{meter}.csv"
        out.unlink(missing_ok=True)
        row = {"pcap": label, "packets": packets, "meter": meter}
        if meter != "flowsentinel" and install.get(meter):
            rows.append({**row, "error": f"install failed: {install[meter]}"})
            continue
        log.info("%s on %s (%d packets)", meter, label, packets)
        r = run_measured([*pin, *_command(meter, pcap, out)], timeout)
        if not r.get("ok"):
            rows.append({**row, "error": r.get("error") or f"exit {r.get('returncode')}: "
                         f"{(r.get('stderr') or '').strip()[-400:]}"})
            continue
        flows = _csv_rows(out)
        if not flows:  # a peer that "succeeds" without writing a flow (cicflowmeter without libpcap) did not meter
            rows.append({**row, "flows": flows, "error": "wrote no flows: "
                         f"{(r.get('stderr') or '').strip()[-400:] or 'no error output'}"})
            continue
        start = startup.get(meter, 0.0)
        rows.append({**row, "wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "packets_per_s": packets / r["wall_s"],
                     "startup_s": start,
                     "packets_per_s_net": packets / r["wall_s"] if r["wall_s"] <= start
                     else packets / (r["wall_s"] - start),
                     "peak_rss_mb": r["peak_rss_mb"], "flows": flows})
    return rows


def _command(meter: str, pcap: Path, out: Path) -> list[str]:
    if meter == "flowsentinel":
        return [sys.executable, "-c", _OURS, str(pcap), str(out)]
    if meter == "cicflowmeter":
        return [str(PEERS / "bin" / "cicflowmeter"), "-f", str(pcap), "-c", str(out)]
    return [str(PEERS / "bin" / "python"), "-c", _NFSTREAM, str(pcap), str(out)]


def startup_times(tiny: Path, meters: list[str], install: dict, timeout: float, work: Path) -> dict[str, float]:
    """Wall time of each meter on a one-packet pcap: interpreter, imports, set-up."""
    out = {}
    for meter in meters:
        if meter != "flowsentinel" and install.get(meter):
            continue
        r = run_measured([*_pin(), *_command(meter, tiny, work / f"startup-{meter}.csv")], timeout)
        if r.get("ok"):
            out[meter] = r["wall_s"]
    return out


def ratios(rows: list[dict]) -> dict:
    """Our packets/s over each peer's, per pcap (only where both ran): wall and net of start-up."""
    out = {}
    for label in sorted({r["pcap"] for r in rows}):
        ours = next((r for r in rows if r["pcap"] == label and r["meter"] == "flowsentinel"
                     and "packets_per_s" in r), None)
        for r in rows:
            if ours and r["pcap"] == label and r["meter"] != "flowsentinel" and "packets_per_s" in r:
                out[f"flowsentinel/{r['meter']} ({label})"] = {
                    "wall": ours["packets_per_s"] / r["packets_per_s"],
                    "net_of_startup": ours["packets_per_s_net"] / r["packets_per_s_net"]}
    return out


def table(rows: list[dict]) -> str:
    cols = ["pcap", "meter", "packets", "flows", "wall_s", "startup_s", "packets_per_s", "packets_per_s_net",
            "peak_rss_mb", "error"]

    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
        if isinstance(v, int):
            return f"{v:,}"
        return "" if v is None else str(v)[:70]

    widths = {c: max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols), "  ".join("-" * widths[c] for c in cols)]
    lines += ["  ".join(fmt(r.get(c)).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=100.0, help="simulated capture length (default 100 s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prefix", type=int, default=30_000,
                    help="packets of the same pcap that every meter also meters (cicflowmeter only this)")
    ap.add_argument("--full-cicflowmeter", action="store_true",
                    help="also run cicflowmeter on the whole pcap (about 2 ms per packet)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds before a meter run is given up")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from flowsentinel.capture.pcapfile import write_pcap
    from flowsentinel.simulate import TrafficSimulator

    work = CACHE / "meters"
    work.mkdir(parents=True, exist_ok=True)
    sim = TrafficSimulator(duration_s=args.seconds, seed=args.seed)
    full = work / f"sim-{args.seconds:g}s-seed{args.seed}.pcap"
    prefix = work / f"sim-{args.seconds:g}s-seed{args.seed}-first{args.prefix}.pcap"
    n_full = sim.write_pcap(full)
    n_prefix = write_pcap(prefix, sim._packets[:args.prefix])
    log.info("pcap: %s, %d packets (%.0f MB)", full, n_full, full.stat().st_size / 1e6)

    tiny = work / "one-packet.pcap"
    write_pcap(tiny, sim._packets[:1])

    install = ensure_peers()
    if ctypes.util.find_library("pcap") is None or shutil.which("tcpdump") is None:
        log.warning("cicflowmeter reads pcaps through scapy, which needs libpcap and the tcpdump binary to "
                    "filter them; without them it writes no flows (Debian: apt-get install libpcap0.8 tcpdump)")
    meters = ["flowsentinel", "nfstream", "cicflowmeter"]
    startup = startup_times(tiny, meters, install, args.timeout, work)
    rows = bench_meters(prefix, n_prefix, f"first {n_prefix:,}", meters, install, args.timeout, work, startup)
    full_meters = ["flowsentinel", "nfstream"] + (["cicflowmeter"] if args.full_cicflowmeter else [])
    rows += bench_meters(full, n_full, f"all {n_full:,}", full_meters, install, args.timeout, work, startup)

    result = {
        "pcap": {"path": str(full.relative_to(REPO)), "packets": n_full, "seconds": args.seconds, "seed": args.seed,
                 "bytes": full.stat().st_size, "prefix_packets": n_prefix},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
                    "pinned_to_one_core": bool(_pin())},
        "peer_versions": _peer_versions(),
        "install_errors": {k: v for k, v in install.items() if v},
        "rows": rows,
        "ratios_packets_per_s": ratios(rows),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "meters.json").write_text(json.dumps(result, indent=2) + "\n")
    print(table(rows))
    for k, v in result["ratios_packets_per_s"].items():
        print(f"{k}: {v['wall']:,.1f}x (wall), {v['net_of_startup']:,.1f}x (net of start-up)")
    print(f"written to {RESULTS / 'meters.json'}")


def _peer_versions() -> dict[str, str]:
    py = PEERS / "bin" / "python"
    out = {}
    for name in ("cicflowmeter", "nfstream", "scapy"):
        proc = subprocess.run([str(py), "-m", "pip", "show", name], capture_output=True, text=True, check=False)
        out[name] = next((ln.split(":", 1)[1].strip() for ln in proc.stdout.splitlines()
                          if ln.startswith("Version:")), "not installed")
    return out


if __name__ == "__main__":
    main()
