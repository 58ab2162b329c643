"""Cleaning counts and the three seeded splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowsentinel import schema
from flowsentinel.data.clean import clean_flows
from flowsentinel.data.loader import load_flows
from flowsentinel.data.split import (
    conversation_keys, grouped_split, leave_one_family_out, make_split, stratified_split,
)


@pytest.fixture()
def small(fixtures_dir):
    return load_flows(fixtures_dir / "improved_small.csv", progress=False).frame


def test_duplicates_removed_and_counted(small):
    out, rep = clean_flows(small, schema.FEATURES)
    assert rep.duplicates_removed == 1 and rep.duplicates_by_label == {"DoS Hulk": 1}
    assert rep.rows_in == 11 and rep.rows_out == 10 == len(out)
    assert list(out.index) == list(range(10))


def test_nonfinite_and_missing_counted_not_changed(small):
    out, rep = clean_flows(small, schema.FEATURES)
    assert rep.nonfinite_values == {"Flow Bytes/s": 2}
    assert rep.missing_values == {"Flow Packets/s": 1}
    assert np.isinf(out["Flow Bytes/s"]).sum() == 2  # the transform applies the value rule


def test_attempted_policies(small):
    out, rep = clean_flows(small, schema.FEATURES)
    assert rep.attempted_rows == 1
    assert out.loc[out[schema.ATTEMPTED], schema.FAMILY].tolist() == [schema.NORMAL]
    dropped, rep2 = clean_flows(small, schema.FEATURES, attempted="drop")
    assert rep2.attempted_dropped == 1 and not dropped[schema.ATTEMPTED].any()
    with pytest.raises(ValueError, match="attempted"):
        clean_flows(small, schema.FEATURES, attempted="keep")


def test_conflicting_labels_and_constant_columns_reported(small):
    frame = small.copy()
    frame.loc[4, list(schema.FEATURES)] = frame.loc[0, list(schema.FEATURES)].to_numpy()  # same vector, other label
    frame["ICMP Code"] = -1.0
    _, rep = clean_flows(frame, schema.FEATURES)
    assert rep.conflicting_vectors == 1 and rep.conflicting_rows == 2
    assert rep.conflicting_classes_vectors == 1  # BENIGN and DoS Hulk share a vector
    assert "ICMP Code" in rep.constant_columns


def _synthetic(n_conv=300, per_conv=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_conv):
        label = ["BENIGN", "DoS Hulk", "Portscan"][c % 3]
        for k in range(per_conv):
            fwd = k % 2 == 0  # the same conversation seen in both directions
            a, b = (f"10.0.{c // 250}.{c % 250}", 1000 + c), ("10.9.9.9", 80)
            (sip, sp), (dip, dp) = (a, b) if fwd else (b, a)
            rows.append({"Src IP": sip, "Src Port": sp, "Dst IP": dip, "Dst Port": dp, "Protocol": 6,
                         "Flow Duration": rng.random(), schema.LABEL: label,
                         schema.FAMILY: schema.classify_label(label).family})
    return pd.DataFrame(rows)


def test_conversation_keys_ignore_direction():
    f = _synthetic(n_conv=2, per_conv=2)
    keys = conversation_keys(f)
    assert keys[0] == keys[1] and keys[2] == keys[3] and keys[0] != keys[2]


def test_grouped_split_keeps_conversations_whole_and_is_seeded():
    f = _synthetic()
    sp = grouped_split(f, seed=1)
    keys = conversation_keys(f)
    parts = [set(keys[p]) for p in (sp.train, sp.val, sp.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert len(sp.train) + len(sp.val) + len(sp.test) == len(f)
    assert 0.5 < len(sp.train) / len(f) < 0.7
    for part in (sp.train, sp.val, sp.test):
        assert set(f.loc[part, schema.LABEL]) == {"BENIGN", "DoS Hulk", "Portscan"}
    again = grouped_split(f, seed=1)
    assert np.array_equal(sp.test, again.test)
    assert not np.array_equal(sp.test, grouped_split(f, seed=2).test)


def test_grouped_split_without_identifiers_says_what_is_missing():
    f = _synthetic().drop(columns=["Src IP"])
    with pytest.raises(ValueError, match="Src IP"):
        grouped_split(f, seed=0)


def test_stratified_split_covers_rare_labels():
    f = _synthetic()
    f.loc[:4, schema.LABEL] = "Heartbleed"
    sp = stratified_split(f, seed=0)
    all_rows = np.concatenate([sp.train, sp.val, sp.test])
    assert sorted(all_rows) == list(range(len(f)))
    for part in (sp.train, sp.val, sp.test):
        assert "Heartbleed" in set(f.loc[part, schema.LABEL])


def test_leave_one_family_out_holds_family_out_of_training():
    f = _synthetic()
    sp = leave_one_family_out(f, "PortScan", seed=0)
    fam = f[schema.FAMILY].to_numpy()
    assert not (fam[sp.train] == "PortScan").any() and not (fam[sp.val] == "PortScan").any()
    assert (fam[sp.test] == "PortScan").sum() == (fam == "PortScan").sum()
    assert sp.held_out_family == "PortScan"
    with pytest.raises(ValueError):
        leave_one_family_out(f, "Normal")
    with pytest.raises(ValueError, match="unknown split"):
        make_split(f, "random")
