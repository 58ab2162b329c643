"""The alert store: SQLite in WAL mode, alerts plus a rolling window of verdicts.

Durability rule: :meth:`AlertStore.write_batch` commits a batch's alerts
(and its verdicts) *before* the pipeline publishes them, so every alert a
client was shown or the API returned survives ``kill -9`` and a restart.
WAL with ``synchronous=NORMAL`` makes a commit durable against a crash of the
process; ``synchronous="FULL"`` also against losing power, at an fsync per batch.

Rows are stored column-wise and compactly (scores, features and explanations
as little-endian float blobs) because the pipeline writes thousands per
second; they become the JSON shape of ``docs/live.md`` only when read.
Alert ids and verdict sequence numbers never repeat, also after retention
removed every row: their high-water marks live in the ``meta`` table.

Retention: verdicts beyond the newest ``verdict_window`` are removed;
alerts older than ``alert_retention_s`` or beyond the newest ``max_alerts``
are removed.  Each pass is counted in :attr:`AlertStore.removed`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import math
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from flowsentinel.stream.record import TOP_FEATURES, UNLABELLED, VerdictBatch

__all__ = ["ALERT_STATUSES", "AlertQuery", "AlertStore", "CursorError", "StoreError"]

log = logging.getLogger(__name__)

ALERT_STATUSES = ("new", "acknowledged", "false_positive")
_RETENTION_EVERY_S = 2.0
_WAL_LIMIT = 256 * 1024 * 1024
_CHECKPOINT_BUSY_S = 0.05  # between two checkpoint passes while the writer writes (see _checkpoint_loop)
_CHECKPOINT_IDLE_S = 1.0   # ... and while nothing is written

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started REAL NOT NULL, bundle TEXT, source TEXT,
    detectors TEXT NOT NULL, thresholds TEXT NOT NULL, features TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL, seq INTEGER, ts REAL NOT NULL, ingest_ts REAL,
    timestamp REAL, flow_id TEXT, src_ip TEXT, src_port INTEGER, dst_ip TEXT, dst_port INTEGER,
    protocol INTEGER, label TEXT, family TEXT, flagged TEXT NOT NULL, scores BLOB NOT NULL,
    latency BLOB NOT NULL, features BLOB, top BLOB,
    status TEXT NOT NULL DEFAULT 'new', note TEXT, updated_at REAL);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts);
CREATE INDEX IF NOT EXISTS alerts_family ON alerts (family, id);
CREATE TABLE IF NOT EXISTS alert_details (
    first_id INTEGER PRIMARY KEY, k INTEGER NOT NULL, width INTEGER NOT NULL,
    features BLOB NOT NULL, top BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS verdict_batches (
    seq0 INTEGER PRIMARY KEY, n INTEGER NOT NULL, run INTEGER NOT NULL, ts REAL NOT NULL,
    latency BLOB NOT NULL, nums BLOB NOT NULL, texts TEXT NOT NULL);
"""
# alert_details: the bulky part of a batch's alerts, one row per batch (alerts first_id … first_id + k - 1):
# features is float64 (k, width) raw values in the run's feature order, top float32 (k, 3 * TOP_FEATURES)
# (feature indices, z, weights).  Kept out of the alerts rows, which stay small: inserting thousands of
# alerts a second with a 650-byte blob each cost a third of the writer's time; an alert's slice is read
# with incremental blob I/O.  Alerts written before this table existed keep theirs in alerts.features/top.
# verdict_batches: one row per scored batch, column-wise — nums is float64 (n, 5 + n_detectors):
# ingest_ts, timestamp, src_port, dst_port, protocol, then each detector's score; texts is a JSON
# list of the flow_id, src_ip, dst_ip, label and family columns.  Writing thousands of verdicts a
# second row by row would cost more than scoring them.

_ALERT_INSERT = ("INSERT INTO alerts (id, run, seq, ts, ingest_ts, timestamp, flow_id, src_ip, src_port, dst_ip, "
                 "dst_port, protocol, label, family, flagged, scores, latency) VALUES ")


