"""The alert store: ids, pagination, filters, triage, retention, reopening."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowsentinel import schema
from flowsentinel.stream.pipeline import Scorer
from flowsentinel.stream.record import Verdict, top_features
from flowsentinel.stream.store import AlertQuery, AlertStore, CursorError

CONTRACT_KEYS = ["seq", "flow_id", "src_ip", "src_port", "dst_ip", "dst_port", "protocol", "timestamp",
                 "ingest_ts", "scored_ts", "scores", "verdicts", "latency_ms", "label", "family",
                 "agreement", "alert"]


@pytest.fixture(scope="module")
def flows(replay_path):
    from flowsentinel.data.loader import load_flows

    return load_flows([replay_path], progress=False).frame


def open_store(bundle, path, **kw) -> tuple[AlertStore, int]:
    """A store at ``path`` with a run of ``bundle`` started in it."""
    store = AlertStore(path, **kw)
    return store, store.start_run(detectors=tuple(bundle.detectors), thresholds=bundle.thresholds,
                                  features=tuple(bundle.features))


def scored(bundle, frame: pd.DataFrame):
    return Scorer(bundle).score(frame.reset_index(drop=True), np.full(len(frame), 1.0e9))


def test_verdict_record_has_the_documented_keys():
    v = Verdict(seq=1, flow_id="f", src_ip="10.0.0.1", src_port=1, dst_ip="10.0.0.2", dst_port=80, protocol=6,
                timestamp=None, ingest_ts=1.0, scored_ts=2.0, scores={"rf": 0.9, "cnn": 0.1},
                verdicts={"rf": True, "cnn": False}, latency_ms={"rf": 1.0, "cnn": 2.0})
    d = v.to_dict()
    assert list(d) == CONTRACT_KEYS
    assert d["alert"] is True and d["agreement"] is False
    both = Verdict(**{**{k: d[k] for k in CONTRACT_KEYS[:15]}, "verdicts": {"rf": False, "cnn": False}})
    assert both.alert is False and both.agreement is True


def test_top_features_rank_by_scaled_value_times_importance():
    X = np.array([[3.0, -5.0, 0.1], [0.0, 1.0, 2.0]])
    idx, w = top_features(X, np.array([1.0, 0.1, 1.0]), k=2)
    assert idx[0].tolist() == [0, 1] and idx[1].tolist() == [2, 1]
    assert np.all(np.diff(w, axis=1) <= 0)


def test_alerts_are_stored_with_ids_pages_and_filters(tmp_path, bundle, flows):
    store, run = open_store(bundle, tmp_path / "a.db")
    batch = scored(bundle, flows.head(600))
    first = store.write_batch(batch, run)
    n_alerts = len(batch.alert_rows)
    assert first == 1 and n_alerts > 50 and batch.seq0 == 0
    assert store.last_alert_id() == n_alerts == store.count_alerts()

    seen, cursor = [], None
    while True:
        items, cursor = store.list_alerts(AlertQuery(limit=37, cursor=cursor))
        seen += [a["id"] for a in items]
        if cursor is None:
            break
    assert seen == list(range(n_alerts, 0, -1))  # newest first, every alert once

    items, _ = store.list_alerts(AlertQuery(after_id=10, limit=5))
    assert [a["id"] for a in items] == [11, 12, 13, 14, 15]
    one = store.get_alert(11)
    assert set(CONTRACT_KEYS) <= set(one) and one["alert"] is True
    assert set(one["features"]) == set(bundle.features) and 1 <= len(one["top_features"]) <= 5
    row = int(batch.alert_rows[10])
    assert one["flow_id"] == batch.flow_id[row] and one["seq"] == row
    assert one["scores"] == pytest.approx({d: float(batch.scores[row, j]) for j, d in enumerate(batch.detectors)})

    family = one["family"]
    items, _ = store.list_alerts(AlertQuery(family=family, limit=1000))
    assert items and all(a["family"] == family for a in items)
    for j, det in enumerate(batch.detectors):
        items, _ = store.list_alerts(AlertQuery(detector=det, limit=1000))
        assert len(items) == int(batch.flags[:, j].sum()) and all(a["verdicts"][det] for a in items)

    patched = store.update_alert(11, status="false_positive", note="lab scanner")
    assert patched["status"] == "false_positive" and patched["note"] == "lab scanner" and patched["updated_at"]
    assert store.update_alert(11, clear_note=True)["note"] is None
    assert [a["id"] for a in store.list_alerts(AlertQuery(status="false_positive"))[0]] == [11]
    assert store.update_alert(10**9, status="acknowledged") is None
    with pytest.raises(ValueError):
        store.update_alert(11, status="resolved")
    with pytest.raises(CursorError):
        store.list_alerts(AlertQuery(cursor="not-a-cursor"))
    trends = store.trends(minutes=5, now=batch.scored_ts)
    assert sum(sum(v) for v in trends["families"].values()) == n_alerts
    assert len(store.recent_verdicts(5)) == 5
    store.close()


def test_ids_and_sequence_continue_after_retention_and_reopening(tmp_path, bundle, flows):
    path = tmp_path / "r.db"
    store, run = open_store(bundle, path, verdict_window=150, max_alerts=20)
    for i in range(3):
        store.write_batch(scored(bundle, flows.iloc[100 * i:100 * (i + 1)]), run)
    store._retention()
    assert store.count_alerts() <= 20 and store.removed["alerts"] > 0
    kept = store.recent_verdicts(1000)  # whole batches: at least the newest 150
    assert 150 <= len(kept) < 250 and [v["seq"] for v in kept] == list(range(299, 299 - len(kept), -1))
    assert store.removed["verdicts"] == 300 - len(kept)
    last = store.last_alert_id()
    store.close()

    store, run = open_store(bundle, path)
    b2 = scored(bundle, flows.iloc[300:400])
    first = store.write_batch(b2, run)
    assert first == last + 1 and b2.seq0 == 300
    store.close()


def test_alert_features_and_explanations_round_trip_per_batch(tmp_path, bundle, flows):
    store, run = open_store(bundle, tmp_path / "d.db", max_alerts=10**6)
    frame = flows.head(400).copy()
    frame.loc[frame.index[:400], "Flow Bytes/s"] = float("inf")  # non-finite raw values come back as null
    batches = [scored(bundle, frame.iloc[:200]), scored(bundle, frame.iloc[200:])]
    # the second batch's rows prepared beforehand, as the pipeline does in a scoring thread
    ready = store.prepare(batches[1], run)
    with pytest.raises(ValueError, match="another batch"):
        store.write_batch(batches[0], run, ready)
    firsts = [store.write_batch(batches[0], run), store.write_batch(batches[1], run, ready)]
    assert all(len(b.alert_rows) > 5 for b in batches)
    for b, first in zip(batches, firsts):
        for a in (0, len(b.alert_rows) // 2, len(b.alert_rows) - 1):  # first, middle, last of each batch
            got = store.get_alert(first + a)
            raw = b.alert_features[a]
            assert [got["features"][f] for f in bundle.features] == [
                float(x) if np.isfinite(x) else None for x in raw]
            assert got["features"]["Flow Bytes/s"] is None
            live = b.top_features_of(a)  # what the WebSocket carried for this alert
            assert [(t["name"], t["value"]) for t in got["top_features"]] == [(t["name"], t["value"]) for t in live]
            assert [t["z"] for t in got["top_features"]] == pytest.approx([t["z"] for t in live], abs=1e-4)
    page, _ = store.list_alerts(AlertQuery(limit=1000))
    assert len(page) == sum(len(b.alert_rows) for b in batches)
    assert all(len(a["features"]) == len(bundle.features) for a in page)
    assert store.get_alert(firsts[1] + len(batches[1].alert_rows)) is None  # past the last alert

    # retention drops a batch's details once none of its alerts is left, and not before
    store.max_alerts = len(batches[1].alert_rows) + 1  # keeps one alert of the first batch
    store._retention()
    assert store._w.execute("SELECT COUNT(*) FROM alert_details").fetchone()[0] == 2
    store.max_alerts = len(batches[1].alert_rows)
    store._retention()
    assert store._w.execute("SELECT first_id FROM alert_details").fetchall() == [(firsts[1],)]
    assert store.get_alert(firsts[1])["features"]["Flow Duration"] is not None
    store.close()


def test_alerts_stored_with_inline_features_still_read(tmp_path, bundle, flows):
    """A database written before alert_details existed keeps each alert's features in its own row."""
    store, run = open_store(bundle, tmp_path / "old.db")
    batch = scored(bundle, flows.head(100))
    first = store.write_batch(batch, run)
    top = np.concatenate([batch.top_idx, batch.top_z, batch.top_weight], axis=1).astype("<f4")
    store._w.execute("UPDATE alerts SET features = ?, top = ? WHERE id = ?",
                     (batch.alert_features[0].astype("<f8").tobytes(), top[0].tobytes(), first))
    store._w.execute("DELETE FROM alert_details")
    got = store.get_alert(first)
    assert got["features"]["Flow Duration"] == float(batch.alert_features[0][bundle.features.index("Flow Duration")])
    assert [t["name"] for t in got["top_features"]] == [t["name"] for t in batch.top_features_of(0)]
    assert store.get_alert(first + 1)["features"] == {}  # details gone and none inline: empty, not a crash
    store.close()


