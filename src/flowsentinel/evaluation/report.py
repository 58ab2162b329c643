"""The evaluation document: strict JSON and a self-contained HTML report.

The evaluation JSON document
----------------------------
The training CLI writes one document per evaluation as ``OUT.json``
(:func:`write_json`) and passes the same dict to :func:`write_report`::

    {
      "rows": 123456,                   # test rows evaluated
      "excluded_training_rows": 789,    # rows left out of the evaluation
                                        #   because they (or exact duplicates)
                                        #   were used for training
      "benign_prevalence": 0.99,        # π used for precision_at_prevalence
      "data": {...},                    # free-form: sources, cleaning and split
                                        #   summary; shown as nested tables
      "detectors": {
        "rf": {
          # every key of detection_metrics(...):
          "rows", "attacks", "benign", "threshold", "precision", "recall",
          "f1", "fpr", "roc_auc", "pr_auc", "precision_at_prevalence",
          "benign_prevalence", "confusion_matrix": {"tn", "fp", "fn", "tp"},
          "per_family": {family: recall}, "per_family_support": {family: n},
          # optional:
          "curves": curves(...),                    # {"roc": {...}, "pr": {...}}
          "feature_importances": {feature: float},
          "seeds": summarize_runs(...)              # {"n_runs", "seeds",
                                                    #  "f1": {"mean", "std", ...}, ...}
        },
        "cnn": {...}
      }
    }

Only ``detectors`` is needed; every other part is optional and the report
says which parts are missing instead of failing.  Undefined numbers are
``null``.  Extra keys are kept in the JSON; extra top-level scalars (such as
``"bundle": path``) are listed in the report's header, other extras ignored.

The HTML page needs no network and no JavaScript: CSS is inline and the PNG
plots are written next to it in ``<stem>_files/``.  Every string from the
document (detector names, family names, data summary) is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ._json import to_jsonable

__all__ = ["COMPARED_METRICS", "write_json", "write_report"]

log = logging.getLogger(__name__)

#: Rows of the comparison table: (metrics key, label shown).
COMPARED_METRICS: tuple[tuple[str, str], ...] = (
    ("precision", "Precision (test rows)"),
    ("recall", "Recall (TPR)"),
    ("f1", "F1"),
    ("fpr", "FPR (benign flagged)"),
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC (average precision)"),
    ("precision_at_prevalence", "Precision at stated prevalence"),
    ("threshold", "Threshold (score ≥)"),
)

#: Top-level keys of the evaluation document that have their own place.
_DOCUMENT_KEYS = frozenset(
    {"rows", "excluded_training_rows", "benign_prevalence", "data", "detectors"}
)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem;
       color: #1d2733; line-height: 1.45; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem;
     margin-top: 2.2rem; }
table { border-collapse: collapse; margin: .8rem 0; }
th, td { border: 1px solid #d0d7de; padding: .3rem .7rem; vertical-align: top; }
th { background: #f3f5f8; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.seed { display: block; color: #57606a; font-size: .85em; }
.missing { color: #8a5a00; background: #fff8e5; border-left: 4px solid #e3b341;
           padding: .4rem .8rem; }
.note { color: #57606a; font-size: .92em; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #d0d7de; }
figcaption { color: #57606a; font-size: .9em; }
pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; }
"""


# --- JSON -----------------------------------------------------------------------


def write_json(path: Path, results: Mapping[str, Any]) -> Path:
    """Write ``results`` as strict JSON (no NaN/Infinity tokens).

    Parameters
    ----------
    path : Path
        File to write; parent folders are created.
    results : dict
        The evaluation document (see the module docstring).  NumPy values are
        converted and non-finite floats written as ``null``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(results), indent=2, allow_nan=False, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    log.info("wrote evaluation JSON to %s", path)
    return path


# --- small HTML helpers (pure) ----------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A number as table text: ints with separators, floats to 4 places."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"
    return _esc(value)


def _table(headers: list[str] | None, rows: list[list[str]]) -> str:
    """An HTML table; headers and cells must already be escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers) if headers else ""
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _num_cell(inner: str) -> str:
    return f'<td class="num">{inner}</td>'


