"""Loader: both releases' headers, text non-finites, blank rows, cp1252 labels, bad input."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from flowsentinel import schema
from flowsentinel.data.loader import DataError, expand_paths, load_flows


def test_improved_release_header_maps_to_canonical_schema(fixtures_dir):
    res = load_flows(fixtures_dir / "improved_small.csv", progress=False)
    frame = res.frame
    assert list(frame.columns[:7]) == list(schema.IDENTIFIERS)
    assert [c for c in frame.columns if c in schema.FEATURES] == list(schema.FEATURES)
    assert res.report.missing_features == ()
    assert "id" not in frame.columns and "Attempted Category" not in frame.columns
    assert frame["Flow Duration"].dtype == np.float64


def test_text_infinity_and_nan_become_floats(fixtures_dir):
    frame = load_flows(fixtures_dir / "improved_small.csv", progress=False).frame
    col = frame["Flow Bytes/s"]
    assert math.isinf(col[1]) and col[1] > 0
    assert math.isinf(col[2]) and col[2] < 0
    assert math.isnan(frame["Flow Packets/s"][1])


def test_blank_lines_are_skipped_and_counted(fixtures_dir):
    res = load_flows(fixtures_dir / "improved_small.csv", progress=False)
    assert res.report.blank_rows == 1
    assert len(res.frame) == 11
    assert not res.frame[schema.LABEL].isna().any()


def test_attempted_label_is_marked_not_guessed(fixtures_dir):
    frame = load_flows(fixtures_dir / "improved_small.csv", progress=False).frame
    row = frame[frame[schema.ATTEMPTED]]
    assert list(row[schema.LABEL]) == ["FTP-Patator - Attempted"]
    assert list(row[schema.FAMILY]) == ["Brute Force"]  # the cleaning policy decides later


def test_2017_release_header_cp1252_labels_and_comma_only_rows(fixtures_dir):
    res = load_flows(fixtures_dir / "release2017_small.csv", progress=False)
    frame = res.frame
    assert res.report.files[0].release == "2017"
    assert set(res.report.missing_features) == set(schema.RELEASE_2017_MISSING)
    for name in schema.RELEASE_2017_MISSING:
        assert name not in frame.columns
    assert "Total Fwd Packet" in frame.columns and "Fwd Seg Size Min" in frame.columns
    labels = set(frame[schema.LABEL])
    assert {"Web Attack - Brute Force", "Web Attack - XSS", "Web Attack - SQL Injection"} <= labels
    assert frame.loc[frame[schema.LABEL] == "Botnet", schema.FAMILY].tolist() == ["Botnet"]
    assert res.report.blank_rows == 1 and len(frame) == 9
    assert math.isinf(frame["Flow Bytes/s"][0])


def test_mixing_releases_drops_features_one_release_lacks(fixtures_dir):
    res = load_flows([fixtures_dir / "improved_small.csv", fixtures_dir / "release2017_small.csv"], progress=False)
    assert len(res.frame) == 20
    assert set(res.report.missing_features) == set(schema.RELEASE_2017_MISSING)
    assert not res.frame[[c for c in schema.FEATURES if c in res.frame]].isna().all().any()


def test_unknown_label_is_an_error_naming_file_line_and_label(fixtures_dir):
    with pytest.raises(schema.UnknownLabelError) as err:
        load_flows(fixtures_dir / "unknown_label.csv", progress=False)
    msg = str(err.value)
    assert "Totally Normal Traffic" in msg and "unknown_label.csv:4" in msg


def test_non_numeric_value_is_reported_with_line_and_column_and_rest_loads(fixtures_dir):
    res = load_flows(fixtures_dir / "bad_value.csv", progress=False)
    assert len(res.frame) == 3
    assert res.report.bad_values == 1
    issue = res.report.issues[0]
    assert issue.line == 3 and issue.column == "Flow Duration" and issue.value == "abc"
    assert math.isnan(res.frame["Flow Duration"][1])
    assert not math.isnan(res.frame["Flow Duration"][0])


def test_bad_value_in_a_later_chunk_keeps_all_rows(fixtures_dir, tmp_path):
    # chunksize 2 puts the bad value (line 3) in the first chunk and a good row after it
    res = load_flows(fixtures_dir / "bad_value.csv", chunksize=1, progress=False)
    assert len(res.frame) == 3 and res.report.bad_values == 1
    assert res.report.issues[0].line == 3


def test_folders_globs_and_missing_paths(fixtures_dir, tmp_path):
    shutil.copy(fixtures_dir / "improved_small.csv", tmp_path / "a.csv")
    shutil.copy(fixtures_dir / "improved_small.csv", tmp_path / "b.csv")
    assert len(expand_paths([tmp_path])) == 2
    assert len(expand_paths([str(tmp_path / "*.csv")])) == 2
    with pytest.raises(DataError, match="nothing-here"):
        expand_paths([tmp_path / "nothing-here"])


def test_non_flow_csv_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "people.csv"
    bad.write_text("name,age\nann,3\n")
    with pytest.raises(DataError, match="people.csv"):
        load_flows(bad, progress=False)


def test_missing_label_column_refused_only_when_labels_required(fixtures_dir, tmp_path):
    text = (fixtures_dir / "improved_small.csv").read_text().splitlines()
    header = text[0].split(",")
    cut = header.index("Label")
    rows = [",".join(line.split(",")[:cut]) for line in text if line]
    path = tmp_path / "unlabelled.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="Label"):
        load_flows(path, progress=False)
    res = load_flows(path, require_labels=False, progress=False)
    assert len(res.frame) == 11 and schema.LABEL not in res.frame.columns


def test_parquet_cache_round_trip(fixtures_dir, tmp_path):
    first = load_flows(fixtures_dir / "release2017_small.csv", cache_dir=tmp_path, progress=False)
    assert list(tmp_path.glob("*.parquet"))
    second = load_flows(fixtures_dir / "release2017_small.csv", cache_dir=tmp_path, progress=False)
    assert second.report.files[0].cached
    assert second.frame.equals(first.frame)


def test_parquet_input(fixtures_dir, tmp_path):
    frame = load_flows(fixtures_dir / "improved_small.csv", progress=False).frame
    path = tmp_path / "flows.parquet"
    frame.to_parquet(path)
    again = load_flows(path, progress=False).frame
    assert again[schema.LABEL].tolist() == frame[schema.LABEL].tolist()
    assert np.allclose(again["Flow Duration"], frame["Flow Duration"])
