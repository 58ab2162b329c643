"""The dashboard in a real browser: Debian's chromium, driven by Playwright, against `flowsentinel serve`.

One module-scoped service (a small rf+cnn bundle trained on simulator traffic,
serving a labelled replay of another simulator seed) and one browser session:
the page must connect its WebSocket, every detector panel must update, alerts
must arrive, the detail drawer must show every detector's score and the
features that drove it, and triage must reach the store.  A screenshot is
saved in the test's tmp dir (and to $FLOWSENTINEL_DASHBOARD_PNG when set).
docs/img/dashboard.png is the real demo instead: `make demo`, two minutes in,
at 1280x800.

Chromium is Debian's (/usr/bin/chromium, or $FLOWSENTINEL_CHROMIUM); Playwright
never downloads a browser here.  When it is missing the test fails and says
how to install it, because CI must run this test, not skip it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from stream.livekit import live_bundle, replay_csv

CHROMIUM = Path(os.environ.get("FLOWSENTINEL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
#: Replay rate: every panel moves within a second or two, and 2 shared cores keep up.
REPLAY_RATE = 300
#: A flow id no page may interpret as markup: the replay carries it on some attack flows.
HOSTILE_FLOW_ID = '<img src=x onerror="window.__xss=1">-10.0.0.66-80-6'
TIMEOUT_MS = 20_000
#: The service runs with an API token, so every test also covers the dashboard's token path
#: (#token= in the page URL → Bearer on REST, ?token= on the WebSocket); "+" and "/" must survive.
TOKEN = "fs-t0k+en/Z"


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"the dashboard's browser test needs Debian's chromium at {CHROMIUM}: "
            "run scripts/install-system-deps.sh as root (or `make system-deps`), "
            "or point FLOWSENTINEL_CHROMIUM at a chromium binary"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def live_inputs(tmp_path_factory) -> tuple[Path, Path]:
    """The live tests' small rf+cnn bundle (shared per session), and their replay with hostile flow ids."""
    base = tmp_path_factory.getbasetemp()
    bundle = live_bundle(base)
    frame = pd.read_csv(replay_csv(base))
    attacks = frame.index[frame["Label"].astype(str).str.upper() != "BENIGN"]
    frame.loc[attacks[::7], "Flow ID"] = HOSTILE_FLOW_ID
    replay = tmp_path_factory.mktemp("dashboard") / "replay-hostile.csv"
    frame.to_csv(replay, index=False)
    return bundle, replay


