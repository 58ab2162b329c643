"""write_report / write_json: files exist, text is escaped, gaps do not crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flowsentinel.evaluation import (
    curves,
    detection_metrics,
    summarize_runs,
    write_json,
    write_report,
)

EVIL_DETECTOR = "<script>alert('d')</script>"
EVIL_FAMILY = '<img src=x onerror="alert(1)">'


def _detector(rng: np.random.Generator, shift: float, families: list[str] | None = None) -> dict:
    n = 300
    fam = rng.choice(families or ["Normal", "DoS", "PortScan"], n)
    y = (fam != "Normal").astype(int)
    scores = np.clip(rng.random(n) * 0.7 + shift * y, 0, 1)
    metrics = detection_metrics(y, scores, 0.5, fam)
    metrics["curves"] = curves(y, scores)
    runs = [{"seed": s, **detection_metrics(y, np.clip(rng.random(n) + shift * y, 0, 1), 0.5, fam)}
            for s in range(3)]
    metrics["seeds"] = summarize_runs(runs)
    return metrics


@pytest.fixture(scope="module")
def full_results() -> dict:
    rng = np.random.default_rng(7)
    rf = _detector(rng, 0.5)
    rf["feature_importances"] = {f"feature {i}": float(v) for i, v in enumerate(rng.random(30))}
    return {
        "rows": 300,
        "excluded_training_rows": 4,
        "benign_prevalence": 0.99,
        "data": {"sources": ["Monday.csv"], "cleaning": {"duplicates": 3}},
        "bundle": "bundles/<demo>",
        "detectors": {"rf": rf, "cnn": _detector(rng, 0.3)},
    }


@pytest.fixture(scope="module")
def full_report(tmp_path_factory, full_results) -> Path:
    """The full report, written once for the tests that only read it."""
    return write_report(tmp_path_factory.mktemp("report") / "eval.html", full_results)


def _png_names(out: Path) -> set[str]:
    return {p.name for p in (out.parent / f"{out.stem}_files").glob("*.png")}


def test_full_report_writes_html_and_non_empty_pngs(full_report):
    out = full_report
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    files = out.parent / "eval_files"
    expected = {"roc.png", "pr.png", "confusion_matrices.png", "per_family_recall.png"}
    assert expected <= _png_names(out)
    assert any(name.startswith("importances_") for name in _png_names(out))
    for png in files.glob("*.png"):
        assert png.stat().st_size > 1000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="eval_files/{png.name}"' in html


def test_report_is_self_contained(full_report):
    html = full_report.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "http://" not in html and "https://" not in html


def test_comparison_table_shows_both_detectors_and_seed_spread(full_report):
    html = full_report.read_text(encoding="utf-8")
    for label in ("Precision", "Recall", "F1", "FPR", "ROC-AUC", "PR-AUC",
                  "Precision at stated prevalence", "Threshold"):
        assert label in html
    assert "<th>rf</th>" in html and "<th>cnn</th>" in html
    assert "± " in html and "(3 seeds)" in html
    assert "bundles/&lt;demo&gt;" in html  # extra top-level scalar, escaped


def test_malicious_names_are_escaped(tmp_path):
    rng = np.random.default_rng(3)
    det = _detector(rng, 0.4, families=["Normal", EVIL_FAMILY, "DoS"])
    det["feature_importances"] = {"<b>bold</b>": 0.5, "$\\frac{1}{$": 0.2}
    results = {"detectors": {EVIL_DETECTOR: det, "$x^$ _hidden": det},
               "data": {"<i>key</i>": "<u>value</u>"}}
    out = write_report(tmp_path / "r.html", results, title="<h1>t</h1>")
    html = out.read_text(encoding="utf-8")
    raws = (EVIL_DETECTOR, EVIL_FAMILY, "<b>bold</b>", "<i>key</i>", "<u>value</u>", "<h1>t</h1>")
    for raw in raws:
        assert raw not in html
    assert "&lt;script&gt;alert(&#x27;d&#x27;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<script" not in html.lower()
    assert all(".." not in name and "<" not in name for name in _png_names(tmp_path / "r.html"))


def test_single_detector_without_optional_parts_reports_what_is_missing(tmp_path):
    metrics = detection_metrics([0, 1, 1, 0], [0.2, 0.8, 0.6, 0.7], 0.5)
    out = write_report(tmp_path / "r.html", {"detectors": {"rf": metrics}})
    html = out.read_text(encoding="utf-8")
    assert "No ROC curve for: rf" in html
    assert "No precision-recall curve for: rf" in html
    assert "No feature importances for: rf" in html
    assert "No seed summary" in html
    assert "No per-family recall" in html
    assert "No data or cleaning summary" in html
    assert _png_names(tmp_path / "r.html") == {"confusion_matrices.png"}


def test_one_class_curves_and_empty_detectors_do_not_crash(tmp_path):
    metrics = detection_metrics([1, 1], [0.2, 0.8], 0.5, ["DoS", "DoS"])
    metrics["curves"] = curves([1, 1], [0.2, 0.8])  # roc is None
    html = write_report(tmp_path / "a.html", {"detectors": {"rf": metrics}}).read_text()
    assert "No ROC curve for: rf" in html and "n/a" in html
    empty = write_report(tmp_path / "b.html", {"detectors": {}}).read_text()
    assert "hold no detectors" in empty and "<img" not in empty


def test_report_from_json_round_trip(tmp_path, full_results):
    path = write_json(tmp_path / "out.json", full_results)
    loaded = json.loads(path.read_text(encoding="utf-8"))
    out = write_report(tmp_path / "again.html", loaded)
    assert "roc.png" in _png_names(out)


def test_wrong_shape_is_an_error_that_names_the_part(tmp_path):
    with pytest.raises(ValueError, match="detectors"):
        write_report(tmp_path / "r.html", {"detectors": ["rf"]})
    with pytest.raises(ValueError, match="'rf'"):
        write_report(tmp_path / "r.html", {"detectors": {"rf": 0.9}})


def _strict(text: str) -> object:
    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=reject)


def test_write_json_has_no_nan_or_infinity(tmp_path):
    results = {
        "rows": np.int64(3),
        "detectors": {"rf": {"roc_auc": float("nan"), "fpr": np.float32("inf"),
                             "scores": np.array([0.5, np.nan]), "ok": np.bool_(True)}},
    }
    text = write_json(tmp_path / "out.json", results).read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    loaded = _strict(text)
    assert loaded["rows"] == 3
    assert loaded["detectors"]["rf"] == {"roc_auc": None, "fpr": None,
                                         "scores": [0.5, None], "ok": True}


def test_full_results_json_is_strict(tmp_path, full_results):
    _strict(write_json(tmp_path / "out.json", full_results).read_text(encoding="utf-8"))


def test_importing_evaluation_does_not_import_matplotlib():
    code = "import sys, flowsentinel.evaluation; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
