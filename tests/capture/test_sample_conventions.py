"""The meter's definitions against the real improved-release rows.

Every row of the shared sample (43,419 flows) is checked against what the
meter's definitions imply for derived features (subflows, averages, ratios,
rates, header lengths of UDP, Flow ID orientation, ...), and a few hundred rows
are written back with :func:`write_flow_csv` to show the writer uses the
release's conventions text for text.
"""

from __future__ import annotations

import csv
import re

import numpy as np
import pandas as pd
import pytest

from flowsentinel import schema
from flowsentinel.capture import write_flow_csv

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def sample(sample_dir) -> pd.DataFrame:
    files = sorted(sample_dir.glob("*.csv"))
    assert files, f"no CSV files in {sample_dir}"
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def _close(a, b, rel=1e-9):
    return np.isclose(np.asarray(a, float), np.asarray(b, float), rtol=rel, atol=1e-9)


def test_derived_features_follow_the_meter_definitions(sample: pd.DataFrame) -> None:
    d = sample
    assert len(d) > 40_000
    nf, nb = d["Total Fwd Packet"], d["Total Bwd packets"]
    fb, bb = d["Total Length of Fwd Packet"], d["Total Length of Bwd Packet"]
    n = nf + nb
    dur = d["Flow Duration"]
    # release quirk: one subflow per packet -> direction total // packets of the flow
    assert (d["Subflow Fwd Packets"] == nf // n).all()
    assert (d["Subflow Bwd Packets"] == nb // n).all()
    assert (d["Subflow Fwd Bytes"] == fb // n).all()
    assert (d["Subflow Bwd Bytes"] == bb // n).all()
    assert _close(d["Average Packet Size"], (fb + bb) / n).all()
    assert _close(d["Down/Up Ratio"], np.where(nf > 0, nb / nf.clip(lower=1), 0)).all()
    assert _close(d["Fwd Segment Size Avg"], np.where(nf > 0, fb / nf.clip(lower=1), 0)).all()
    assert _close(d["Fwd Segment Size Avg"], d["Fwd Packet Length Mean"]).all()
    assert _close(d["Packet Length Variance"], d["Packet Length Std"] ** 2, rel=1e-6).all()
    secs = dur / 1e6
    pos = dur > 0
    assert pos.all()  # the sample holds no zero-duration flow
    assert _close(d["Flow Bytes/s"], (fb + bb) / secs).all()
    assert _close(d["Flow Packets/s"], n / secs).all()
    assert _close(d["Fwd Packets/s"], nf / secs).all()
    assert _close(d["Bwd Packets/s"], nb / secs).all()
    assert _close(d["Flow IAT Mean"] * (n - 1), dur, rel=1e-6).all()  # time-ordered captures


def test_protocol_specific_conventions(sample: pd.DataFrame) -> None:
    d = sample
    tcp, udp, icmp = d["Protocol"] == 6, d["Protocol"] == 17, d["Protocol"] == 1
    assert (d.loc[tcp, "Total TCP Flow Time"] >= d.loc[tcp, "Flow Duration"]).all()
    assert (d.loc[~tcp, "Total TCP Flow Time"] == 0).all()
    assert (d.loc[~icmp, ["ICMP Code", "ICMP Type"]] == -1).all().all()
    assert (d.loc[icmp, ["Src Port", "Dst Port", "Fwd Header Length", "FWD Init Win Bytes"]] == 0).all().all()
    u = d[udp]
    assert (u["Fwd Header Length"] == 8 * u["Total Fwd Packet"]).all()
    assert (u["Bwd Header Length"] == 8 * u["Total Bwd packets"]).all()
    assert u["Fwd Seg Size Min"].isin([0, 8]).all()
    seg = d.loc[tcp, "Fwd Seg Size Min"]
    assert (seg.eq(0) | seg.between(20, 60)).all()
    # zero-length active periods are dropped; idle periods are gaps > 5 s
    act = d["Active Max"] > 0
    assert (d.loc[act, "Active Min"] > 0).all()
    idle = d["Idle Max"] > 0
    assert (d.loc[idle, "Idle Min"] > 5_000_000).all()
    # bulks need 4 packets
    bulk = d["Fwd Packet/Bulk Avg"] > 0
    assert (d.loc[bulk, "Fwd Packet/Bulk Avg"] >= 4).all()
    assert (d["Fwd Act Data Pkts"] <= d["Total Fwd Packet"]).all()


def test_flow_id_orientation(sample: pd.DataFrame) -> None:
    d = sample
    parts = [d[c].astype(str) for c in ("Src IP", "Dst IP", "Src Port", "Dst Port", "Protocol")]
    fwd = parts[0] + "-" + parts[1] + "-" + parts[2] + "-" + parts[3] + "-" + parts[4]
    rev = parts[1] + "-" + parts[0] + "-" + parts[3] + "-" + parts[2] + "-" + parts[4]
    assert ((d["Flow ID"] == fwd) | (d["Flow ID"] == rev)).all()
    # release quirk: later flows of a 5-tuple keep the first flow's orientation
    assert (d["Flow ID"] == rev).sum() > 0
    assert d["Timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}").all()


def test_writer_reproduces_release_text(sample_dir, tmp_path) -> None:
    path = sorted(sample_dir.glob("*.csv"))[0]
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:301]
    frame = pd.read_csv(path, nrows=300)
    for c in ("Flow IAT Max", "Flow IAT Min"):  # float in our frames (they can be NaN)
        frame[c] = frame[c].astype(float)
    out = write_flow_csv(frame, tmp_path / "w.csv", labels=frame["Label"])
    with open(out, newline="") as fh:
        ours = list(csv.reader(fh))
    assert ours[0] == header
    names = [*schema.IDENTIFIERS, *schema.FEATURES]
    idx = [header.index(c) for c in names]
    mismatches = [(i, header[j], a[j], b[j]) for i, (a, b) in enumerate(zip(ours[1:], body))
                  for j in idx if a[j] != b[j]]
    assert not mismatches[:5], f"{len(mismatches)} fields differ, e.g. {mismatches[:5]}"
    assert re.fullmatch(r"\d+", ours[1][0])
