"""The flow CSV writer: column-at-a-time formatting gives the per-value text, streaming the frame's file."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from flowsentinel import schema
from flowsentinel.capture import FlowStreamer, write_flow_csv, write_pcap
from flowsentinel.capture.streamer import _feature_text, _fmt, _text

from .conftest import GOLDEN
from .synth import synthetic_frames

EDGES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 3.0, 0.1, 1 / 3, -3.25, 8191.0, 8192.0, 8191.5,
         1e15, 1e15 + 0.5, 1e16, 1e-4, 1e-5, 2.0 ** 63, 2.0 ** 70, -2.0 ** 70, 1.5e300, 5e-324]


@pytest.mark.parametrize("integral", [False, True])
def test_float_columns_match_the_per_value_text(integral: bool) -> None:
    rng = np.random.default_rng(0)
    values = np.r_[EDGES, rng.normal(0, 1e6, 2000), np.round(rng.normal(0, 1e4, 2000)), rng.random(500) * 1e-6]
    assert _feature_text(values, integral) == [_fmt(v, integral) for v in values.tolist()]
    assert _feature_text(pd.Series(values), integral) == [_fmt(v, integral) for v in values.tolist()]


def test_integer_and_other_columns_match_the_per_value_text() -> None:
    ints = np.array([0, 1, 8191, 8192, 65535, -1, -(2 ** 63), 2 ** 63 - 1], dtype=np.int64)
    assert _feature_text(ints, True) == [str(v) for v in ints.tolist()]
    big = np.array([0, 2 ** 64 - 1], dtype=np.uint64)
    assert _feature_text(big, True) == ["0", "18446744073709551615"]
    flags = np.array([True, False])
    assert _feature_text(flags, False) == ["1", "0"]


def test_text_fields_are_quoted_like_csv_writer(tmp_path) -> None:
    values = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\r", "", None, 7]
    path = tmp_path / "w.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerow(values)
    expected = path.read_bytes().decode()[:-2]  # without the row's "\r\n"
    assert ",".join(_text(values, none="")) == expected


def test_streamed_csv_is_the_frame_csv(tmp_path) -> None:
    pcap = tmp_path / "s.pcap"
    frames = synthetic_frames(20_000, seed=3)
    write_pcap(pcap, [(ts + i * 20_000, f) for i, (ts, f) in enumerate(frames)])  # timeouts happen
    streamer = FlowStreamer(pcap, batch_size=1024)
    streamed = tmp_path / "streamed.csv"
    n = streamer.to_csv(streamed)
    assert streamer.stats.flows == n > 100
    framed = tmp_path / "framed.csv"
    write_flow_csv(FlowStreamer(pcap, batch_size=1024).to_frame(), framed)
    assert streamed.read_bytes() == framed.read_bytes()
    small_blocks = tmp_path / "blocks.csv"
    write_flow_csv(FlowStreamer(pcap, batch_size=1024), small_blocks, block_rows=7)
    assert small_blocks.read_bytes() == framed.read_bytes()


def test_labels_must_match_the_flows(tmp_path) -> None:
    chunks = list(FlowStreamer(GOLDEN / "icmp.pcap"))
    n = sum(len(c) for c in chunks)
    with pytest.raises(ValueError, match="labels"):
        write_flow_csv(chunks, tmp_path / "x.csv", labels=["BENIGN"] * (n + 1))
    with pytest.raises(ValueError, match="labels"):
        write_flow_csv(chunks, tmp_path / "x.csv", labels=["BENIGN"] * (n - 1))
    write_flow_csv(chunks, tmp_path / "ok.csv", labels=["BENIGN"] * n)
    header = (tmp_path / "ok.csv").read_text().splitlines()[0].split(",")
    assert header == ["id", *schema.IDENTIFIERS, *schema.FEATURES, "Label", "Attempted Category"]