def test_unlabelled_flows_have_no_ground_truth(tmp_path, bundle, flows):
    frame = flows.head(50).drop(columns=[schema.LABEL, schema.FAMILY, schema.ATTEMPTED])
    batch = scored(bundle, frame)
    d = batch.verdict(0).to_dict()
    assert d["label"] is None and d["family"] is None
    assert batch.to_dicts() == [batch.verdict(i).to_dict() for i in range(len(batch))]
    assert batch.alerts_by_family() == ({"unlabelled": len(batch.alert_rows)} if len(batch.alert_rows) else {})


def test_alerts_are_counted_by_family(bundle, flows):
    batch = scored(bundle, flows.head(400))
    expected: dict[str, int] = {}
    for row in batch.alert_rows:
        expected[batch.family[row]] = expected.get(batch.family[row], 0) + 1
    assert len(expected) >= 2 and batch.alerts_by_family() == expected


def test_columnar_dicts_equal_the_record(bundle, flows):
    frame = flows.head(300).copy()
    frame.loc[frame.index[:3], "Src Port"] = float("nan")  # a missing port stays null
    batch = scored(bundle, frame)
    batch.seq0 = 1000
    assert batch.to_dicts() == [batch.verdict(i).to_dict() for i in range(len(batch))]
    assert batch.to_dicts([0])[0]["src_port"] is None
    assert [batch.top_features_of(a) for a in range(len(batch.alert_rows))] == \
        batch.top_features_many(list(range(len(batch.alert_rows))))


