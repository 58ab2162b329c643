"""The REST API over real sockets: good input, bad input (each a clear 4xx), alerts, triage, metrics."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from flowsentinel import schema
from service.conftest import wait_for


@pytest.fixture(scope="module")
def records(replay_path, bundle):
    frame = pd.read_csv(replay_path).head(20)
    keep = [*schema.IDENTIFIERS, *bundle.features, "Label"]
    return json.loads(frame[keep].to_json(orient="records"))


def test_score_returns_a_verdict_per_record(service, records):
    r = service.client.post("/api/v1/score", json=records)
    assert r.status_code == 200, r.text
    verdicts = r.json()["verdicts"]
    assert len(verdicts) == len(records)
    v = verdicts[0]
    assert set(v["scores"]) == set(v["verdicts"]) == set(v["latency_ms"]) == set(service.live.detectors)
    assert v["flow_id"] == records[0]["Flow ID"] and v["dst_port"] == records[0]["Dst Port"]
    assert v["label"] is not None and v["family"] in schema.FAMILIES and v["seq"] is None
    bare = [{k: rec[k] for k in service.live.bundle.features} for rec in records[:3]]
    r = service.client.post("/api/v1/score", json=bare)
    assert r.status_code == 200 and r.json()["verdicts"][0]["label"] is None


def _post_raw(service, text: str):
    return service.client.post("/api/v1/score", content=text, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("mutate, row, field, words", [
    (lambda rs: rs[2].update({"Flow Duration": "12"}), 2, "Flow Duration", "finite number"),
    (lambda rs: rs[1].pop("Total Fwd Packet"), 1, "Total Fwd Packet", "required"),
    (lambda rs: rs[0].update({"Flow Duraton": 1.0}), 0, "Flow Duraton", "unknown field"),
    (lambda rs: rs[3].update({"Dst Port": 70000}), 3, "Dst Port", "65535"),
    (lambda rs: rs[0].update({"Flow Bytes/s": True}), 0, "Flow Bytes/s", "finite number"),
])
def test_bad_records_name_row_and_field(service, records, mutate, row, field, words):
    rs = [dict(r) for r in records[:5]]
    mutate(rs)
    r = service.client.post("/api/v1/score", json=rs)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith(f"row {row}, field '{field}'") and words in detail, detail


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(service, records, literal):
    text = json.dumps(records[:3]).replace('"Flow Duration": ' + json.dumps(records[1]["Flow Duration"]),
                                          '"Flow Duration": ' + literal, 1)
    assert literal in text
    r = _post_raw(service, text)
    assert r.status_code == 422
    assert "field 'Flow Duration': expected a finite number" in r.json()["detail"]


def test_malformed_bodies_are_refused(service, records):
    assert _post_raw(service, "{not json").status_code == 422
    r = service.client.post("/api/v1/score", json={"Flow Duration": 1})
    assert r.status_code == 422 and "list" in r.json()["detail"]
    r = service.client.post("/api/v1/score", json=[1, 2])
    assert r.status_code == 422 and r.json()["detail"].startswith("row 0")
    assert service.client.post("/api/v1/score", json=[]).json() == {"verdicts": []}
    bad_label = [dict(records[0], Label="Totally Normal Traffic")]
    r = service.client.post("/api/v1/score", json=bad_label)
    assert r.status_code == 422 and "Label" in r.json()["detail"]


def test_huge_bodies_and_long_lists_are_413(service, records):
    limit = service.live.settings.max_body_bytes
    r = _post_raw(service, "[" + " " * (limit + 10) + "]")
    assert r.status_code == 413

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    r = service.client.post("/api/v1/score", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    many = service.live.settings.max_score_rows + 1
    r = _post_raw(service, "[" + ",".join(["{}"] * many) + "]")
    assert r.status_code == 413 and str(many) in r.json()["detail"]


def test_alerts_pages_filters_and_triage(service):
    wait_for(lambda: service.live.store.count_alerts() > 60, "alerts from the replay")
    c = service.client
    page = c.get("/api/v1/alerts", params={"limit": 25}).json()
    ids = [a["id"] for a in page["items"]]
    assert len(ids) == 25 and ids == sorted(ids, reverse=True) and page["next_cursor"]
    nxt = c.get("/api/v1/alerts", params={"limit": 25, "cursor": page["next_cursor"]}).json()
    assert max(a["id"] for a in nxt["items"]) < min(ids)
    after = c.get("/api/v1/alerts", params={"after_id": 3, "limit": 5}).json()["items"]
    assert [a["id"] for a in after] == [4, 5, 6, 7, 8]
    one = c.get(f"/api/v1/alerts/{ids[0]}").json()
    assert one["id"] == ids[0] and one["features"] and one["top_features"] and one["status"] == "new"
    # features=false: the same alerts, each without its features and explanation
    full = c.get("/api/v1/alerts", params={"after_id": 3, "limit": 25})
    lean = c.get("/api/v1/alerts", params={"after_id": 3, "limit": 25, "features": "false"})
    assert all(a["features"] and a["top_features"] for a in full.json()["items"])
    assert all(a["features"] is None and a["top_features"] is None for a in lean.json()["items"])

    def rest(items):
        return [{k: v for k, v in a.items() if k not in ("features", "top_features")} for a in items]

    assert rest(lean.json()["items"]) == rest(full.json()["items"]) and len(lean.json()["items"]) == 25
    assert len(lean.content) * 3 < len(full.content)
    assert c.get("/api/v1/alerts", params={"features": "maybe"}).status_code == 422
    for det in service.live.detectors:
        items = c.get("/api/v1/alerts", params={"detector": det, "limit": 50}).json()["items"]
        assert all(a["verdicts"][det] for a in items)
    fam = one["family"]
    items = c.get("/api/v1/alerts", params={"family": fam, "limit": 50}).json()["items"]
    assert items and all(a["family"] == fam for a in items)
    r = c.get("/api/v1/alerts", params={"detector": "svm"})
    assert r.status_code == 422 and "svm" in r.json()["detail"]
    assert c.get("/api/v1/alerts", params={"status": "closed"}).status_code == 422
    assert c.get("/api/v1/alerts", params={"limit": "many"}).status_code == 422
    r = c.get("/api/v1/alerts", params={"cursor": "bogus"})
    assert r.status_code == 422 and "cursor" in r.json()["detail"]

    r = c.patch(f"/api/v1/alerts/{ids[0]}", json={"status": "acknowledged", "note": "seen"})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged" and r.json()["note"] == "seen"
    assert c.get(f"/api/v1/alerts/{ids[0]}").json()["status"] == "acknowledged"
    assert c.patch(f"/api/v1/alerts/{ids[0]}", json={"note": None}).json()["note"] is None
    assert c.patch(f"/api/v1/alerts/{ids[0]}", json={"status": "closed"}).status_code == 422
    assert c.patch(f"/api/v1/alerts/{ids[0]}", json={"colour": "red"}).status_code == 422
    assert c.patch("/api/v1/alerts/999999999", json={"status": "new"}).status_code == 404
    assert c.get("/api/v1/alerts/999999999").status_code == 404


def test_detectors_stats_trends_health_metrics(service):
    c = service.client
    dets = c.get("/api/v1/detectors").json()
    assert [d["name"] for d in dets["detectors"]] == list(service.live.detectors)
    assert all("f1" in d["metrics"] and "curves" not in d["metrics"] for d in dets["detectors"])
    wait_for(lambda: c.get("/api/v1/stats").json()["flows_scored"] > 0, "scored flows")
    stats = c.get("/api/v1/stats").json()
    assert stats["source"]["kind"] == "replay" and stats["source"]["labelled"] is True
    for det in service.live.detectors:
        d = stats["detectors"][det]
        assert len(d["histogram"]) == 20 and d["confusion"] is not None and d["latency_ms_p99"] is not None
    trends = c.get("/api/v1/trends", params={"minutes": 5}).json()
    assert len(trends["minutes"]) == 5 and trends["start"] == trends["minutes"][0]
    assert sum(map(sum, trends["families"].values())) > 0
    assert c.get("/api/v1/trends", params={"minutes": 0}).status_code == 422
    assert c.get("/healthz").json()["status"] == "ok"
    text = c.get("/metrics").text
    for name in ("flowsentinel_flows_scored_total", "flowsentinel_batch_size_flows_bucket",
                 'flowsentinel_detector_batch_latency_seconds_bucket{detector="rf"',
                 "flowsentinel_queue_depth", "flowsentinel_flows_shed_total", "flowsentinel_alerts_total{family=",
                 'flowsentinel_detector_flagged_total{detector="cnn"}', "flowsentinel_ws_dropped_total"):
        assert name in text, name
    doc = c.get("/openapi.json").json()
    assert "Flow Duration" in doc["components"]["schemas"]["FlowIn"]["properties"]
    assert c.get("/").status_code in (200, 404)  # the dashboard, when its files are there


def test_cors_is_closed_by_default(service):
    r = service.client.get("/api/v1/stats", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = service.client.options("/api/v1/score", headers={"Origin": "https://evil.example",
                                                          "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
