"""The `flowsentinel` command end to end: train → evaluate → predict, and its errors."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowsentinel import schema
from flowsentinel.cli import main


def run(*args: str) -> int:
    return main([*map(str, args), "--quiet"])


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_help_lists_every_option(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in {"train": ["--data", "--out", "--detectors", "--split", "--seed"],
                   "evaluate": ["--bundle", "--data", "--json", "--report"],
                   "predict": ["--bundle", "--data", "--out"]}[command]:
        assert option in out


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "flowsentinel", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("flowsentinel ")


def test_unknown_detector_and_missing_data_are_clear_errors(tmp_path, capsys, fixtures_dir):
    assert run("train", "--data", fixtures_dir / "improved_small.csv", "--out", tmp_path / "b",
               "--detectors", "rf,svm") == 2
    assert "svm" in capsys.readouterr().err
    assert run("train", "--data", tmp_path / "nope", "--out", tmp_path / "b") == 2
    assert "nope" in capsys.readouterr().err
    assert run("train", "--data", fixtures_dir / "improved_small.csv", "--out", tmp_path / "b",
               "--set", "cnn.n_members") == 2
    assert "DETECTOR.PARAM=VALUE" in capsys.readouterr().err
    assert run("evaluate", "--bundle", tmp_path / "no-bundle", "--data", fixtures_dir / "improved_small.csv",
               "--json", tmp_path / "e.json") == 2
    assert "no-bundle" in capsys.readouterr().err


def test_unknown_label_stops_training_with_file_and_line(tmp_path, capsys, fixtures_dir):
    assert run("train", "--data", fixtures_dir / "unknown_label.csv", "--out", tmp_path / "b") == 2
    err = capsys.readouterr().err
    assert "Totally Normal Traffic" in err and "unknown_label.csv:4" in err


# --- on the real sample ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(sample_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "bundle"
    # one CNN member instead of the default three keeps the suite's run time down
    assert run("train", "--data", sample_dir, "--out", out, "--seeds", "1", "--set", "cnn.n_members=1") == 0
    return out


@pytest.mark.realdata
@pytest.mark.slow
def test_train_writes_a_verified_bundle(trained):
    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["features"] == list(schema.FEATURES)  # identifiers excluded by default
    assert set(manifest["detectors"]) == {"rf", "cnn"}
    assert manifest["metadata"]["split"]["kind"] == "grouped"
    assert manifest["metadata"]["config"]["include_identifiers"] is False
    assert manifest["detectors"]["cnn"]["metadata"]["params"]["n_members"] == 1  # --set is recorded
    assert not list(trained.rglob("*.pkl")) and not list(trained.rglob("*.joblib"))


@pytest.mark.realdata
@pytest.mark.slow
def test_evaluate_reports_held_out_metrics_and_report(trained, sample_dir, tmp_path, capsys):
    out_json, out_html = tmp_path / "eval.json", tmp_path / "report.html"
    assert run("evaluate", "--bundle", trained, "--data", sample_dir, "--json", out_json, "--report", out_html) == 0
    doc = json.loads(out_json.read_text())
    # the training and validation rows (~80 %) are recognised and left out
    assert doc["excluded_training_rows"] > 0.7 * (doc["rows"] + doc["excluded_training_rows"])
    for name in ("rf", "cnn"):
        m = doc["detectors"][name]
        for key in ("precision", "recall", "f1", "fpr", "roc_auc", "pr_auc", "threshold", "per_family"):
            assert key in m
        assert m["f1"] >= 0.98 and m["roc_auc"] >= 0.99, (name, m["f1"], m["roc_auc"])
        assert m["fpr"] <= 0.01, (name, m["fpr"])
        assert set(m["per_family"]) <= set(schema.FAMILIES[1:])
    assert doc["detectors"]["rf"]["recall"] >= 0.99
    html = out_html.read_text()
    assert "rf" in html and "cnn" in html
    assert (tmp_path / "report_files" / "roc.png").stat().st_size > 1000


@pytest.mark.realdata
@pytest.mark.slow
def test_predict_scores_every_flow_with_every_detector(trained, sample_dir, tmp_path):
    out = tmp_path / "scored.csv"
    assert run("predict", "--bundle", trained, "--data", sample_dir / "Botnet_736.csv", "--out", out) == 0
    scored = pd.read_csv(out)
    assert len(scored) == 736
    for name in ("rf", "cnn"):
        assert scored[f"{name}_score"].between(0, 1).all()
        assert set(scored[f"{name}_attack"].unique()) <= {0, 1}
    assert scored["Flow ID"].notna().all()
    assert scored["rf_attack"].mean() > 0.9  # Botnet flows, mostly seen in training


@pytest.mark.realdata
@pytest.mark.slow
def test_predict_refuses_data_missing_a_model_feature(trained, fixtures_dir, tmp_path, capsys):
    assert run("predict", "--bundle", trained, "--data", fixtures_dir / "release2017_small.csv",
               "--out", tmp_path / "x.csv") == 2
    err = capsys.readouterr().err
    assert "Total TCP Flow Time" in err


@pytest.mark.realdata
@pytest.mark.slow
def test_evaluate_refuses_a_tampered_bundle(trained, sample_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(trained, copy)
    onnx = copy / "rf" / "rf.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    assert run("evaluate", "--bundle", copy, "--data", sample_dir / "Heartbleed_11.csv",
               "--json", tmp_path / "e.json") == 2
    assert "rf.onnx" in capsys.readouterr().err
    assert not (tmp_path / "e.json").exists()


def _as_2017_release(src: Path, dst: Path) -> None:
    """Rewrite improved-release CSVs with the 2017 release's header (and without its extra columns)."""
    reverse = {v: k for k, v in schema.ALIASES.items() if v is not None}
    for f in sorted(src.glob("*.csv")):
        frame = pd.read_csv(f).drop(columns=["id", "Attempted Category", *schema.RELEASE_2017_MISSING])
        frame.columns = [" " + reverse.get(c, c) for c in frame.columns]
        frame[" Label"] = frame[" Label"].replace({"Botnet": "Bot", "Portscan": "PortScan"})
        frame.to_csv(dst / f.name, index=False)