def _get_json(url: str, timeout: float = 5.0, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
        return json.loads(resp.read())


class Serve:
    """`flowsentinel serve` as a child process on 127.0.0.1, that a test may kill -9 and start again."""

    def __init__(self, bundle: Path, source: str, workdir: Path) -> None:
        self.bundle, self.source, self.workdir = bundle, source, workdir
        self.port = 0            # first start: any free port; restarts reuse it
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def start(self, timeout: float = 60.0) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", FLOWSENTINEL_API_TOKEN=TOKEN)
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flowsentinel", "serve", "--bundle", str(self.bundle),
                 "--source", self.source, "--host", "127.0.0.1", "--port", str(self.port),
                 "--db", str(self.workdir / "live.db")],
                cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"flowsentinel serve exited {self.proc.returncode}:\n{self.log_tail()}")
            if not self.port:
                found = re.search(r"live at http://127\.0\.0\.1:(\d+)/", self.log_path.read_text(errors="replace"))
                self.port = int(found.group(1)) if found else 0
            if self.port:
                try:
                    _get_json(self.url + "/healthz", timeout=1, token=None)
                    return
                except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                    pass
            if time.monotonic() > deadline:
                pytest.fail(f"flowsentinel serve did not answer /healthz in {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def served(live_inputs, tmp_path_factory):
    """One `flowsentinel serve` for the module, replaying the labelled file in a loop."""
    bundle, replay = live_inputs
    server = Serve(bundle, f"replay:{replay}@{REPLAY_RATE},loop", tmp_path_factory.mktemp("serve"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(chromium, tmp_path):
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(chromium), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 800},
        )
        try:
            pg = context.new_page()
            pg.set_default_timeout(TIMEOUT_MS)
            pg.problems = []
            pg.on("pageerror", lambda err: pg.problems.append(f"page error: {err}"))
            pg.on("console", lambda msg: msg.type == "error" and pg.problems.append(f"console: {msg.text}"))
            yield pg
        finally:
            context.close()


def _panel_numbers(pg) -> dict[str, dict[str, float]]:
    return pg.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.det')].map(p => [
        p.dataset.detector,
        {updates: +p.dataset.updates, hist: +(p.dataset.histTotal || 0),
         rate: p.querySelector('[data-kpi=rate]').textContent,
         p99: p.querySelector('[data-kpi=p99]').textContent,
         f1: p.querySelector('[data-kpi=f1]').textContent}]))""")


def _canvas_ink(pg, selector: str) -> list[int]:
    """Non-transparent pixels of each canvas matching `selector` (0 = nothing drawn)."""
    return pg.evaluate("""sel => [...document.querySelectorAll(sel)].map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
        return n; })""", selector)


def test_dashboard_goes_live_in_a_real_browser(chromium, served, live_inputs, page, tmp_path):
    bundle, _ = live_inputs
    service = served.url
    manifest = json.loads((bundle / "manifest.json").read_text())
    detectors = list(manifest["detectors"])
    n_features = len(manifest["features"])
    pg = page

    with pg.expect_websocket(lambda ws: "/ws/live" in ws.url) as ws_info:
        pg.goto(f"{service}/#token={urllib.parse.quote(TOKEN, safe='')}")
    ws = ws_info.value
    frames: list[str] = []
    ws.on("framereceived", lambda payload: frames.append(payload if isinstance(payload, str) else ""))
    pg.wait_for_selector('#conn[data-state="open"]')

    # a panel per detector of the bundle, side by side
    pg.wait_for_function("n => document.querySelectorAll('.det').length === n", arg=len(detectors))
    assert sorted(_panel_numbers(pg)) == sorted(detectors)

    # every panel updates: counters move, the histogram fills, the numbers are numbers
    first = _panel_numbers(pg)
    pg.wait_for_function("""() => [...document.querySelectorAll('.det')].every(
        p => +p.dataset.updates >= 3 && +(p.dataset.histTotal || 0) > 0)""")
    pg.wait_for_function("""prev => [...document.querySelectorAll('.det')].every(
        p => +p.dataset.updates > prev[p.dataset.detector].updates + 2
          && +p.dataset.histTotal > prev[p.dataset.detector].hist)""", arg=first)
    now = _panel_numbers(pg)
    for name, panel in now.items():
        assert panel["rate"] not in ("", "–"), f"{name}: no flows/s"
        assert panel["p99"] not in ("", "–"), f"{name}: no latency p99"
        assert panel["f1"] not in ("", "n/a"), f"{name}: labelled replay but no F1"
    assert all(_canvas_ink(pg, ".det canvas.hist")), "a confidence histogram was not drawn"
    assert all(_canvas_ink(pg, ".det canvas.stream")), "a live score stream was not drawn"
    assert pg.locator("#verdicts-body tr:not([hidden])").count() > 10
    assert pg.inner_text("#st-source-state") in ("running", "finished")

    # the frames the page got are the documented ones
    kinds = {json.loads(f).get("type") for f in frames if f.startswith("{")}
    assert "update" in kinds

    # alerts arrive; the drawer shows every detector's score and what drove the alert
    pg.wait_for_selector("#alerts-body tr:not([hidden])")
    pg.wait_for_function("() => +document.getElementById('trends-canvas').dataset.total > 0")
    pg.wait_for_timeout(1500)   # let the score streams and the verdict table fill for the picture
    shot = tmp_path / "dashboard.png"
    pg.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    if os.environ.get("FLOWSENTINEL_DASHBOARD_PNG"):
        shutil.copyfile(shot, os.environ["FLOWSENTINEL_DASHBOARD_PNG"])

    pg.locator("#alerts-body tr:not([hidden])").first.click()
    pg.wait_for_selector("#drawer:not([hidden])")
    alert_id = int(pg.get_attribute("#drawer", "data-alert-id"))   # rows move as alerts arrive
    assert pg.inner_text("#d-title").startswith(f"Alert #{alert_id}")
    for name in detectors:
        score = pg.inner_text(f"#d-scores .sc[data-detector='{name}']")
        assert 0.0 <= float(score) <= 1.0
    pg.wait_for_function("() => document.querySelectorAll('#d-top tbody tr td').length > 1")
    pg.wait_for_function("n => document.querySelectorAll('#d-features tbody tr').length === n", arg=n_features)

    # triage reaches the store
    pg.click("#d-ack")
    pg.wait_for_function("() => document.getElementById('d-msg').textContent === 'saved'")
    pg.fill("#d-note", "seen in <b>the</b> browser test")
    pg.click("#d-save-note")
    pg.wait_for_function("() => document.getElementById('d-msg').textContent === 'saved'")
    stored = _get_json(f"{service}/api/v1/alerts/{alert_id}")
    assert stored["status"] == "acknowledged" and stored["note"] == "seen in <b>the</b> browser test"

    # untrusted strings stay text: the hostile flow id never became an element
    pg.wait_for_function("id => [...document.querySelectorAll('#verdicts-body td, #alerts-body td')]"
                         ".some(td => (td.title || '').includes(id))", arg=HOSTILE_FLOW_ID)
    assert pg.evaluate("() => window.__xss") is None
    assert pg.locator("main img, aside img").count() == 0

    pg.screenshot(path=str(tmp_path / "dashboard-drawer.png"))
    assert not pg.problems, pg.problems


def _held(pg) -> dict[str, int]:
    return pg.evaluate("""() => { const d = document.getElementById('alerts-table').dataset;
        return {held: +(d.held || 0), min: +(d.minId || 0), max: +(d.maxId || 0),
                from: +(d.contiguousFrom || 0), to: +(d.contiguousTo || 0),
                backfilling: document.body.dataset.backfilling === '1'}; }""")


def test_dashboard_reconnects_and_backfills_after_a_crash(chromium, served, page):
    """kill -9 the service: the page says so, retries with backoff, and after the restart
    fetches every alert it missed (GET /api/v1/alerts?after_id=), holding them with no gap."""
    pg = page
    with pg.expect_response(lambda r: "/api/v1/alerts?" in r.url and r.ok):   # the newest page of alerts
        pg.goto(f"{served.url}/#token={TOKEN}")   # as typed: "+" and "/" unescaped
    pg.wait_for_selector('#conn[data-state="open"]')
    pg.wait_for_function("() => +(document.getElementById('alerts-table').dataset.maxId || 0) > 0")

    served.kill()
    pg.wait_for_selector('#conn[data-state="closed"]')
    assert "retry in" in pg.inner_text("#conn-text")
    before = _held(pg)
    assert before["to"] == before["max"], f"a hole before the crash: {before}"

    backfills: list[str] = []
    pg.on("request", lambda req: "after_id=" in req.url and backfills.append(req.url))
    served.start()
    pg.wait_for_selector('#conn[data-state="open"]', timeout=30_000)
    filled = """n => { const d = document.getElementById('alerts-table').dataset;
        return +d.maxId > n + 50 && d.contiguousTo === d.maxId && document.body.dataset.backfilling !== '1'; }"""
    try:
        pg.wait_for_function(filled, arg=before["max"])
    except PlaywrightTimeout:
        pytest.fail(f"the page did not fill the hole the crash left: before {before}, now {_held(pg)}, "
                    f"backfill requests {backfills}")
    after = _held(pg)
    assert after["from"] <= before["max"] < after["to"], (before, after)
    assert any(re.search(rf"after_id={before['max']}(&|$)", url) for url in backfills), \
        f"no backfill after alert {before['max']}: {backfills}"
    # the backfill lists alerts lean (the drawer fetches one whole): a flood must not pull features
    assert backfills and all("features=false" in url for url in backfills), backfills
    stored = _get_json(f"{served.url}/api/v1/alerts?after_id={before['max']}&limit=1")["items"]
    assert stored and stored[0]["id"] == before["max"] + 1   # alert ids go on from the store across the restart
    # chromium logs each refused retry while the service is down; anything else is a fault
    problems = [p for p in pg.problems if "ERR_CONNECTION_REFUSED" not in p]
    assert not problems, problems


def test_dashboard_without_the_token_says_what_to_do(chromium, served, page):
    pg = page
    pg.goto(served.url + "/")
    pg.wait_for_selector("#banner:not([hidden])")
    assert "#token=" in pg.inner_text("#banner")
    assert pg.get_attribute("#conn", "data-state") != "open"
    assert pg.locator(".det").count() == 0      # nothing from the feed reached the page