def test_a_batch_of_more_alerts_than_one_insert_statement_takes_round_trips(tmp_path, bundle, flows):
    # alerts go in as multi-row INSERTs of power-of-two chunks: a count that is neither a power of two
    # nor under one chunk must come back whole, in order, each alert with its own flow's values
    frame = pd.concat([flows] * (3000 // len(flows) + 2), ignore_index=True)
    batch = scored(bundle, frame)
    alert_rows = batch.alert_rows
    cut = int(alert_rows[1024 + 333]) + 1  # the first 1 358 alerts: 1024 + 256 + 64 + 8 + 4 + 2
    batch = scored(bundle, frame.head(cut))
    k = len(batch.alert_rows)
    assert k == 1358
    store, run = open_store(bundle, tmp_path / "m.db")
    first = store.write_batch(batch, run)
    got, after = [], first - 1
    while True:
        items, _ = store.list_alerts(AlertQuery(after_id=after, limit=500))
        if not items:
            break
        got += items
        after = items[-1]["id"]
    assert [a["id"] for a in got] == list(range(first, first + k))
    rows = batch.alert_rows
    assert [a["seq"] for a in got] == (rows + batch.seq0).tolist()
    assert [a["flow_id"] for a in got] == batch.flow_id[rows].tolist()
    assert [a["dst_port"] for a in got] == [int(p) for p in batch.dst_port[rows]]
    for a, r in zip(got[::97], rows[::97]):
        assert a["scores"] == pytest.approx({d: float(batch.scores[r, j]) for j, d in enumerate(batch.detectors)})
    store.close()
