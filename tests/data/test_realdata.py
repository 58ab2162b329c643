"""The loader, cleaner and splits on the real CICIDS-2017 (improved) sample."""

from __future__ import annotations

import numpy as np
import pytest

from flowsentinel import schema
from flowsentinel.data.clean import clean_flows
from flowsentinel.data.loader import load_flows
from flowsentinel.data.split import conversation_keys, grouped_split

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def sample(sample_dir):
    return load_flows(sample_dir, progress=False)


def test_every_row_and_label_of_the_sample_loads(sample):
    frame = sample.frame
    assert len(frame) == 43_419 and sample.report.bad_values == 0
    assert frame[schema.LABEL].nunique() == 16
    assert set(frame[schema.FAMILY]) == set(schema.FAMILIES)
    assert sample.report.missing_features == ()


def test_duplicates_without_ports_are_mostly_portscans(sample):
    out, rep = clean_flows(sample.frame, schema.FEATURES)
    assert rep.duplicates_by_label.get("Portscan") == 4_718
    assert rep.rows_out == rep.rows_in - rep.duplicates_removed == len(out)


def test_grouped_split_on_real_conversations(sample):
    frame, _ = clean_flows(sample.frame, schema.FEATURES)
    sp = grouped_split(frame, seed=0)
    keys = conversation_keys(frame)
    assert not set(keys[sp.train]) & set(keys[sp.test])
    benign_test = int((frame[schema.FAMILY].to_numpy()[sp.test] == schema.NORMAL).sum())
    assert 800 < benign_test < 1200
    assert np.isin(sp.train, sp.test).sum() == 0