@pytest.mark.realdata
@pytest.mark.slow
def test_a_model_trained_on_the_2017_release_states_its_features(sample_dir, tmp_path):
    data = tmp_path / "release2017"
    data.mkdir()
    _as_2017_release(sample_dir, data)
    bundle = tmp_path / "b2017"
    assert run("train", "--data", data, "--out", bundle, "--detectors", "rf", "--seeds", "1") == 0
    features = json.loads((bundle / "manifest.json").read_text())["features"]
    assert len(features) == 76 and not set(schema.RELEASE_2017_MISSING) & set(features)
    # ... and it scores improved-release data, which has every feature it needs
    out = tmp_path / "scored.csv"
    assert run("predict", "--bundle", bundle, "--data", sample_dir / "DDoS_5000.csv", "--out", out) == 0
    assert np.mean(pd.read_csv(out)["rf_attack"]) > 0.95


@pytest.mark.realdata
@pytest.mark.slow
def test_leave_one_family_out_measures_an_unseen_family(sample_dir, tmp_path):
    bundle = tmp_path / "lofo"
    assert run("train", "--data", sample_dir, "--out", bundle, "--detectors", "rf", "--seeds", "1",
               "--hold-out", "DDoS") == 0
    meta = json.loads((bundle / "manifest.json").read_text())["metadata"]
    assert meta["split"]["held_out_family"] == "DDoS"
    test = meta["metrics"]["rf"]["test"]
    assert test["per_family_support"]["DDoS"] == 5000  # every DDoS flow is in the test part
    assert 0.0 <= test["per_family"]["DDoS"] <= 1.0
    assert run("train", "--data", sample_dir, "--out", tmp_path / "x", "--hold-out", "Normal") == 2


# --- capture and simulate ----------------------------------------------------------------------

@pytest.mark.parametrize("command", ["capture", "simulate"])
def test_capture_and_simulate_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in {"capture": ["--pcap", "--iface", "--out", "--bpf", "--closed-wait"],
                   "simulate": ["--out", "--seconds", "--seed", "--attacks", "heartbleed"]}[command]:
        assert option in out