@functools.lru_cache(maxsize=64)
def _values_sql(head: str, ncols: int, rows: int) -> str:
    """``head`` followed by ``rows`` groups of ``ncols`` placeholders."""
    group = "(" + ",".join("?" * ncols) + ")"
    return head + ",".join([group] * rows)


def _insert_chunk(conn: sqlite3.Connection, ncols: int, most: int = 1024) -> int:
    """Rows per multi-row INSERT: a power of two within SQLite's limit on bound parameters."""
    try:
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # Python < 3.11
        limit = 999
    rows = 1
    while rows * 2 <= most and rows * 2 * ncols <= limit:
        rows *= 2
    return rows


_ALERT_COLS = ("id, run, seq, ts, ingest_ts, timestamp, flow_id, src_ip, src_port, dst_ip, dst_port, protocol, "
               "label, family, flagged, scores, latency, features, top, status, note, updated_at")


class StoreError(OSError):
    """The database cannot be opened or written; names the file."""


class CursorError(ValueError):
    """A pagination cursor that this store did not hand out."""


@dataclass
class AlertQuery:
    """Filters of ``GET /api/v1/alerts``; every field optional."""

    since: float | None = None
    until: float | None = None
    family: str | None = None
    detector: str | None = None
    status: str | None = None
    after_id: int | None = None
    limit: int = 100
    cursor: str | None = None
    features: bool = True  # False: each alert without its features and explanation (both None)


@dataclass
class _Prepared:
    """A batch's statement parameters, made by :meth:`AlertStore.prepare` outside the writer."""

    batch: VerdictBatch
    run: int
    latency: bytes
    k: int                             # alerts
    alert_params: list | None          # k rows of the alert columns, row after row; id and seq unset
    details: tuple | None              # (feature count, features blob, explanation blob)
    nums: bytes | None                 # the verdicts' numeric columns (None without a verdict window)
    texts: str | None


@dataclass
class _Run:
    detectors: tuple[str, ...]
    thresholds: np.ndarray
    features: tuple[str, ...]


def _rows_bytes(arr: np.ndarray) -> list[bytes]:
    """One little-endian blob per row of a 2-D array."""
    arr = np.ascontiguousarray(arr)
    if arr.shape[0] == 0:
        return []
    buf, k = arr.tobytes(), arr.shape[1] * arr.itemsize
    return [buf[i:i + k] for i in range(0, len(buf), k)]


def _opt(x: Any) -> Any:
    return None if isinstance(x, float) and math.isnan(x) else x


