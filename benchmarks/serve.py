#!/usr/bin/env python3
"""End-to-end benchmark of ``flowsentinel serve``: flows/s and flow→WebSocket-client latency.

For each offered load (default 1 k, 10 k and 50 k flows/s, then "max": the
replay as fast as the pipeline takes it) a fresh ``flowsentinel serve``
process replays the shared CICIDS-2017 sample in a loop (``replay:FILE@RATE,loop``)
through every detector of the bundle, with one WebSocket client connected.
Measured over ``--seconds`` after ``--warmup``:

* ``e2e_flows_per_s``: flows scored and committed per second (the server's
  own ``flows_scored`` counter, read from the frames the client receives);
* ``client_latency_ms_p50/p99``: for every verdict a frame carries, the time
  from the flow entering the pipeline (``ingest_ts``) to the client holding the
  parsed frame — batching, scoring, the SQLite commit, the ≤ 10 frames/s pacing
  and the socket included (a frame carries the newest 100 verdicts, so above ~1 000 flows/s these are the
  freshest flows of each frame interval);
* ``alert_latency_ms_p50/p99``: the same for every alert the frames carry (all of
  them up to 500 per frame);
* ``pipeline_latency_ms_p50/p99``: ``scored_ts - ingest_ts`` of the same verdicts.

``--benign-share 0.9`` replays the sample's benign and attack rows in that
proportion; as it is the sample is ~12 % benign, so nearly every flow is an alert
written to the store: the worst case for the store, not a typical network.

Beside them, in the same run, the raw batch-scoring rate of the same bundle
(``Bundle.score_frame`` on 4 096-flow batches: transform + every detector, one
thread, no I/O) and the overhead ratio e2e / raw.

Usage::

    python benchmarks/serve.py [--bundle BUNDLE] [--loads 1000,10000,50000,max] [--seconds 10] [--ws-fps 10]
        [--benign-share 0.9] [--out results/serve.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import CACHE, REPO, RESULTS, git_commit, sample_dir


def replay_file(benign_share: float | None = None, seed: int = 0) -> tuple[Path, int, float]:
    """The sample as one canonical Parquet file (cached): its row count and benign share.

    ``benign_share`` None replays the sample as it is (~12 % benign: nearly every flow is an
    alert, the store's worst case).  A share such as 0.9 keeps the row count and draws benign
    and attack rows with replacement in that proportion (real networks are 80-99 % benign).
    """
    import pandas as pd

    from flowsentinel import schema
    from flowsentinel.data.loader import load_flows

    CACHE.mkdir(parents=True, exist_ok=True)
    name = "serve-replay" + ("" if benign_share is None else f"-benign{benign_share:g}")
    path = CACHE / f"{name}.parquet"
    if path.exists():
        frame = pd.read_parquet(path)
    else:
        frame = load_flows([sample_dir("the serve benchmark")], progress=False).frame
        if benign_share is not None:
            rng = np.random.default_rng(seed)
            normal = frame[schema.FAMILY].to_numpy() == schema.NORMAL
            benign, attack = np.flatnonzero(normal), np.flatnonzero(~normal)
            n_benign = int(round(len(frame) * benign_share))
            rows = np.concatenate([rng.choice(benign, n_benign), rng.choice(attack, len(frame) - n_benign)])
            frame = frame.iloc[np.sort(rows)].reset_index(drop=True)
        frame.to_parquet(path)
    share = float((frame[schema.FAMILY] == schema.NORMAL).mean())
    return path, len(frame), share


def raw_rate(bundle_path: Path, parquet: Path, batch: int = 4096, seconds: float = 5.0) -> float:
    """Flows/s of ``Bundle.score_frame`` on ``batch``-row slices of the sample (best of the run)."""
    import pandas as pd

    from flowsentinel.models.bundle import load_bundle

    bundle = load_bundle(bundle_path)
    frame = pd.read_parquet(parquet)
    bundle.score_frame(frame.iloc[:batch])
    flows, t0 = 0, time.perf_counter()
    i = 0
    while time.perf_counter() - t0 < seconds:
        part = frame.iloc[i:i + batch]
        bundle.score_frame(part)
        flows += len(part)
        i = (i + batch) % max(len(frame) - batch, 1)
    return flows / (time.perf_counter() - t0)


def start_server(bundle: Path, source: str, db: Path, log: Path, fps: float) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), FLOWSENTINEL_WS_MAX_FPS=str(fps))
    env.pop("FLOWSENTINEL_API_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "flowsentinel", "serve", "--bundle", str(bundle),
                             "--source", source, "--port", "0", "--db", str(db), "-q"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"serve exited {proc.returncode}: {log.read_text()[-2000:]}")
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())
        if m:
            return proc, f"127.0.0.1:{m.group(1)}"
        time.sleep(0.1)
    proc.kill()
    sys.exit("serve did not start in 120 s")


def stop_server(proc: subprocess.Popen, log: Path, grace: float = 30.0) -> float | None:
    """SIGTERM, then the seconds the server took to exit; None (and a kill, and its log) past ``grace``."""
    t0 = time.monotonic()
    proc.terminate()
    try:
        proc.wait(grace)
        return time.monotonic() - t0
    except subprocess.TimeoutExpired:
        print(f"serve did not exit {grace:.0f} s after SIGTERM; killed. Its log ends:\n"
              f"{log.read_text()[-3000:]}", file=sys.stderr)
        proc.kill()
        proc.wait()
        return None


async def measure(host: str, warmup: float, seconds: float) -> dict:
    import websockets

    client, pipeline, alert_client, marks = [], [], [], []
    async with websockets.connect(f"ws://{host}/ws/live", max_size=None) as ws:
        t_start = time.time()
        while True:
            frame = json.loads(await ws.recv())
            now = time.time()
            if frame["type"] != "update":
                continue
            if now - t_start < warmup:
                continue
            marks.append((now, frame["stats"]["flows_scored"], frame["stats"]["flows_shed"],
                          frame["stats"]["queue_depth"], frame["dropped"]))
            for v in frame["verdicts"]:
                client.append(now - v["ingest_ts"])
                pipeline.append(v["scored_ts"] - v["ingest_ts"])
            for a in frame["alerts"]:
                alert_client.append(now - a["ingest_ts"])
            if now - t_start >= warmup + seconds:
                break
    (t0, n0, *_), (t1, n1, shed, _, _) = marks[0], marks[-1]
    c, p, a = np.array(client) * 1e3, np.array(pipeline) * 1e3, np.array(alert_client) * 1e3
    return {
        "e2e_flows_per_s": (n1 - n0) / (t1 - t0), "frames": len(marks),
        "frames_per_s": (len(marks) - 1) / (t1 - t0),
        "client_latency_ms_p50": float(np.percentile(c, 50)), "client_latency_ms_p99": float(np.percentile(c, 99)),
        "alert_latency_ms_p50": float(np.percentile(a, 50)) if len(a) else None,
        "alert_latency_ms_p99": float(np.percentile(a, 99)) if len(a) else None,
        "alerts_sampled": len(a),
        "pipeline_latency_ms_p50": float(np.percentile(p, 50)),
        "pipeline_latency_ms_p99": float(np.percentile(p, 99)),
        "verdicts_sampled": len(c), "flows_shed": shed, "queue_depth_max": max(m[3] for m in marks),
        "client_dropped": sum(m[4] for m in marks),
    }


def table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
        return "" if v is None else str(v)

    widths = {c: max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(fmt(r.get(c)).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=CACHE / "serve-bundle",
                    help="bundle to serve (default: a demo bundle trained on simulator traffic, cached)")
    ap.add_argument("--loads", default="1000,10000,50000,max", help="offered flows/s, comma-separated; 'max' = "
                    "as fast as the pipeline takes them")
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement per load")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds ignored at the start of each load")
    ap.add_argument("--ws-fps", type=float, default=10.0,
                    help="the server's WebSocket frame cap (default 10, the product's; the flow→client p99 "
                    "cannot be below about 1/fps)")
    ap.add_argument("--benign-share", type=float, default=None,
                    help="replay benign and attack rows of the sample in this proportion (e.g. 0.9) instead of "
                    "as they are (~12%% benign)")
    ap.add_argument("--out", type=Path, default=RESULTS / "serve.json", help="JSON file to write")
    args = ap.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    from flowsentinel.models.bundle import load_bundle
    from flowsentinel.stream.bootstrap import ensure_demo_bundle

    bundle = ensure_demo_bundle(args.bundle, progress=True)
    manifest = load_bundle(bundle).manifest
    detectors = list(manifest["detectors"])
    params = {d: manifest["detectors"][d].get("metadata", {}).get("params") for d in detectors}
    parquet, n_rows, benign = replay_file(args.benign_share)
    print(f"replay: {n_rows:,} flows, {benign:.1%} benign")
    raw = raw_rate(bundle, parquet)
    print(f"raw batch scoring (Bundle.score_frame, 4096-flow batches, {'+'.join(detectors)}): {raw:,.0f} flows/s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for load in args.loads.split(","):
            spec = f"replay:{parquet}" + ("" if load == "max" else f"@{float(load):g}") + ",loop"
            proc, host = start_server(bundle, spec, Path(tmp) / f"live-{load}.db",
                                      Path(tmp) / f"serve-{load}.log", args.ws_fps)
            try:
                res = asyncio.run(measure(host, args.warmup, args.seconds))
            finally:
                shutdown_s = stop_server(proc, Path(tmp) / f"serve-{load}.log")
            res.update(offered=load, ratio_to_raw=res["e2e_flows_per_s"] / raw, ws_max_fps=args.ws_fps,
                       shutdown_s=shutdown_s)
            rows.append(res)
            print(table(rows[-1:], ["offered", "e2e_flows_per_s", "client_latency_ms_p50",
                                    "client_latency_ms_p99", "pipeline_latency_ms_p99"]), flush=True)
    cols = ["offered", "e2e_flows_per_s", "ratio_to_raw", "client_latency_ms_p50", "client_latency_ms_p99",
            "alert_latency_ms_p99", "pipeline_latency_ms_p50", "pipeline_latency_ms_p99", "frames_per_s",
            "flows_shed", "queue_depth_max", "client_dropped"]
    print()
    print(table(rows, cols))
    import onnxruntime

    out = {"benchmark": "serve", "bundle": str(bundle), "detectors": detectors, "detector_params": params,
           "replay_rows": n_rows, "replay_benign_share": benign,
           "raw_batch_flows_per_s": raw, "seconds": args.seconds, "warmup": args.warmup, "ws_max_fps": args.ws_fps,
           "load_average_at_start": os.getloadavg(), "commit": git_commit(),
           "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "onnxruntime": onnxruntime.__version__},
           "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
