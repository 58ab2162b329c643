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
    return parser


def _setup_logging(args: argparse.Namespace) -> bool | None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return False if args.quiet else None


def _train(args, progress):
    from flowsentinel.data.loader import load_flows
    from flowsentinel.training import TrainConfig, parse_detectors, train_bundle

    config = TrainConfig(
        detectors=parse_detectors(args.detectors), split=args.split,
        seeds=tuple(range(args.seed, args.seed + max(args.seeds, 1))),
        target_fpr=args.target_fpr, benign_prevalence=args.benign_prevalence,
        include_identifiers=args.include_identifiers, attempted=args.attempted, hold_out_family=args.hold_out,
    )
    config.validate()
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    progress = _setup_logging(args)
    from flowsentinel.data.loader import DataError
    from flowsentinel.models.bundle import BundleError
    from flowsentinel.models.transform import MissingFeatureError
    from flowsentinel.schema import UnknownLabelError

    handlers = {"train": _train, "evaluate": _evaluate, "predict": _predict}
    try:
        handlers[args.command](args, progress)
    except (DataError, UnknownLabelError, MissingFeatureError, BundleError, FileExistsError,
            FileNotFoundError, ValueError) as exc:
        print(f"flowsentinel {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