def _encode_cursor(direction: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, _, last = text.partition(":")
        if direction not in ("a", "d"):
            raise ValueError
        return direction, int(last)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise CursorError(f"cursor {cursor!r} is not one this server handed out; "
                          "start again without a cursor") from None


@dataclass
class AlertStore:
    """Alerts and recent verdicts in one SQLite file (WAL).

    Parameters
    ----------
    path : path
        Database file; its folder is created.
    verdict_window : int
        How many of the newest verdicts are kept (0 keeps none).
    alert_retention_s : float
        Alerts older than this many seconds are removed.
    max_alerts : int
        At most this many alerts are kept (the newest).
    synchronous : str
        SQLite ``synchronous`` pragma: ``NORMAL`` (survives a process crash) or ``FULL``.
    """

    path: Path
    verdict_window: int = 100_000
    alert_retention_s: float = 30 * 86400.0
    max_alerts: int = 1_000_000
    synchronous: str = "NORMAL"
    removed: dict[str, int] = field(default_factory=lambda: {"alerts": 0, "verdicts": 0})

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {self.synchronous!r}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._w = self._connect()
            self._w.executescript(_SCHEMA)
            self._w.commit()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the alert store {self.path}: {exc}") from None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._runs: dict[int, _Run] = {}
        self._chunks: dict[int, int] = {}  # columns -> rows per multi-row INSERT (SQLite's limit, asked once)
        self._last_retention = 0.0
        self._w.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it, off the write path
        # Debian's SQLite is built with SECURE_DELETE: every page retention frees (an alert batch's
        # feature blob is ~600 overflow pages) would be zeroed and written again.  FAST still zeroes
        # deleted rows inside the pages a delete rewrites anyway; retention in an alert flood went
        # from 4-6 to ~2 ms a batch.
        self._w.execute("PRAGMA secure_delete=FAST")
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="store-checkpoint", daemon=True)
        self._checkpointer.start()
        meta = dict(self._w.execute("SELECT key, value FROM meta").fetchall())
        top_alert = self._w.execute("SELECT COALESCE(MAX(id), 0) FROM alerts").fetchone()[0]
        top_seq = self._w.execute("SELECT COALESCE(MAX(seq0 + n), 0) FROM verdict_batches").fetchone()[0]
        top_alert_seq = self._w.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM alerts").fetchone()[0]
        self._next_alert = max(int(meta.get("next_alert_id", 1)), top_alert + 1)
        self._next_seq = max(int(meta.get("next_seq", 0)), top_seq, top_alert_seq)
        log.info("alert store %s opened: next alert id %d, next seq %d", self.path, self._next_alert,
                 self._next_seq)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        conn.execute("PRAGMA busy_timeout=10000")
        # the WAL is reset by the writer, so the writer's limit is what shrinks the file back after a burst
        conn.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _checkpoint_loop(self) -> None:
        """Copy the WAL into the database without blocking the writer.

        A passive checkpoint never waits for the writer.  While batches are being
        written it runs every ``_CHECKPOINT_BUSY_S``: each pass copies a batch or two and
        often finishes between two commits, and then the writer starts the WAL over by
        itself.  Once a second was too seldom under a flood: each pass copied ~100 MB, never
        caught up, and the RESTART checkpoints that then had to hold the writer cost it
        ~10 ms a batch (92 000-107 000 flows/s of the sample's alert flood in the pipeline
        alone; 116 000-118 000 at 50 ms).  When the WAL still grows past ``_WAL_LIMIT`` (a
        writer that never pauses), a RESTART checkpoint briefly holds the writer so the WAL
        starts over.  With nothing new to copy it wakes once a second.
        """
        conn = self._connect()
        conn.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
        wal = Path(str(self.path) + "-wal")
        interval, seen = _CHECKPOINT_IDLE_S, None
        try:
            while not self._stop.wait(interval):
                try:
                    big = wal.exists() and wal.stat().st_size > _WAL_LIMIT
                    _, frames, copied = conn.execute(
                        f"PRAGMA wal_checkpoint({'RESTART' if big else 'PASSIVE'})").fetchone()
                    interval = _CHECKPOINT_IDLE_S if (frames, copied) == seen else _CHECKPOINT_BUSY_S
                    seen = (frames, copied)
                except sqlite3.Error as exc:
                    log.warning("checkpoint of %s failed: %s", self.path, exc)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("final checkpoint of %s failed: %s", self.path, exc)
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._checkpointer.join(30)
        with self._readers_lock:
            for conn in self._readers:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:  # made in another thread; closes at exit
                    pass
            self._readers.clear()
        with self._lock:
            self._w.close()

    # --- writing ------------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """The sequence number the next scored flow gets (continues across restarts)."""
        return self._next_seq

    def start_run(self, *, detectors: tuple[str, ...], thresholds: dict[str, float],
                  features: tuple[str, ...], bundle: str | None = None, source: str | None = None) -> int:
        """Record the bundle a pipeline scores with; its alerts refer to it."""
        with self._lock:
            cur = self._w.execute(
                "INSERT INTO runs (started, bundle, source, detectors, thresholds, features) VALUES (?,?,?,?,?,?)",
                (time.time(), bundle, source, json.dumps(list(detectors)),
                 json.dumps([float(thresholds[d]) for d in detectors]), json.dumps(list(features))))
            return int(cur.lastrowid)

    def prepare(self, batch: VerdictBatch, run: int) -> _Prepared:
        """Everything :meth:`write_batch` binds, built without the database (any thread).

        The pipeline calls it in a scoring thread, so the writer thread, the bottleneck in
        an alert flood, only numbers the rows and runs the statements.
        """
        d = len(batch.detectors)
        latency = np.asarray(batch.latency_ms, dtype="<f4").tobytes()
        rows = batch.alert_rows
        k = len(rows)
        flat, details = None, None
        if k:
            codes = (batch.flags[rows] * (1 << np.arange(d))).sum(axis=1)
            names = [",".join(("",) + tuple(batch.detectors[j] for j in range(d) if c >> j & 1) + ("",))
                     for c in range(1 << d)]
            top = np.concatenate([batch.top_idx, batch.top_z, batch.top_weight], axis=1).astype("<f4")
            none = [None] * k
            cols = [  # id and seq (columns 0 and 2) are numbered at commit
                none, [run] * k, none, [batch.scored_ts] * k, batch.ingest_ts[rows].tolist(),
                batch.timestamp[rows].tolist(), batch.flow_id[rows].tolist(), batch.src_ip[rows].tolist(),
                batch.src_port[rows].tolist(), batch.dst_ip[rows].tolist(), batch.dst_port[rows].tolist(),
                batch.protocol[rows].tolist(),
                batch.label[rows].tolist() if batch.label is not None else none,
                batch.family[rows].tolist() if batch.family is not None else none,
                np.array(names, dtype=object)[codes].tolist(), _rows_bytes(batch.scores[rows].astype("<f8")),
                [latency] * k]
            grid = np.empty((k, len(cols)), dtype=object)
            for j, col in enumerate(cols):
                grid[:, j] = col
            flat = grid.ravel().tolist()
            features = np.ascontiguousarray(batch.alert_features, dtype="<f8")
            details = (features.shape[1], features.tobytes(), top.tobytes())
        nums = texts = None
        if self.verdict_window > 0:
            nums = np.column_stack([batch.ingest_ts, batch.timestamp, batch.src_port, batch.dst_port,
                                    batch.protocol, batch.scores]).astype("<f8").tobytes()
            texts = orjson.dumps([batch.flow_id.tolist(), batch.src_ip.tolist(), batch.dst_ip.tolist(),
                                  batch.label.tolist() if batch.label is not None else None,
                                  batch.family.tolist() if batch.family is not None else None]).decode()
        return _Prepared(batch=batch, run=run, latency=latency, k=k, alert_params=flat, details=details,
                         nums=nums, texts=texts)

    def write_batch(self, batch: VerdictBatch, run: int, prepared: _Prepared | None = None) -> int:
        """Commit a batch's verdicts and alerts; returns the id of its first alert.

        Assigns ``batch.seq0``.  The batch's alerts get consecutive ids from
        the returned one.  Called from one writer thread at a time; ``prepared``
        is :meth:`prepare` of the same batch and run, made beforehand elsewhere.
        """
        p = prepared if prepared is not None else self.prepare(batch, run)
        if p.batch is not batch or p.run != run:
            raise ValueError("prepared rows of another batch or run")
        n, k = len(batch), p.k
        with self._lock:
            batch.seq0 = self._next_seq
            first = self._next_alert
            try:
                self._w.execute("BEGIN")
                if self.verdict_window > 0:
                    self._w.execute("INSERT INTO verdict_batches VALUES (?,?,?,?,?,?,?)",
                                    (batch.seq0, n, run, batch.scored_ts, p.latency, p.nums, p.texts))
                if k:
                    flat, ncols = p.alert_params, len(p.alert_params) // k
                    flat[0::ncols] = range(first, first + k)
                    flat[2::ncols] = (batch.alert_rows + batch.seq0).tolist()
                    self._insert_many(_ALERT_INSERT, flat, ncols, k)
                    self._w.execute("INSERT INTO alert_details VALUES (?,?,?,?,?)", (first, k, *p.details))
                self._next_seq += n
                self._next_alert += k
                self._w.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                    (("next_seq", self._next_seq), ("next_alert_id", self._next_alert)))
                self._w.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._w.in_transaction:
                    self._w.execute("ROLLBACK")
                self._next_seq, self._next_alert = batch.seq0, first
                raise StoreError(f"cannot write to the alert store {self.path}: {exc}") from None
            if time.monotonic() - self._last_retention > _RETENTION_EVERY_S:
                self._retention()
        return first

    def _insert_many(self, head: str, flat: list, ncols: int, k: int) -> None:
        """Insert ``k`` rows of ``ncols`` values (``flat``, row after row), many rows per statement.

        ``executemany`` binds and steps one row at a time, releasing and
        re-taking the GIL at every row; a multi-row ``VALUES`` statement binds
        a chunk in one call and inserts it in one step (about 1.5x the rows/s,
        and the scoring thread is not kept waiting on the GIL). Chunks are
        powers of two, so at most a dozen statements are ever prepared.
        """
        chunk = self._chunks.get(ncols)
        if chunk is None:
            chunk = self._chunks[ncols] = _insert_chunk(self._w, ncols)
        i = 0
        while i < k:
            size = chunk
            while size > k - i:
                size //= 2
            self._w.execute(_values_sql(head, ncols, size), flat[i * ncols:(i + size) * ncols])
            i += size

    def _retention(self) -> None:
        """Apply the retention policy (caller holds the writer lock)."""
        self._last_retention = time.monotonic()
        w = self._w
        cutoff = self._next_seq - self.verdict_window
        gone = w.execute("SELECT COALESCE(SUM(n), 0) FROM verdict_batches WHERE seq0 + n <= ?", (cutoff,)).fetchone()[0]
        w.execute("DELETE FROM verdict_batches WHERE seq0 + n <= ?", (cutoff,))
        self.removed["verdicts"] += int(gone)
        # two statements, each on an index (an OR of both would scan the table under the writer lock)
        removed = w.execute("DELETE FROM alerts WHERE id < ?", (self._next_alert - self.max_alerts,)).rowcount
        removed += w.execute("DELETE FROM alerts WHERE ts < ?", (time.time() - self.alert_retention_s,)).rowcount
        self.removed["alerts"] += removed
        if removed:
            # a batch's details go once none of its alerts is left (alert ids only grow, so the oldest go first)
            low = w.execute("SELECT COALESCE(MIN(id), ?) FROM alerts", (self._next_alert,)).fetchone()[0]
            w.execute("DELETE FROM alert_details WHERE first_id < ? AND first_id + k <= ?", (low, low))
            log.info("retention removed %d alerts from %s", removed, self.path)

    def update_alert(self, alert_id: int, status: str | None = None, note: str | None = None,
                     clear_note: bool = False) -> dict[str, Any] | None:
        """Set an alert's status and/or note; returns the updated alert, or None if it does not exist."""
        if status is not None and status not in ALERT_STATUSES:
            raise ValueError(f"status must be one of {ALERT_STATUSES}, got {status!r}")
        sets, args = ["updated_at = ?"], [time.time()]
        if status is not None:
            sets.append("status = ?")
            args.append(status)
        if note is not None or clear_note:
            sets.append("note = ?")
            args.append(note)
        with self._lock:
            cur = self._w.execute(f"UPDATE alerts SET {', '.join(sets)} WHERE id = ?", (*args, alert_id))
        if cur.rowcount == 0:
            return None
        return self.get_alert(alert_id)

    # --- reading ------------------------------------------------------------------------------

    def _run(self, conn: sqlite3.Connection, run: int) -> _Run:
        info = self._runs.get(run)
        if info is None:
            row = conn.execute("SELECT detectors, thresholds, features FROM runs WHERE id = ?", (run,)).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: alert refers to unknown run {run}")
            info = _Run(tuple(json.loads(row[0])), np.asarray(json.loads(row[1])), tuple(json.loads(row[2])))
            self._runs[run] = info
        return info

    def _alert(self, conn: sqlite3.Connection, row: tuple, with_features: bool = True) -> dict[str, Any]:
        (aid, run, seq, ts, ingest_ts, stamp, flow_id, src_ip, src_port, dst_ip, dst_port, protocol, label,
         family, _flagged, scores, latency, features, top, status, note, updated_at) = row
        info = self._run(conn, run)
        s = np.frombuffer(scores, dtype="<f8")
        lat = np.frombuffer(latency, dtype="<f4")
        verdicts = {d: bool(s[j] >= info.thresholds[j]) for j, d in enumerate(info.detectors)}
        v = list(verdicts.values())
        out = {
            "seq": seq, "flow_id": flow_id, "src_ip": src_ip, "src_port": src_port, "dst_ip": dst_ip,
            "dst_port": dst_port, "protocol": protocol, "timestamp": _opt(stamp), "ingest_ts": ingest_ts,
            "scored_ts": ts,
            "scores": {d: float(s[j]) for j, d in enumerate(info.detectors)},
            "verdicts": verdicts,
            "latency_ms": {d: round(float(lat[j]), 3) for j, d in enumerate(info.detectors)},
            "label": label, "family": family, "agreement": all(v) or not any(v), "alert": True,
            "id": aid, "status": status, "note": note, "updated_at": updated_at,
        }
        if not with_features:
            out["features"] = out["top_features"] = None
        else:
            if features is None:  # stored per batch in alert_details (every alert written since it existed)
                features, top = self._details(conn, aid)
            raw = np.frombuffer(features, dtype="<f8") if features is not None else np.zeros(0)
            out["features"] = {name: (float(x) if math.isfinite(x) else None)
                               for name, x in zip(info.features, raw.tolist())}
            t = np.frombuffer(top, dtype="<f4").reshape(3, -1) if top is not None else np.zeros((3, 0))
            out["top_features"] = [
                {"name": info.features[int(j)],
                 "value": (float(raw[int(j)]) if len(raw) > j and math.isfinite(raw[int(j)]) else None),
                 "z": round(float(z), 4), "weight": round(float(w), 6)}
                for j, z, w in zip(t[0][:TOP_FEATURES], t[1], t[2])]
        return out

    def _details(self, conn: sqlite3.Connection, alert_id: int) -> tuple[bytes | None, bytes | None]:
        """An alert's raw features and explanation, sliced out of its batch's ``alert_details`` row."""
        row = conn.execute("SELECT first_id, k, width, length(top) FROM alert_details WHERE first_id <= ? "
                           "ORDER BY first_id DESC LIMIT 1", (alert_id,)).fetchone()
        if row is None or alert_id >= row[0] + row[1]:
            return None, None
        first, k, width, top_bytes = row
        i = alert_id - first
        out = []
        for column, size in (("features", width * 8), ("top", top_bytes // k)):
            try:
                with conn.blobopen("alert_details", column, first, readonly=True) as blob:
                    blob.seek(i * size)
                    out.append(blob.read(size))
            except sqlite3.OperationalError:  # removed by retention between the two statements
                return None, None
        return out[0], out[1]

    def get_alert(self, alert_id: int) -> dict[str, Any] | None:
        conn = self._reader()
        row = conn.execute(f"SELECT {_ALERT_COLS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return None if row is None else self._alert(conn, row)

    def list_alerts(self, q: AlertQuery) -> tuple[list[dict[str, Any]], str | None]:
        """One page of alerts: newest first, or oldest first from ``after_id``.

        Returns the items and the cursor of the next page (None on the last).
        """
        where, args = [], []
        ascending = q.after_id is not None
        if q.cursor:
            direction, last = _decode_cursor(q.cursor)
            ascending = direction == "a"
            where.append("id > ?" if ascending else "id < ?")
            args.append(last)
        elif q.after_id is not None:
            where.append("id > ?")
            args.append(q.after_id)
        if q.since is not None:
            where.append("ts >= ?")
            args.append(q.since)
        if q.until is not None:
            where.append("ts < ?")
            args.append(q.until)
        if q.family:
            if q.family == UNLABELLED:
                where.append("family IS NULL")
            else:
                where.append("family = ?")
                args.append(q.family)
        if q.detector:
            where.append("flagged LIKE ?")
            args.append(f"%,{q.detector},%")
        if q.status:
            where.append("status = ?")
            args.append(q.status)
        sql = (f"SELECT {_ALERT_COLS} FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
               + f" ORDER BY id {'ASC' if ascending else 'DESC'} LIMIT ?")
        conn = self._reader()
        rows = conn.execute(sql, (*args, q.limit + 1)).fetchall()
        more = len(rows) > q.limit
        items = [self._alert(conn, r, q.features) for r in rows[: q.limit]]
        cursor = _encode_cursor("a" if ascending else "d", items[-1]["id"]) if more and items else None
        return items, cursor

    def last_alert_id(self) -> int | None:
        row = self._reader().execute("SELECT MAX(id) FROM alerts").fetchone()
        return row[0]

    def count_alerts(self) -> int:
        return int(self._reader().execute("SELECT COUNT(*) FROM alerts").fetchone()[0])

    def trends(self, minutes: int = 60, now: float | None = None) -> dict[str, Any]:
        """Alerts per family per minute over the last ``minutes`` minutes (the current one included)."""
        now = time.time() if now is None else now
        end = int(now // 60) * 60
        start = end - (minutes - 1) * 60
        rows = self._reader().execute(
            "SELECT CAST(ts / 60 AS INTEGER) * 60 AS m, COALESCE(family, ?), COUNT(*) FROM alerts "
            "WHERE ts >= ? GROUP BY m, 2", (UNLABELLED, start)).fetchall()
        stamps = [start + 60 * i for i in range(minutes)]
        families: dict[str, list[int]] = {}
        for m, fam, count in rows:
            i = (int(m) - start) // 60
            if 0 <= i < minutes:
                families.setdefault(fam, [0] * minutes)[i] += int(count)
        return {"start": start, "minutes": stamps, "families": families}

    def recent_verdicts(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest stored verdicts, newest first (the rolling window)."""
        conn = self._reader()
        out: list[dict[str, Any]] = []
        for seq0, n, run, ts, latency, nums, texts in conn.execute(
                "SELECT seq0, n, run, ts, latency, nums, texts FROM verdict_batches ORDER BY seq0 DESC"):
            info = self._run(conn, run)
            d = len(info.detectors)
            m = np.frombuffer(nums, dtype="<f8").reshape(n, 5 + d)
            lat = np.frombuffer(latency, dtype="<f4")
            flow_id, src_ip, dst_ip, label, family = json.loads(texts)
            for i in range(n - 1, -1, -1):
                s = m[i, 5:]
                verdicts = {det: bool(s[j] >= info.thresholds[j]) for j, det in enumerate(info.detectors)}
                v = list(verdicts.values())
                port = [None if math.isnan(x) else int(x) for x in m[i, 2:5]]
                out.append({"seq": seq0 + i, "flow_id": flow_id[i], "src_ip": src_ip[i], "src_port": port[0],
                            "dst_ip": dst_ip[i], "dst_port": port[1], "protocol": port[2],
                            "timestamp": _opt(float(m[i, 1])), "ingest_ts": float(m[i, 0]), "scored_ts": ts,
                            "scores": {det: float(s[j]) for j, det in enumerate(info.detectors)},
                            "verdicts": verdicts,
                            "latency_ms": {det: round(float(lat[j]), 3) for j, det in enumerate(info.detectors)},
                            "label": None if label is None else label[i],
                            "family": None if family is None else family[i],
                            "agreement": all(v) or not any(v), "alert": any(v)})
                if len(out) >= limit:
                    return out
        return out
