"""Security: loopback by default, a token for anything else, checked on REST and WebSocket, never logged."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import websockets

from flowsentinel.cli import main
from flowsentinel.service.app import create_app
from service.conftest import make_settings, serving

TOKEN = "s3cret-token-for-tests-only"


def test_non_loopback_bind_without_a_token_is_refused(tmp_path, bundle_path, capsys, monkeypatch):
    monkeypatch.delenv("FLOWSENTINEL_API_TOKEN", raising=False)
    code = main(["serve", "--bundle", str(bundle_path), "--host", "0.0.0.0", "--port", "0",
                 "--db", str(tmp_path / "x.db"), "-q"])
    assert code == 2
    err = capsys.readouterr().err
    assert "FLOWSENTINEL_API_TOKEN" in err and "0.0.0.0" in err
    with pytest.raises(ValueError):
        create_app(make_settings(tmp_path, host="10.1.2.3"))
    create_app(make_settings(tmp_path, host="10.1.2.3", api_token=TOKEN))  # with a token it builds


def test_serve_reports_a_missing_bundle_and_a_bad_source(tmp_path, bundle_path, capsys):
    assert main(["serve", "--bundle", str(tmp_path / "none"), "--db", str(tmp_path / "x.db"), "-q"]) == 2
    assert "none" in capsys.readouterr().err
    assert main(["serve", "--bundle", str(bundle_path), "--source", "replay:/no/flows.csv",
                 "--db", str(tmp_path / "x.db"), "--port", "0", "-q"]) == 2
    assert "/no/flows.csv" in capsys.readouterr().err
    # an interface that cannot be captured is refused before anything listens, not a running error state
    assert main(["serve", "--bundle", str(bundle_path), "--source", "iface:no-such-if0",
                 "--db", str(tmp_path / "x.db"), "--port", "0", "-q"]) == 2
    assert "cannot capture on 'no-such-if0'" in capsys.readouterr().err
    assert main(["serve", "--bundle", str(bundle_path), "--bpf", "udp", "--db", str(tmp_path / "x.db"),
                 "--port", "0", "-q"]) == 2  # the default source, the simulator, has no packets to filter
    assert "applies to packets" in capsys.readouterr().err


def test_serve_names_the_setting_at_fault(tmp_path, bundle_path, capsys, monkeypatch):
    args = ["serve", "--bundle", str(bundle_path), "--db", str(tmp_path / "x.db"), "-q"]
    monkeypatch.setenv("FLOWSENTINEL_CLOSED_WAIT_S", "soon")
    assert main([*args, "--port", "0"]) == 2
    assert "FLOWSENTINEL_CLOSED_WAIT_S" in capsys.readouterr().err
    monkeypatch.setenv("FLOWSENTINEL_CLOSED_WAIT_S", "off")
    assert main([*args, "--port", "70000"]) == 2
    assert "--port or FLOWSENTINEL_PORT" in capsys.readouterr().err


def test_token_is_required_on_rest_and_websocket_and_kept_out_of_logs(bundle, replay_path, tmp_path, caplog):
    settings = make_settings(tmp_path, source=f"replay:{replay_path}@500", api_token=TOKEN)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "flowsentinel"):
        caplog.set_level(logging.DEBUG, logger=name)
    from flowsentinel.service.auth import RedactTokens

    redact = RedactTokens(TOKEN)
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(redact)
    try:
        with serving(settings, bundle, log_level="debug") as svc:
            c = svc.client
            assert c.get("/api/v1/stats").status_code == 401
            assert c.get("/api/v1/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert c.get("/metrics").status_code == 401
            assert c.post("/api/v1/score", json=[]).status_code == 401
            ok = {"Authorization": f"Bearer {TOKEN}"}
            assert c.get("/api/v1/stats", headers=ok).status_code == 200
            assert c.get("/metrics", headers=ok).status_code == 200
            assert c.get("/healthz").status_code == 200  # liveness stays open, it reveals no data

            async def ws_checks():
                for url in (svc.ws_url, svc.ws_url + "?token=wrong"):
                    with pytest.raises(websockets.exceptions.InvalidStatus) as err:
                        async with websockets.connect(url):
                            pass
                    assert err.value.response.status_code == 403
                async with websockets.connect(f"{svc.ws_url}?token={TOKEN}") as ws:
                    assert json.loads(await ws.recv())["type"] == "hello"

            asyncio.run(ws_checks())
    finally:
        for name in ("uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).removeFilter(redact)
    server_log = "\n".join(r.getMessage() for r in caplog.records
                            if r.name.startswith(("uvicorn", "flowsentinel")))
    assert "WebSocket /ws/live" in server_log  # uvicorn did log the connections …
    assert TOKEN not in server_log             # … without the token


def test_serve_help_lists_its_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--bundle", "--source", "--host", "--port", "--db"):
        assert option in out