def _missing(message: str) -> str:
    return f'<p class="missing">{_esc(message)}</p>'


def _figure(src: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="{_esc(quote(src))}" alt="{_esc(alt)}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _seed_text(detector: Mapping[str, Any], key: str, nested: str | None = None) -> str:
    """``mean ± std (n seeds)`` for a metric, or '' when no seed summary exists."""
    seeds = detector.get("seeds")
    if not isinstance(seeds, Mapping):
        return ""
    leaf: Any = seeds
    for part in (nested, key) if nested else (key,):
        leaf = leaf.get(part, {}) if isinstance(leaf, Mapping) else {}
    if not isinstance(leaf, Mapping) or leaf.get("mean") is None:
        return ""
    std = "n/a" if leaf.get("std") is None else _fmt(float(leaf["std"]))
    mean = _fmt(float(leaf["mean"]))
    return f'<span class="seed">{mean} ± {std} ({_fmt(leaf.get("n"))} seeds)</span>'


def _slug(name: str, index: int) -> str:
    """A safe, unique file-name part for a detector name."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40]
    return f"{index}-{cleaned}" if cleaned else str(index)


# --- sections ------------------------------------------------------------------------


def _header(results: Mapping[str, Any], title: str, names: list[str]) -> str:
    pi = results.get("benign_prevalence")
    facts = [
        ("Test rows evaluated", _fmt(results.get("rows"))),
        ("Rows excluded because they were used for training",
         _fmt(results.get("excluded_training_rows"))),
        ("Benign prevalence assumed (π)", _fmt(pi)),
        ("Detectors", _esc(", ".join(names)) if names else "none"),
    ]
    # other top-level scalars the caller chose to add (e.g. the bundle path)
    facts += [
        (_esc(key), _esc(value) if isinstance(value, str) else _fmt(value))
        for key, value in results.items()
        if key not in _DOCUMENT_KEYS and not isinstance(value, (Mapping, list))
    ]
    facts.append(("Generated", _esc(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))))
    rows = [[f"<th>{label}</th>", f"<td>{value}</td>"] for label, value in facts]
    return f"<h1>{_esc(title)}</h1>" + _table(None, rows)


def _comparison(detectors: Mapping[str, Mapping[str, Any]], pi: Any) -> str:
    names = list(detectors)
    if not names:
        return "<h2>Comparison</h2>" + _missing("The results hold no detectors.")
    rows = []
    for key, label in COMPARED_METRICS:
        cells = [f"<th>{_esc(label)}</th>"]
        for name in names:
            value = detectors[name].get(key)
            cells.append(_num_cell(_fmt(value) + _seed_text(detectors[name], key)))
        rows.append(cells)
    without = [n for n in names if not isinstance(detectors[n].get("seeds"), Mapping)]
    notes = [
        '<p class="note">Each cell: the reported run; below it, mean ± sample std over '
        "seeds where a seed summary exists. Precision at stated prevalence re-weights "
        f"precision to {_esc(_fmt(pi))} benign traffic: the CICIDS-2017 sample is about "
        "12% benign, so flagging every flow already scores F1 0.92–0.94 there, while real "
        "networks are 80–99% benign.</p>"
    ]
    if without:
        notes.append(_missing("No seed summary (mean ± std) for: " + ", ".join(without) + "."))
    headers = ["Metric"] + [_esc(n) for n in names]
    return "<h2>Comparison</h2>" + _table(headers, rows) + "".join(notes)


def _valid_curve(curve: Any, x: str, y: str) -> bool:
    return (
        isinstance(curve, Mapping)
        and isinstance(curve.get(x), list)
        and isinstance(curve.get(y), list)
        and len(curve[x]) == len(curve[y]) > 0
    )


def _curve_section(
    detectors: Mapping[str, Mapping[str, Any]],
    files: Path,
    rel: str,
    plots: Any,
) -> str:
    roc, pr, roc_points, pr_points = {}, {}, {}, {}
    for name, det in detectors.items():
        curves = det.get("curves") if isinstance(det.get("curves"), Mapping) else {}
        if _valid_curve(curves.get("roc"), "fpr", "tpr"):
            roc[name] = curves["roc"]
            roc_points[name] = (det.get("fpr"), det.get("recall"))
        if _valid_curve(curves.get("pr"), "recall", "precision"):
            pr[name] = curves["pr"]
            pr_points[name] = (det.get("recall"), det.get("precision"))
    parts = ["<h2>ROC and precision-recall curves</h2>"]
    if roc:
        plots.plot_roc(roc, files / "roc.png", operating_points=roc_points)
        parts.append(_figure(f"{rel}/roc.png", "ROC curves",
                             "ROC, false-positive rate on a log scale."))
    if pr:
        share = _attack_share(detectors)
        plots.plot_pr(pr, files / "pr.png", operating_points=pr_points, attack_share=share)
        parts.append(_figure(f"{rel}/pr.png", "Precision-recall curves",
                             "Precision-recall on the test rows' class mix."))
    for label, have in (("ROC", roc), ("precision-recall", pr)):
        lacking = [n for n in detectors if n not in have]
        if lacking:
            parts.append(_missing(f"No {label} curve for: {', '.join(lacking)} "
                                  "(no curves in the results, or one class only)."))
    return "".join(parts)


def _attack_share(detectors: Mapping[str, Mapping[str, Any]]) -> float | None:
    for det in detectors.values():
        rows, attacks = det.get("rows"), det.get("attacks")
        if isinstance(rows, int) and isinstance(attacks, int) and rows > 0:
            return attacks / rows
    return None


def _confusion_section(
    detectors: Mapping[str, Mapping[str, Any]], files: Path, rel: str, plots: Any
) -> str:
    keys = ("tn", "fp", "fn", "tp")
    matrices = {
        name: det["confusion_matrix"]
        for name, det in detectors.items()
        if isinstance(det.get("confusion_matrix"), Mapping)
        and all(isinstance(det["confusion_matrix"].get(k), int) for k in keys)
    }
    parts = ["<h2>Confusion matrices</h2>"]
    if matrices:
        plots.plot_confusion_matrices(matrices, files / "confusion_matrices.png")
        parts.append(_figure(f"{rel}/confusion_matrices.png", "Confusion matrices",
                             "Counts and share of each actual class at the operating threshold."))
    lacking = [n for n in detectors if n not in matrices]
    if lacking:
        parts.append(_missing("No confusion matrix for: " + ", ".join(lacking) + "."))
    return "".join(parts)


def _family_section(
    detectors: Mapping[str, Mapping[str, Any]], files: Path, rel: str, plots: Any
) -> str:
    recall = {
        name: det["per_family"]
        for name, det in detectors.items()
        if isinstance(det.get("per_family"), Mapping) and det["per_family"]
    }
    parts = ["<h2>Recall per attack family</h2>"]
    if not recall:
        return "".join(parts) + _missing(
            "No per-family recall in the results (metrics computed without families)."
        )
    support: dict[str, int] = {}
    for det in detectors.values():
        if isinstance(det.get("per_family_support"), Mapping):
            for family, n in det["per_family_support"].items():
                support.setdefault(family, n)
    plots.plot_per_family_recall(recall, files / "per_family_recall.png", support=support)
    parts.append(_figure(f"{rel}/per_family_recall.png", "Recall per attack family",
                         "Share of each family's test flows flagged as attacks."))
    families = list(dict.fromkeys(f for rec in recall.values() for f in rec))
    names = list(recall)
    rows = []
    for family in families:
        cells = [f"<th>{_esc(family)}</th>", _num_cell(_fmt(support.get(family)))]
        for name in names:
            value = recall[name].get(family)
            cells.append(_num_cell(_fmt(value) + _seed_text(detectors[name], family, "per_family")))
        rows.append(cells)
    parts.append(_table(["Family", "Test rows"] + [_esc(n) for n in names], rows))
    lacking = [n for n in detectors if n not in recall]
    if lacking:
        parts.append(_missing("No per-family recall for: " + ", ".join(lacking) + "."))
    return "".join(parts)


def _importance_section(
    detectors: Mapping[str, Mapping[str, Any]], files: Path, rel: str, plots: Any
) -> str:
    parts = ["<h2>Feature importances (top 20)</h2>"]
    lacking = []
    for index, (name, det) in enumerate(detectors.items()):
        importances = det.get("feature_importances")
        if not isinstance(importances, Mapping) or not importances:
            lacking.append(name)
            continue
        file_name = f"importances_{_slug(name, index)}.png"
        plots.plot_feature_importances(importances, files / file_name,
                                       title=f"{name}: top 20 features")
        parts.append(_figure(f"{rel}/{file_name}", f"Feature importances of {name}",
                             f"{name}: the 20 most important features."))
    if lacking:
        parts.append(_missing("No feature importances for: " + ", ".join(lacking) + "."))
    return "".join(parts)


def _render_value(value: Any, depth: int = 0) -> str:
    """Free-form data as nested tables; everything escaped."""
    if isinstance(value, Mapping):
        if not value:
            return "<em>empty</em>"
        if depth >= 4:
            return f"<pre>{_esc(json.dumps(to_jsonable(value), indent=2))}</pre>"
        rows = [[f"<th>{_esc(k)}</th>", f"<td>{_render_value(v, depth + 1)}</td>"]
                for k, v in value.items()]
        return _table(None, rows)
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            return ", ".join(_fmt(v) if not isinstance(v, str) else _esc(v) for v in value)
        return f"<pre>{_esc(json.dumps(to_jsonable(value), indent=2))}</pre>"
    return _esc(value) if isinstance(value, str) else _fmt(value)


def _data_section(results: Mapping[str, Any]) -> str:
    data = results.get("data")
    if not isinstance(data, Mapping) or not data:
        return "<h2>Data</h2>" + _missing("No data or cleaning summary in the results.")
    return "<h2>Data</h2>" + _render_value(data)


def _detectors(results: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The ``detectors`` part, checked with errors that name the culprit."""
    if not isinstance(results, Mapping):
        raise TypeError(
            f"results must be a dict (the evaluation document), got {type(results).__name__}"
        )
    detectors = results.get("detectors", {})
    if not isinstance(detectors, Mapping):
        raise ValueError(
            'results["detectors"] must map detector names to metrics dicts, '
            f"got {type(detectors).__name__}"
        )
    for name, det in detectors.items():
        if not isinstance(det, Mapping):
            raise ValueError(
                f'results["detectors"][{name!r}] must be a metrics dict, got {type(det).__name__}'
            )
    return {str(name): det for name, det in detectors.items()}


# --- public --------------------------------------------------------------------------


def write_report(
    out_html: Path, results: Mapping[str, Any], *, title: str = "FlowSentinel evaluation"
) -> Path:
    """Write the evaluation report as one HTML page plus PNG plots.

    Parameters
    ----------
    out_html : Path
        HTML file to write; plots go to ``<stem>_files/`` beside it.
    results : dict
        The evaluation document (see the module docstring); may be read back
        from ``OUT.json``.  Optional parts that are absent are reported as
        missing in their section.
    title : str, keyword-only
        Page heading.

    Returns
    -------
    Path
        ``out_html``.

    Raises
    ------
    TypeError, ValueError
        If ``results`` or its ``detectors`` part has the wrong shape.
    """
    from . import plots  # matplotlib is imported only when a report is written

    results = to_jsonable(results)  # also what a reader of OUT.json would get
    detectors = _detectors(results)
    out_html = Path(out_html)
    files = out_html.parent / f"{out_html.stem}_files"
    files.mkdir(parents=True, exist_ok=True)
    rel = files.name
    sections = [
        _header(results, title, list(detectors)),
        _comparison(detectors, results.get("benign_prevalence")),
    ]
    if detectors:  # without any, the comparison section already says so
        sections += [
            _curve_section(detectors, files, rel, plots),
            _confusion_section(detectors, files, rel, plots),
            _family_section(detectors, files, rel, plots),
            _importance_section(detectors, files, rel, plots),
        ]
    sections.append(_data_section(results))
    body = "\n".join(sections)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )
    out_html.write_text(page, encoding="utf-8")
    log.info("wrote evaluation report to %s (plots in %s)", out_html, files)
    return out_html