def test_simulate_then_capture_then_predict(tmp_path, caplog):
    """Issue 3's done criterion: `capture` on a pcap writes a CSV that `predict` scores."""
    from flowsentinel.data.loader import load_flows
    from flowsentinel.simulate import TrafficSimulator

    train_csv, pcap, flows, scored = (tmp_path / n for n in ("train.csv", "test.pcap", "flows.csv", "scored.csv"))
    assert run("simulate", "--out", train_csv, "--seconds", 40, "--seed", 11, "--benign-rate", 10) == 0
    labelled = load_flows(train_csv, progress=False).frame
    assert {"Normal", "DoS", "PortScan"} <= set(labelled[schema.FAMILY])
    with caplog.at_level(logging.WARNING, logger="flowsentinel"):
        assert run("train", "--data", train_csv, "--out", tmp_path / "bundle", "--detectors", "rf", "--seeds", 1) == 0
    assert "training over 1 seed(s)" in caplog.text  # said once, where the seed count was chosen

    attacks = "dos-hulk,ssh-patator,ftp-patator"
    assert run("simulate", "--out", pcap, "--seconds", 20, "--seed", 12, "--attacks", attacks) == 0
    assert run("capture", "--pcap", pcap, "--out", flows) == 0
    captured = load_flows(flows, require_labels=False, progress=False)
    assert schema.LABEL not in captured.frame.columns and len(captured.frame) > 100
    assert not captured.report.to_dict().get("missing_features")

    assert run("predict", "--bundle", tmp_path / "bundle", "--data", flows, "--out", scored) == 0
    out = pd.read_csv(scored)
    assert len(out) == len(captured.frame) and out["rf_score"].between(0, 1).all()
    # the pcap's flows are new to the bundle (another seed); the simulator still knows their labels
    truth = np.array(TrafficSimulator(duration_s=20, seed=12, attacks=attacks).labels_for(out))
    attack = truth != "BENIGN"
    assert set(truth[attack]) == {"DoS Hulk", "SSH-Patator", "FTP-Patator"}
    assert out["rf_attack"][attack].mean() >= 0.9 and out["rf_attack"][~attack].mean() <= 0.02


def test_capture_with_bpf_and_errors(tmp_path, capsys):
    pcap = tmp_path / "s.pcap"
    assert run("simulate", "--out", pcap, "--seconds", 5, "--attacks", "none") == 0
    assert run("capture", "--pcap", pcap, "--out", tmp_path / "dns.csv", "--bpf", "udp") == 0
    assert set(pd.read_csv(tmp_path / "dns.csv")["Protocol"]) == {17}
    assert run("capture", "--pcap", pcap, "--out", tmp_path / "x.csv", "--bpf", "udp prot 5") == 2
    assert "udp prot 5" in capsys.readouterr().err
    assert run("capture", "--pcap", tmp_path / "missing.pcap", "--out", tmp_path / "x.csv") == 2
    assert "missing.pcap" in capsys.readouterr().err
    (tmp_path / "junk.pcap").write_bytes(b"not a capture file at all")
    assert run("capture", "--pcap", tmp_path / "junk.pcap", "--out", tmp_path / "x.csv") == 2
    assert "junk.pcap" in capsys.readouterr().err
    assert run("simulate", "--out", tmp_path / "x.json") == 2
    assert ".pcap" in capsys.readouterr().err
    assert run("simulate", "--out", tmp_path / "x.pcap", "--attacks", "ddos,teardrop") == 2
    assert "teardrop" in capsys.readouterr().err


def test_capture_closed_wait_writes_quiet_connections_as_serve_does(tmp_path, capsys):
    from capture.synth import closing_connections

    from flowsentinel.capture import write_pcap

    pcap = tmp_path / "closing.pcap"
    write_pcap(pcap, closing_connections(30, seed=2))  # a third get a packet 3 s after closing
    assert run("capture", "--pcap", pcap, "--out", tmp_path / "release.csv") == 0
    assert run("capture", "--pcap", pcap, "--out", tmp_path / "live.csv", "--closed-wait", 2) == 0
    assert len(pd.read_csv(tmp_path / "release.csv")) == 30
    assert len(pd.read_csv(tmp_path / "live.csv")) == 40
    assert run("capture", "--pcap", pcap, "--out", tmp_path / "x.csv", "--closed-wait", -1) == 2
    assert "--closed-wait" in capsys.readouterr().err
