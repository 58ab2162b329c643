#!/usr/bin/env python3
"""FlowSentinel benchmarks: scoring throughput and training cost.

Prints a table per benchmark and writes JSON under ``benchmarks/results/``.

* ``scoring``: flows/s of each detector's ``score()`` at batch sizes 1, 64 and
  10 000, beside the raw engine calls in the same run: ONNX Runtime's
  ``session.run`` (what the wrapper calls), scikit-learn ``predict_proba`` on
  the same forest and the torch forward pass of the same CNN.  Ratios, not
  absolute numbers, are what carries across machines.
* ``training``: wall time and peak memory (max RSS of a fresh process) to load,
  clean and train at 10 k, 100 k and 1 M rows resampled from the shared
  sample.  Resampled rows get a small multiplicative jitter on their timing
  columns so they are distinct flows (exact copies would be removed by
  de-duplication and the benchmark would measure 35 k rows again).

* ``capture``: packets/s (CPU time, one process) of the flow meter on a
  synthetic pcap, per semantics profile; and pcap -> CSV end to end in a
  fresh process pinned to one core (wall, CPU, peak RSS) on a simulated pcap,
  through the library call and through ``flowsentinel capture``.  The live
  capture benchmark is ``benchmarks/live.py`` (needs root).

* ``writedelay``: in live use, how long after its last packet the meter writes a flow
  (the moment it can be scored), under the dataset's rule and with ``closed_wait_s`` (what
  ``serve`` uses for ``pcap:``/``iface:``), on a simulated capture replayed on the packet
  clock (10 ms batches, the wall-clock timer every second), per protocol; and how many flows
  the two rules meter differently.

* ``serve`` (only when named): ``flowsentinel serve`` end to end — flows/s and
  flow→WebSocket latency at offered loads beside raw batch scoring of the same
  bundle (``benchmarks/serve.py``; run that directly for its options).

Usage::

    python benchmarks/run.py [scoring] [training] [capture] [writedelay] [serve] [--rows 10000,100000,1000000]
        [--detectors rf,cnn] [--train-detectors rf] [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import CACHE, HERE, REPO, RESULTS, sample_dir


def machine() -> dict:
    import onnxruntime
    import sklearn
    import torch

    return {
        "python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
        "sklearn": sklearn.__version__, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
    }


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return "" if v is None else str(v)


def _rate(fn, X: np.ndarray, batch: int, min_seconds: float = 1.0, max_calls: int = 200_000) -> dict:
    """Flows/s and µs per call of ``fn`` over batches of ``batch`` rows."""
    n = len(X)
    starts = np.arange(0, max(n - batch, 0) + 1, batch) if batch < n else np.array([0])
    fn(X[:batch])  # warm up
    calls, flows = 0, 0
    t0 = time.perf_counter()
    while True:
        s = int(starts[calls % len(starts)])
        fn(X[s:s + batch])
        calls += 1
        flows += min(batch, n - s)
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds or calls >= max_calls:
            break
    return {"flows_per_s": flows / elapsed, "us_per_call": 1e6 * elapsed / calls, "calls": calls}


# --- scoring ---------------------------------------------------------------------------------

def bench_scoring(detectors: list[str], repeat: int) -> dict:
    import torch
    from sklearn.ensemble import RandomForestClassifier

    from flowsentinel import schema
    from flowsentinel.data.clean import clean_flows
    from flowsentinel.data.loader import load_flows
    from flowsentinel.data.split import make_split
    from flowsentinel.models import make_detector
    from flowsentinel.models.transform import FlowTransform
    from flowsentinel.training import attack_labels

    frame = load_flows(sample_dir(), progress=False).frame
    frame, _ = clean_flows(frame, schema.FEATURES)
    split = make_split(frame, "grouped", seed=0)
    transform = FlowTransform(schema.FEATURES).fit(frame.iloc[split.train])
    y = attack_labels(frame)
    Xtr, Xval = transform.transform(frame.iloc[split.train]), transform.transform(frame.iloc[split.val])
    X = transform.transform(frame)  # every row, as a stream to score
    X = np.ascontiguousarray(np.tile(X, (max(1, 20_000 // len(X) + 1), 1))[:20_000])
    Xraw = frame[list(schema.FEATURES)].to_numpy()[: min(len(frame), 20_000)]

    rows: list[dict] = []
    for name in detectors:
        det = make_detector(name, random_state=0)
        det.fit(Xtr, y[split.train], Xval, y[split.val])
        engines = {"wrapper score()": det.score,
                   "onnxruntime run": lambda A, d=det: d._session.run(d._outputs, {d._input: A})}
        if name == "rf":
            forest = RandomForestClassifier(
                n_estimators=det.n_estimators, max_depth=det.max_depth, min_samples_leaf=det.min_samples_leaf,
                max_features=det.max_features, class_weight=det.class_weight, n_jobs=-1, random_state=0,
            ).fit(Xtr, y[split.train])
            engines["sklearn predict_proba"] = forest.predict_proba
        else:
            net = det.network_.eval()

            members = list(net) if isinstance(net, torch.nn.ModuleList) else [net]

            def forward(A, members=members):  # what the ONNX graph computes: the members' mean P(attack)
                with torch.no_grad():
                    x = torch.from_numpy(A)
                    return torch.stack([torch.sigmoid(m(x).reshape(-1)) for m in members]).mean(0)

            engines["torch forward"] = forward
        for batch in (1, 64, 10_000):
            for engine, fn in engines.items():
                best = max((_rate(fn, X, batch) for _ in range(repeat)), key=lambda r: r["flows_per_s"])
                rows.append({"detector": name, "batch": batch, "engine": engine, **best})
        for batch in (1, 10_000):
            best = max((_rate(transform.transform, Xraw, batch) for _ in range(repeat)), key=lambda r: r["flows_per_s"])
            rows.append({"detector": "transform", "batch": batch, "engine": "FlowTransform.transform", **best})
    # wrapper overhead over the engine it calls
    for r in rows:
        if r["engine"] == "wrapper score()":
            raw = next(o for o in rows if o["detector"] == r["detector"] and o["batch"] == r["batch"]
                       and o["engine"] == "onnxruntime run")
            r["overhead_vs_ort"] = raw["flows_per_s"] / r["flows_per_s"] - 1
        if r["engine"] in ("sklearn predict_proba", "torch forward"):
            ours = next(o for o in rows if o["detector"] == r["detector"] and o["batch"] == r["batch"]
                        and o["engine"] == "wrapper score()")
            r["wrapper_speedup"] = ours["flows_per_s"] / r["flows_per_s"]
    print(table(rows, ["detector", "batch", "engine", "flows_per_s", "us_per_call", "overhead_vs_ort", "wrapper_speedup"]))
    return {"benchmark": "scoring", "machine": machine(), "rows": rows}


# --- training --------------------------------------------------------------------------------

_JITTER = ("Duration", "IAT", "Active", "Idle", "/s")


def resampled_csv(n_rows: int, seed: int = 0) -> Path:
    """A CSV of ``n_rows`` flows drawn with replacement from the sample, timing columns jittered."""
    import pandas as pd

    from flowsentinel import schema

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"resampled-{n_rows}-{seed}.csv"
    if path.exists():
        return path
    files = sorted(sample_dir().glob("*.csv"))
    base = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    rng = np.random.default_rng(seed)
    out = base.iloc[rng.integers(0, len(base), n_rows)].reset_index(drop=True)
    cols = [c for c in schema.FEATURES if any(k in c for k in _JITTER)]
    noise = np.exp(rng.normal(0.0, 0.02, size=(n_rows, len(cols))))
    out[cols] = out[cols].to_numpy(dtype=np.float64) * noise
    tmp = path.with_suffix(".tmp")
    out.to_csv(tmp, index=False)
    tmp.rename(path)
    return path


def _train_job(csv: str, detectors: str) -> dict:
    """Run inside a fresh process: load, clean, train one seed; report time and peak RSS."""
    import logging
    import tempfile

    from flowsentinel.data.loader import load_flows
    from flowsentinel.training import TrainConfig, train_bundle

    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    loaded = load_flows(csv, progress=False)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(detectors=tuple(detectors.split(",")), split="grouped", seeds=(0,))
        train_bundle(loaded.frame, Path(tmp) / "bundle", config, progress=False)
    t2 = time.perf_counter()
    return {"load_s": t1 - t0, "clean_train_s": t2 - t1, "total_s": t2 - t0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def bench_training(sizes: list[int], detectors: list[str]) -> dict:
    rows = []
    for n in sizes:
        csv = resampled_csv(n)
        for det in detectors:
            cmd = [sys.executable, __file__, "_train_job", str(csv), det]
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
            if proc.returncode != 0:
                rows.append({"rows": n, "detectors": det, "error": proc.stderr.strip().splitlines()[-1:]})
                continue
            rows.append({"rows": n, "detectors": det, **json.loads(proc.stdout.strip().splitlines()[-1])})
            print(table(rows[-1:], ["rows", "detectors", "load_s", "clean_train_s", "total_s", "peak_rss_mb"]), flush=True)
    print(table(rows, ["rows", "detectors", "load_s", "clean_train_s", "total_s", "peak_rss_mb"]))
    return {"benchmark": "training", "machine": machine(), "rows": rows}


# --- capture ---------------------------------------------------------------------------------

_E2E = {
    # what `flowsentinel capture --pcap F --out X.csv` does, as the library call (streamed to the CSV)
    "FlowStreamer.to_csv": "import sys\nfrom flowsentinel.capture import FlowStreamer\n"
                           "FlowStreamer(sys.argv[1], progress=False).to_csv(sys.argv[2])\n",
    # the same through one frame (what the CLI did before to_csv existed)
    "to_frame + write_flow_csv": "import sys\nfrom flowsentinel.capture import FlowStreamer, write_flow_csv\n"
                                 "write_flow_csv(FlowStreamer(sys.argv[1], progress=False).to_frame(), sys.argv[2])\n",
}


def bench_capture(n_packets: int, repeat: int, sim_seconds: float) -> dict:
    """Offline metering: packets per CPU-second in-process, and pcap -> CSV end to end per process.

    * metering rows: the tests' synthetic pcap, each semantics profile, best of ``repeat``;
    * end-to-end rows: a simulator pcap (``flowsentinel.simulate``, seed 0) to the release's
      CSV in a fresh process pinned to one core, start-up included: wall time, CPU time
      (user + system), peak RSS; best wall of ``repeat``.  The ``flowsentinel capture``
      row is the command line itself, whatever it imports at start-up.
    """
    import shutil
    import tempfile

    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(HERE))
    from capture.synth import synthetic_frames  # the tests' seeded traffic generator
    from meters import _pin, run_measured

    from flowsentinel.capture import FlowStreamer, PcapFileSource, write_pcap
    from flowsentinel.simulate import TrafficSimulator

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.pcap"
        write_pcap(path, synthetic_frames(n_packets, seed=11))
        FlowStreamer(path).to_frame()  # warm up
        for profile in ("cicids2017", "corrected"):
            best, flows = 0.0, 0
            for _ in range(repeat):
                cpu, wall = time.process_time(), time.perf_counter()
                s = FlowStreamer(path, profile=profile)
                flows = sum(len(c) for c in s)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                best = max(best, s.stats.packets / cpu)
            rows.append({"meter": f"flowsentinel ({profile})", "packets": n_packets, "flows": flows,
                         "packets_per_cpu_s": best, "wall_s": wall})
    print(table(rows, ["meter", "packets", "flows", "packets_per_cpu_s", "wall_s"]))

    CACHE.mkdir(parents=True, exist_ok=True)
    sim_pcap = CACHE / f"capture-sim-{sim_seconds:g}s-seed0.pcap"
    if not sim_pcap.exists():
        TrafficSimulator(duration_s=sim_seconds, seed=0).write_pcap(sim_pcap)
    packets = sum(len(b) for b in PcapFileSource(sim_pcap))
    exe = shutil.which("flowsentinel", path=str(Path(sys.executable).parent)) or "flowsentinel"
    commands = {name: [sys.executable, "-c", code] for name, code in _E2E.items()}
    commands["flowsentinel capture (CLI)"] = [exe, "capture", "-q", "--pcap"]
    e2e = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "flows.csv"
        for name, cmd in commands.items():
            argv = [*cmd, str(sim_pcap), "--out", str(out)] if "CLI" in name else [*cmd, str(sim_pcap), str(out)]
            runs = [run_measured([*_pin(), *argv], timeout=600) for _ in range(repeat)]
            ok = [r for r in runs if r.get("ok")]
            if not ok:
                e2e.append({"path": name, "error": (runs[-1].get("error") or runs[-1].get("stderr", ""))[-300:]})
                continue
            best = min(ok, key=lambda r: r["wall_s"])
            e2e.append({"path": name, "packets": packets, "wall_s": best["wall_s"], "cpu_s": best["cpu_s"],
                        "packets_per_s": packets / best["wall_s"], "packets_per_cpu_s": packets / best["cpu_s"],
                        "peak_rss_mb": best["peak_rss_mb"],
                        "wall_s_all": [r["wall_s"] for r in ok], "cpu_s_all": [r["cpu_s"] for r in ok]})
    print(table(e2e, ["path", "packets", "wall_s", "cpu_s", "packets_per_s", "packets_per_cpu_s", "peak_rss_mb"]))
    return {"benchmark": "capture", "machine": {**machine(), "pinned_to_one_core": bool(_pin()),
                                                "loadavg_after": os.getloadavg()},
            "rows": rows, "end_to_end": {"pcap": str(sim_pcap.relative_to(REPO)), "sim_seconds": sim_seconds,
                                         "rows": e2e}}


def bench_write_delay(sim_seconds: float, closed_wait_s: float, seed: int = 0) -> dict:
    """Seconds from a flow's last packet to the meter writing it, as a live capture would see it.

    The simulated capture is fed to the meter in 10 ms slices of its own clock with
    ``expire(now)`` once a second (what ``LiveSource`` does on the wall clock).  Only flows
    whose last packet falls in the first half are counted, so none is cut short by the
    capture's end (a flow's timeout ends at most 120 s after its last packet).
    """
    import pandas as pd

    from flowsentinel.capture import FlowMeter, PcapFileSource, decode_frames, flows_to_frame
    from flowsentinel.simulate import TrafficSimulator

    if sim_seconds < 240:
        raise SystemExit("writedelay needs --delay-seconds >= 240: flows ending in the first half must be "
                         "written (120 s timeout) before the capture ends")
    CACHE.mkdir(parents=True, exist_ok=True)
    pcap = CACHE / f"writedelay-sim-{sim_seconds:g}s-seed{seed}.pcap"
    if not pcap.exists():
        TrafficSimulator(duration_s=sim_seconds, seed=seed).write_pcap(pcap)
    packets = decode_frames(next(iter(PcapFileSource(pcap, batch_size=1 << 30))))
    columns = [f.name for f in dataclasses.fields(packets) if isinstance(getattr(packets, f.name), np.ndarray)]
    ts = packets.ts
    t0 = int(ts[0])
    cut = t0 + int(sim_seconds * 1e6 / 2)
    edges = np.searchsorted(ts, np.arange(t0, int(ts[-1]) + 10_001, 10_000), side="left")

    def replay(wait_s: float | None) -> pd.DataFrame:
        meter = FlowMeter(emit_interval_s=0.0, closed_wait_us=None if wait_s is None else int(wait_s * 1e6))
        parts, written, last_timer = [], [], t0
        for k in range(len(edges) - 1):
            a, b = int(edges[k]), int(edges[k + 1])
            now = t0 + (k + 1) * 10_000
            chunks = []
            if b > a:
                sub = dataclasses.replace(packets, **{c: getattr(packets, c)[a:b] for c in columns},
                                          frames=b - a, malformed_examples=[])
                chunks.append(meter.update(sub))
            if now - last_timer >= 1_000_000:
                chunks.append(meter.expire(now))
                last_timer = now
            for c in chunks:
                if len(c):
                    parts.append(c)
                    written.append(np.full(len(c), now, dtype=np.float64))
        c = meter.flush()
        parts.append(c)
        written.append(np.full(len(c), np.inf))
        flows = flows_to_frame(parts)
        flows["_written_us"] = np.concatenate(written)
        return flows

    rows, frames_by_rule = [], {}
    for rule, wait in (("dataset rule", None), (f"closed_wait {closed_wait_s:g} s", closed_wait_s)):
        flows = replay(wait)
        frames_by_rule[rule] = flows
        start = pd.to_datetime(flows["Timestamp"]).to_numpy().astype("datetime64[us]").astype(np.int64)
        last = start + flows["Flow Duration"].astype("int64")
        keep = pd.Series(last <= cut, index=flows.index)
        delay = pd.Series((flows["_written_us"].to_numpy() - last) / 1e6, index=flows.index)[keep]
        for proto, name in ((6, "TCP"), (17, "UDP"), (None, "all")):
            sel = keep[keep].index if proto is None else flows.index[keep & (flows["Protocol"] == proto)]
            d = delay.loc[sel].to_numpy()
            if not len(d):
                continue
            rows.append({"rule": rule, "protocol": name, "flows": len(d),
                         "p50_s": float(np.percentile(d, 50)), "p90_s": float(np.percentile(d, 90)),
                         "p99_s": float(np.percentile(d, 99)), "max_s": float(d.max()),
                         "within_5s": float((d <= 5).mean())})
    print(table(rows, ["rule", "protocol", "flows", "p50_s", "p90_s", "p99_s", "max_s", "within_5s"]))
    a, b = (f.drop(columns="_written_us").sort_values(["Flow ID", "Timestamp"]).reset_index(drop=True)
            for f in frames_by_rule.values())
    same = len(a) == len(b) and a.equals(b)
    print(f"flows metered: {len(a)} (dataset rule) vs {len(b)} (closed_wait); identical: {same}")
    return {"benchmark": "writedelay", "machine": machine(), "pcap": str(pcap.relative_to(REPO)),
            "packets": int(len(ts)), "sim_seconds": sim_seconds, "closed_wait_s": closed_wait_s,
            "rows": rows, "flows": {"dataset_rule": len(a), "closed_wait": len(b)}, "identical_flows": same}


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "_train_job":
        print(json.dumps(_train_job(sys.argv[2], sys.argv[3])))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="*", choices=("scoring", "training", "capture", "writedelay", "serve", []),
                    default=[])
    ap.add_argument("--packets", type=int, default=300_000, help="packets in the capture benchmark's pcap")
    ap.add_argument("--sim-seconds", type=float, default=100.0,
                    help="length of the simulated capture metered end to end (100 s: about 277k packets)")
    ap.add_argument("--detectors", default="rf,cnn", help="detectors for the scoring benchmark")
    ap.add_argument("--train-detectors", default="rf,cnn", help="detectors trained in the training benchmark")
    ap.add_argument("--rows", default="10000,100000,1000000", help="row counts for the training benchmark")
    ap.add_argument("--cnn-max-rows", type=int, default=100_000,
                    help="largest row count the CNN is trained at (CPU training on 1 M rows takes long)")
    ap.add_argument("--delay-seconds", type=float, default=300.0,
                    help="length of the simulated capture of the writedelay benchmark (flows ending in its first half count)")
    ap.add_argument("--closed-wait", type=float, default=2.0, help="closed_wait_s measured by writedelay (serve's default)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions per scoring measurement (best kept)")
    args = ap.parse_args()
    which = args.which or ["scoring", "training", "capture", "writedelay"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    if "scoring" in which:
        res = bench_scoring(args.detectors.split(","), args.repeat)
        (RESULTS / "scoring.json").write_text(json.dumps(res, indent=2))
    if "training" in which:
        sizes = [int(s) for s in args.rows.split(",")]
        rows = []
        for det in args.train_detectors.split(","):
            use = [n for n in sizes if det != "cnn" or n <= args.cnn_max_rows]
            rows += bench_training(use, [det])["rows"]
        res = {"benchmark": "training", "machine": machine(), "rows": rows}
        (RESULTS / "training.json").write_text(json.dumps(res, indent=2))
    if "capture" in which:
        res = bench_capture(args.packets, args.repeat, args.sim_seconds)
        (RESULTS / "capture.json").write_text(json.dumps(res, indent=2))
    if "writedelay" in which:
        res = bench_write_delay(args.delay_seconds, args.closed_wait)
        (RESULTS / "writedelay.json").write_text(json.dumps(res, indent=2))
    if "serve" in which:  # its own process: it starts servers and measures wall-clock latency
        subprocess.run([sys.executable, str(HERE / "serve.py")], check=True)
    print(f"results written to {RESULTS}")


if __name__ == "__main__":
    main()
