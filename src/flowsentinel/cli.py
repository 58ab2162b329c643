"""The ``flowsentinel`` command.  Thin: parses arguments, calls the packages."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from flowsentinel import __version__

log = logging.getLogger("flowsentinel")

EPILOG = """\
examples:
  flowsentinel train --data ../shared/data/cicids2017-improved-sample --out bundles/demo
  flowsentinel evaluate --bundle bundles/demo --data ../shared/data/cicids2017-improved-sample \\
      --json out/eval.json --report out/report.html
  flowsentinel predict --bundle bundles/demo --data flows.csv --out scored.csv
  flowsentinel simulate --out sim.pcap --seconds 120 --seed 1 --attacks portscan,ddos,botnet
  flowsentinel capture --pcap sim.pcap --out flows.csv
  flowsentinel serve --bundle bundles/demo --source simulate
"""


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowsentinel",
        description="Detect attacks in network flows (CICIDS-2017 features) with a Random Forest and a 1D-CNN.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"flowsentinel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    t = sub.add_parser("train", help="train detectors on labelled flows and write a model bundle",
                       description="Clean the flows, split them, fit the transform on training rows only, "
                       "train each detector for every seed, set each threshold on validation data for the "
                       "target false-positive rate, measure on test data, and write the bundle.")
    t.add_argument("--data", nargs="+", required=True, metavar="PATH",
                   help="CSV/Parquet files, folders or globs (either CICIDS-2017 release)")
    t.add_argument("--out", required=True, metavar="BUNDLE", help="bundle folder to write")
    t.add_argument("--detectors", default="rf,cnn", help="comma-separated detectors (default: rf,cnn)")
    t.add_argument("--split", choices=("stratified", "grouped"), default="grouped",
                   help="grouped keeps every conversation (5-tuple) in one part (default)")
    t.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    t.add_argument("--seeds", type=int, default=3, metavar="N",
                   help="train over N consecutive seeds and report mean and spread (default 3); "
                   "the bundle keeps the first seed's models")
    t.add_argument("--target-fpr", type=float, default=0.001,
                   help="false-positive rate the thresholds are set for on validation data (default 0.001)")
    t.add_argument("--benign-prevalence", type=float, default=0.99,
                   help="benign share assumed for prevalence-adjusted precision (default 0.99)")
    t.add_argument("--include-identifiers", action="store_true",
                   help="also use Src Port, Dst Port and Protocol as inputs (shortcuts on CICIDS-2017; recorded)")
    t.add_argument("--attempted", choices=("normal", "drop"), default="normal",
                   help="'… - Attempted' labels: treat as Normal (default) or drop")
    t.add_argument("--set", action="append", metavar="DETECTOR.PARAM=VALUE", dest="params",
                   help="a detector hyper-parameter, repeatable: e.g. --set rf.n_estimators=200 "
                   "--set cnn.n_members=1 (recorded in the manifest)")
    t.add_argument("--hold-out", metavar="FAMILY",
                   help="leave-one-family-out: keep every flow of this attack family (e.g. 'Botnet') out of "
                   "training and validation and test on it, as an unseen attack")
    t.add_argument("--cache", metavar="DIR", help="Parquet cache folder for parsed CSVs")
    t.add_argument("--overwrite", action="store_true", help="replace an existing bundle folder")
    _add_common(t)

    e = sub.add_parser("evaluate", help="measure a bundle's detectors on labelled flows",
                       description="Score labelled flows with every detector of the bundle and write metrics "
                       "(JSON) and optionally an HTML report with plots. Rows the bundle was trained or "
                       "calibrated on are left out and counted.")
    e.add_argument("--bundle", required=True, help="bundle folder")
    e.add_argument("--data", nargs="+", required=True, metavar="PATH", help="labelled CSV/Parquet files, folders or globs")
    e.add_argument("--json", required=True, metavar="OUT.json", help="metrics file to write")
    e.add_argument("--report", metavar="OUT.html", help="HTML report to write (PNG plots go beside it)")
    e.add_argument("--benign-prevalence", type=float, help="override the bundle's assumed benign share")
    e.add_argument("--include-training-rows", action="store_true",
                   help="do not leave out rows the bundle was trained on (numbers will be optimistic)")
    e.add_argument("--cache", metavar="DIR", help="Parquet cache folder for parsed CSVs")
    _add_common(e)

    p = sub.add_parser("predict", help="score flows with every detector of a bundle",
                       description="Write each flow's score and verdict from every detector as CSV.")
    p.add_argument("--bundle", required=True, help="bundle folder")
    p.add_argument("--data", nargs="+", required=True, metavar="FILE", help="flow CSV/Parquet (labels optional)")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="CSV to write")
    _add_common(p)

    c = sub.add_parser("capture", help="meter packets (a pcap/pcapng file or an interface) into a flow CSV",
                       description="Turn packets into bidirectional flows with the CICFlowMeter-exact meter and "
                       "write them with the improved release's header (unlabelled), ready for predict.")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--pcap", metavar="FILE", help="pcap or pcapng file to read")
    src.add_argument("--iface", metavar="NAME", help="network interface to capture (needs capture rights)")
    c.add_argument("--out", required=True, metavar="FLOWS.csv", help="flow CSV to write")
    c.add_argument("--bpf", metavar="EXPR", help="BPF filter expression, e.g. 'tcp or udp' (files and interfaces)")
    c.add_argument("--profile", choices=("cicids2017", "corrected"), default="cicids2017",
                   help="meter semantics: the dataset's meter, quirks included (default), or with them fixed")
    c.add_argument("--seconds", type=float, metavar="N", help="stop a live capture after N seconds (default: Ctrl-C)")
    c.add_argument("--closed-wait", type=float, metavar="S",
                   help="write a closed TCP connection (FIN both ways and the last ACK, or RST) once it has been "
                   "quiet S seconds, as 'serve' does (default: the dataset's rule, at the next SYN on its "
                   "5-tuple or 120 s after its first packet)")
    _add_common(c)

    s = sub.add_parser("simulate", help="write seeded, labelled simulated traffic as pcap or flow CSV",
                       description="Simulate benign traffic (web, DNS, SSH, bulk transfers, keep-alives) and "
                       "attacks of every CICIDS-2017 family. A .pcap holds the packets; a .csv holds the "
                       "metered flows with their labels, ready for train and evaluate.")
    s.add_argument("--out", required=True, metavar="FILE.pcap|FILE.csv", help="output file; its suffix picks the form")
    s.add_argument("--seconds", type=float, default=60.0, metavar="N", help="length of the capture (default 60)")
    s.add_argument("--seed", type=int, default=0, help="random seed: same seed, same packets (default 0)")
    s.add_argument("--attacks", default="all", metavar="LIST",
                   help="comma-separated attacks, 'all' (default) or 'none': " + ",".join(_attack_names()))
    s.add_argument("--benign-rate", type=float, default=5.0, metavar="R",
                   help="benign sessions started per second (default 5)")
    s.add_argument("--profile", choices=("cicids2017", "corrected"), default="cicids2017",
                   help="meter semantics for .csv output (default cicids2017)")
    _add_common(s)

    v = sub.add_parser("serve", help="score a live flow source with every detector and serve the dashboard",
                       description="Run the live pipeline (source -> micro-batches -> every detector -> alert "
                       "store) behind a REST API, a WebSocket feed and the dashboard. Sources: simulate[:SEED] "
                       "(default), replay:FILE[@RATE][,loop], pcap:FILE[@SPEED], iface:NAME. Settings can also "
                       "come from FLOWSENTINEL_* environment variables (docs/live.md).")
    v.add_argument("--bundle", metavar="BUNDLE", help="bundle folder (default: $FLOWSENTINEL_BUNDLE or bundles/demo, which is trained on simulated "
                   "traffic the first time when missing)")
    v.add_argument("--source", metavar="SPEC", help="flow source (default: simulate)")
    v.add_argument("--host", help="address to bind (default 127.0.0.1; any other needs FLOWSENTINEL_API_TOKEN)")
    v.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    v.add_argument("--db", metavar="PATH", help="SQLite alert store (default out/live.db)")
    v.add_argument("--bpf", metavar="EXPR", help="BPF filter for pcap:/iface: sources, e.g. 'not port 8000' "
                   "(capturing the interface the dashboard is served on)")
    _add_common(v)
    return parser


def _attack_names() -> list[str]:
    from flowsentinel.simulate import ATTACKS

    return list(ATTACKS)


def _setup_logging(args: argparse.Namespace) -> bool | None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return False if args.quiet else None


def _train(args, progress):
    from flowsentinel.data.loader import load_flows
    from flowsentinel.training import TrainConfig, parse_detectors, parse_params, train_bundle

    config = TrainConfig(
        detectors=parse_detectors(args.detectors), split=args.split,
        seeds=tuple(range(args.seed, args.seed + max(args.seeds, 1))),
        target_fpr=args.target_fpr, benign_prevalence=args.benign_prevalence,
        include_identifiers=args.include_identifiers, attempted=args.attempted, hold_out_family=args.hold_out,
        detector_params=parse_params(args.params),
    )
    config.validate()
    if len(config.seeds) < 3:  # the user's choice: say what it costs where it was made
        log.warning("training over %d seed(s): the mean and spread are only meaningful over at least 3 "
                    "(--seeds 3, the default)", len(config.seeds))
    loaded = load_flows(args.data, cache_dir=args.cache, progress=progress)
    path = train_bundle(loaded.frame, args.out, config, load_summary=loaded.report.to_dict(),
                        overwrite=args.overwrite, progress=progress)
    print(f"bundle written to {path}")


def _evaluate(args, progress):
    from flowsentinel.data.loader import load_flows
    from flowsentinel.evaluation.report import write_json, write_report
    from flowsentinel.models.bundle import load_bundle
    from flowsentinel.training import evaluate_bundle

    bundle = load_bundle(args.bundle)
    loaded = load_flows(args.data, cache_dir=args.cache, progress=progress)
    results = evaluate_bundle(bundle, loaded.frame, benign_prevalence=args.benign_prevalence,
                              exclude_training_rows=not args.include_training_rows,
                              load_summary=loaded.report.to_dict())
    write_json(Path(args.json), results)
    print(f"metrics written to {args.json} ({results['rows']} flows; "
          f"{results['excluded_training_rows']} training rows left out)")
    for name, m in results["detectors"].items():
        print(f"  {name}: precision {_num(m['precision'])}  recall {_num(m['recall'])}  F1 {_num(m['f1'])}  "
              f"FPR {_num(m['fpr'], 5)}  precision@{100 * results['benign_prevalence']:.0f}% benign "
              f"{_num(m['precision_at_prevalence'])}")
    if args.report:
        write_report(Path(args.report), results)
        print(f"report written to {args.report}")


def _num(x, digits: int = 4) -> str:
    """A metric for the terminal; undefined metrics (None) print as n/a."""
    return "n/a" if x is None else f"{x:.{digits}f}"


def _predict(args, progress):
    from flowsentinel.data.loader import load_flows
    from flowsentinel.models.bundle import load_bundle
    from flowsentinel.training import score_flows

    bundle = load_bundle(args.bundle)
    loaded = load_flows(args.data, require_labels=False, progress=progress)
    out = score_flows(bundle, loaded.frame)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)
    flagged = {name: int(out[f"{name}_attack"].sum()) for name in bundle.detectors}
    print(f"{len(out)} flows scored to {args.out}; flagged as attack: "
          + ", ".join(f"{n} {k}" for n, k in flagged.items()))


def _capture(args, progress):
    from flowsentinel.capture import (
        FlowStreamer,
        LiveSource,
        PcapFileSource,
    )
    from flowsentinel.capture.bpf import BpfFilter

    if args.pcap:
        if args.seconds is not None:
            raise ValueError("--seconds applies to --iface only; a file is read to its end")
        source = PcapFileSource(args.pcap)
        if args.bpf:
            source = BpfFilter(source, args.bpf)
    else:
        source = LiveSource(args.iface, bpf_filter=args.bpf, duration=args.seconds)
    if args.closed_wait is not None and not args.closed_wait >= 0:
        raise ValueError(f"--closed-wait {args.closed_wait:g}: expected a number of seconds >= 0")
    streamer = FlowStreamer(source, profile=args.profile, progress=progress, closed_wait_s=args.closed_wait)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    n = streamer.to_csv(args.out)  # streamed: never one table of every flow
    st = streamer.stats
    drops = f", {st.kernel_drops} dropped by the kernel" if args.iface else ""
    print(f"{n} flows from {st.packets} packets written to {args.out} "
          f"({st.malformed} malformed, {st.non_ip} non-IP frames skipped{drops})")


def _simulate(args, progress):
    from flowsentinel.capture import write_flow_csv
    from flowsentinel.simulate import TrafficSimulator, simulate_flows

    out = Path(args.out)
    kind = out.suffix.lower()
    if kind not in (".pcap", ".csv"):
        raise ValueError(f"--out {out}: the file name must end in .pcap (packets) or .csv (labelled flows)")
    sim = TrafficSimulator(duration_s=args.seconds, attacks=args.attacks, benign_sessions_per_s=args.benign_rate,
                           seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == ".pcap":
        n = sim.write_pcap(out)
        print(f"{n} packets ({args.seconds:g} s, seed {args.seed}) written to {out}")
        return
    frame = simulate_flows(sim, profile=args.profile)
    labels = frame.pop("Label")
    write_flow_csv(frame, out, labels=labels)
    attacks = int((labels != "BENIGN").sum())
    print(f"{len(frame)} labelled flows ({attacks} attack) from {len(sim)} packets written to {out}")


def _serve(args, progress):
    from pydantic import ValidationError

    from flowsentinel.models.bundle import BundleError
    from flowsentinel.service.server import serve
    from flowsentinel.service.settings import Settings

    overrides = {k: v for k, v in (("bundle", args.bundle), ("source", args.source), ("host", args.host),
                                   ("port", args.port), ("db", args.db), ("bpf", args.bpf)) if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ValueError("; ".join(_setting_error(e) for e in exc.errors())) from None
    settings.check_security()
    if not (settings.bundle / "manifest.json").is_file():
        if settings.bundle != Settings.model_fields["bundle"].default:
            # An explicit folder that holds no bundle is most likely a typo: say so, train nothing.
            raise BundleError(f"no bundle at {settings.bundle} (no manifest.json); train one with "
                              f"'flowsentinel train --data ... --out {settings.bundle}', or leave --bundle "
                              f"and FLOWSENTINEL_BUNDLE unset to use the demo bundle")
        if settings.bundle.exists() and any(settings.bundle.iterdir()):
            raise BundleError(f"{settings.bundle} exists but holds no bundle (no manifest.json); "
                              "move it away and run again to train the demo bundle there")
        from flowsentinel.stream.bootstrap import ensure_demo_bundle

        print(f"no bundle at {settings.bundle}: training the demo bundle (rf + cnn) on simulated traffic; "
              "once, under a minute", flush=True)
        ensure_demo_bundle(settings.bundle, progress=progress)
    serve(settings, announce=lambda line: print(line, flush=True),
          log_level="debug" if args.verbose else "warning" if args.quiet else "info")


def _setting_error(err: dict) -> str:
    """A settings error naming the option or the environment variable it came from."""
    name = ".".join(map(str, err["loc"]))
    options = {"bundle": "--bundle", "source": "--source", "host": "--host", "port": "--port", "db": "--db",
               "bpf": "--bpf"}
    where = f"{options[name]} or FLOWSENTINEL_{name.upper()}" if name in options else f"FLOWSENTINEL_{name.upper()}"
    return f"{where}: {err['msg']}"


# Errors a user can act on: printed as one line, exit code 2.  Looked up only in the
# modules that were imported, so that a command does not import torch just to catch
# an error it cannot raise (capture and simulate never load a model).
_USER_ERRORS = {
    "flowsentinel.capture.live": "LiveCaptureError",
    "flowsentinel.data.loader": "DataError",
    "flowsentinel.models.bundle": "BundleError",
    "flowsentinel.models.transform": "MissingFeatureError",
    "flowsentinel.schema": "UnknownLabelError",
}


def _user_errors() -> tuple[type[BaseException], ...]:
    found = [getattr(sys.modules[mod], name) for mod, name in _USER_ERRORS.items() if mod in sys.modules]
    return (*found, FileExistsError, FileNotFoundError, ValueError, OSError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    progress = _setup_logging(args)
    handlers = {"train": _train, "evaluate": _evaluate, "predict": _predict, "capture": _capture,
                "simulate": _simulate, "serve": _serve}
    try:
        handlers[args.command](args, progress)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"flowsentinel {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
