"""One object from a packet source to flow records, and the flow CSV writer.

:class:`FlowStreamer` takes a capture file (or any iterable of
:class:`~flowsentinel.capture.packets.RawFrames`, which is what a live source
yields) and yields :class:`~flowsentinel.capture.meter.FlowChunk` s; file and
interface share this one path: source → :func:`decode_frames` → :class:`FlowMeter`.

pandas and tqdm are imported only by what needs them (a frame, a progress
bar), so ``flowsentinel capture`` from a pcap to a CSV does not pay their
start-up.
"""

from __future__ import annotations

import csv
import functools
import logging
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flowsentinel import schema
from flowsentinel.capture.meter import FlowChunk, FlowMeter, MeterStats
from flowsentinel.capture.packets import RawFrames, decode_frames
from flowsentinel.capture.pcapfile import PcapFileSource
from flowsentinel.capture.profiles import SemanticsProfile

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FlowStreamer", "flows_to_frame", "meter_pcap", "write_flow_csv"]

log = logging.getLogger(__name__)

# Features that are float in the frame only so that they can hold NaN (one-packet
# flows); the release's CSVs write them as integers.
_INTEGRAL_FLOATS = ("Flow IAT Max", "Flow IAT Min")


class FlowStreamer:
    """Flows of a packet source, metered with one semantics profile.

    Parameters
    ----------
    source : str, Path or iterable of RawFrames
        A pcap/pcapng file, or a source object yielding frame batches (a live
        interface).  A source may expose ``kernel_drops`` (int) and
        ``expire_now()`` (wall-clock µs, or None) for live operation.
    profile : str or SemanticsProfile, optional
        ``"cicids2017"`` (default) or ``"corrected"``.
    batch_size : int
        Frames per batch when reading a file.
    max_flows, max_tombstones : int
        Passed to :class:`FlowMeter`.
    progress : bool, optional
        Show a progress bar of packets read (default: only when stderr is a
        terminal).
    closed_wait_s : float, optional
        Write a closed TCP connection once it has been quiet this many
        seconds (live use; see :class:`FlowMeter` ``closed_wait_us``).  None
        (default): the release's rule, flows exactly as the dataset's meter.

    Examples
    --------
    >>> frame = FlowStreamer("capture.pcap").to_frame()   # doctest: +SKIP
    """

    def __init__(self, source: str | os.PathLike[str] | Iterable[RawFrames],
                 profile: str | SemanticsProfile | None = None, batch_size: int = 16_384,
                 max_flows: int = 1_000_000, max_tombstones: int = 1_000_000,
                 progress: bool | None = None, closed_wait_s: float | None = None) -> None:
        self.progress = sys.stderr.isatty() if progress is None else bool(progress)
        if closed_wait_s is not None and not (isinstance(closed_wait_s, (int, float)) and 0 <= closed_wait_s < 1e9):
            raise ValueError(f"closed_wait_s must be None or a number of seconds >= 0, got {closed_wait_s!r}")
        wait = None if closed_wait_s is None else int(round(closed_wait_s * 1_000_000))
        self.meter = FlowMeter(profile, max_flows=max_flows, max_tombstones=max_tombstones, closed_wait_us=wait)
        if isinstance(source, (str, os.PathLike)):
            self.source: Iterable[RawFrames] = PcapFileSource(source, batch_size=batch_size)
        elif hasattr(source, "__iter__"):
            self.source = source
        else:
            raise TypeError(f"source must be a capture file path or an iterable of RawFrames, "
                            f"got {type(source).__name__}")

    @property
    def stats(self) -> MeterStats:
        """Counters: frames, packets, malformed, non-IP, kernel drops, flows, evictions."""
        drops = getattr(self.source, "kernel_drops", None)
        if drops is not None:
            self.meter.stats.kernel_drops = int(drops)
        return self.meter.stats

    def __iter__(self) -> Iterator[FlowChunk]:
        meter = self.meter
        other_zero = meter.profile.quirk_other_protocols_as_zero
        expire_now = getattr(self.source, "expire_now", None)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(unit="pkt", unit_scale=True, desc=str(getattr(self.source, "path", "packets")))
        for frames in self.source:
            if bar is not None:
                bar.update(len(frames))
            chunk = meter.update(decode_frames(frames, other_protocols_as_zero=other_zero))
            if len(chunk):
                yield chunk
            if expire_now is not None:
                now = expire_now()
                if now is not None:
                    chunk = meter.expire(now)
                    if len(chunk):
                        yield chunk
        if bar is not None:
            bar.close()
        chunk = meter.flush()
        if len(chunk):
            yield chunk
        st = self.stats
        if st.malformed:
            first = "; ".join(f"packet {n}: {why}" for n, why in st.malformed_examples)
            log.warning("%s: %d malformed frame(s) skipped (%s)", getattr(self.source, "path", "source"),
                        st.malformed, first)
        # routine counts at debug (the live simulator meters a window every 10 s); what an
        # operator must see, packets the kernel dropped or flows evicted for memory, as a warning
        (log.warning if st.kernel_drops or st.evicted else log.debug)("metered %s", st.as_dict())

    def to_frame(self) -> pd.DataFrame:
        """All flows as one DataFrame (columns ``IDENTIFIERS + FEATURES``)."""
        return flows_to_frame(list(self))

    def to_csv(self, path: str | os.PathLike[str]) -> int:
        """Write every flow to ``path`` as the release's CSV, chunk by chunk; return the flow count.

        Same file as ``write_flow_csv(self.to_frame(), path)``, without
        holding all flows (or pandas) in memory: see :func:`write_flow_csv`.
        """
        before = self.meter.stats.flows
        write_flow_csv(self, path)
        return self.meter.stats.flows - before


def meter_pcap(path: str | os.PathLike[str], profile: str | SemanticsProfile | None = None,
               **kwargs) -> pd.DataFrame:
    """Meter a pcap/pcapng file into a flow DataFrame (see :class:`FlowStreamer`)."""
    return FlowStreamer(path, profile=profile, **kwargs).to_frame()


def flows_to_frame(records: FlowChunk | Iterable[FlowChunk] | Iterable[dict]) -> pd.DataFrame:
    """Flow records → a DataFrame with columns ``schema.IDENTIFIERS + schema.FEATURES``.

    Parameters
    ----------
    records : FlowChunk, iterable of FlowChunk, or iterable of dict
        What the meter returns, or one dict per flow keyed by schema names.

    Returns
    -------
    DataFrame, shape (n_flows, 88)
    """
    import pandas as pd

    names = [*schema.IDENTIFIERS, *schema.FEATURES]
    if isinstance(records, FlowChunk):
        records = [records]
    items = list(records)
    if items and all(isinstance(r, FlowChunk) for r in items):
        parts = {}
        for name in names:
            vals = [np.asarray(c.columns[name]) for c in items]
            parts[name] = np.concatenate(vals) if vals else np.zeros(0)
        frame = pd.DataFrame(parts, columns=names)
    else:
        for i, r in enumerate(items):
            if not isinstance(r, dict):
                raise TypeError(f"record {i} is {type(r).__name__}; expected a FlowChunk or a dict")
            missing = [c for c in names if c not in r]
            if missing:
                raise KeyError(f"record {i} lacks {len(missing)} schema column(s), e.g. {missing[:3]}")
        frame = pd.DataFrame.from_records(items, columns=names)
    for name in ("Src Port", "Dst Port", "Protocol"):
        frame[name] = frame[name].astype(np.int64)
    for name in ("Flow ID", "Src IP", "Dst IP", "Timestamp"):
        frame[name] = frame[name].astype(object)
    return frame


def _fmt(value: float, integral: bool) -> str:
    """One value as the release wrote it (the slow path, for columns that are not numpy numbers)."""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if integral and v.is_integer():
        return str(int(v))
    return repr(v)


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_TABLE_SIZE = 8192  # counts, flags, packet and header lengths: most values of most columns


@functools.cache
def _small_texts(as_float: bool) -> np.ndarray:
    """Text of 0 .. _TABLE_SIZE - 1 as ints (``"3"``) or as float reprs (``"3.0"``), an object array."""
    return np.array([repr(float(i)) if as_float else str(i) for i in range(_TABLE_SIZE)], dtype=object)


def _feature_text(col, integral: bool) -> list[str]:
    """A feature column as CSV fields, a few numpy passes per column instead of a call per value.

    Same text as :func:`_fmt` value by value: integers as integers, floats as
    Python's shortest round-trip ``repr``, whole floats of ``integral``
    columns as integers, non-finite values as ``NaN`` / ``Infinity`` /
    ``-Infinity`` (the release's Java spelling).  Small whole values come
    from a table; only the others are formatted one by one.
    """
    arr = col.to_numpy() if hasattr(col, "to_numpy") else col
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iuf":
        return [_fmt(v, integral) for v in (col.tolist() if hasattr(col, "tolist") else col)]
    is_int = arr.dtype.kind != "f"
    if is_int:
        fast = (arr >= 0) & (arr < _TABLE_SIZE)
    else:
        # repr(-0.0) is "-0.0": only an integral column may write it from the table ("0")
        fast = (arr == np.floor(arr)) & (arr < _TABLE_SIZE) & ((arr > -1) if integral else ~np.signbit(arr))
    out = _small_texts(not (is_int or integral))[np.where(fast, arr, 0).astype(np.intp)]
    slow = np.flatnonzero(~fast)
    if slow.size:
        vals = arr[slow].tolist()  # Python ints or floats, as the per-value writer saw them
        if is_int:
            texts = list(map(str, vals))
        else:
            texts = ([str(int(v)) if v.is_integer() else repr(v) for v in vals] if integral
                     else list(map(repr, vals)))
            texts = [_NON_FINITE.get(t, t) for t in texts]
        out[slow] = np.fromiter(texts, dtype=object, count=slow.size)
    return out.tolist()


_SPECIAL = re.compile(r'[,"\r\n]')


def _text(values, none: str = "None") -> list[str]:
    """Text fields quoted as ``csv.writer`` quotes them (QUOTE_MINIMAL); ``None`` as ``none``."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    out = [none if v is None else str(v) for v in values]
    if _SPECIAL.search("".join(out)):
        out = ['"' + v.replace('"', '""') + '"' if _SPECIAL.search(v) else v for v in out]
    return out


def _rows(col, start: int, stop: int):
    """Rows ``start:stop`` of a column (ndarray, list or Series), by position."""
    return col.iloc[start:stop] if hasattr(col, "iloc") else col[start:stop]


def _write_rows(fh, columns: dict[str, object], names: list[str], integral: dict[str, bool],
                first_id: int, labels: list | None) -> None:
    """Append one block of rows (``columns``: name → column of equal length) to an open CSV."""
    fields = [_text(columns[c]) if c in schema.IDENTIFIERS else _feature_text(columns[c], integral[c])
              for c in names]
    n = len(fields[0]) if fields else 0
    if not n:
        return
    ids = map(str, range(first_id + 1, first_id + n + 1))
    if labels is not None:
        fields += [_text(labels, none=""), ["-1"] * n]  # csv.writer writes None as ""
    fh.write("\r\n".join(map(",".join, zip(ids, *fields))))
    fh.write("\r\n")


def write_flow_csv(flows: pd.DataFrame | FlowChunk | Iterable[FlowChunk], path: str | os.PathLike[str],
                   labels: Iterable[str] | None = None, block_rows: int = 65_536) -> Path:
    """Write flows as a CSV with the improved release's header and conventions.

    Columns: ``id``, the identifiers, the 81 features, then ``Label`` and
    ``Attempted Category`` only when ``labels`` are given (the team loader
    rejects an empty ``Label``, and reads unlabelled files without one).
    Integer features are written as integers, real ones as shortest
    round-trip decimals, non-finite values as ``Infinity`` / ``NaN`` (as the
    release's meter wrote them).  Values are formatted a column at a time and
    written in blocks of rows, so a chunk stream (a :class:`FlowStreamer`)
    goes to disk without ever being one frame.

    Parameters
    ----------
    flows : DataFrame, FlowChunk or iterable of FlowChunk
        Columns ``schema.IDENTIFIERS + schema.FEATURES`` (extra columns
        ignored); a chunk stream is written as it comes.
    path : str or Path
        Output file.
    labels : iterable of str, optional
        One label per flow (e.g. ``"BENIGN"``).
    block_rows : int
        Rows formatted and written at a time (bounds the memory of the text).

    Returns
    -------
    Path

    Raises
    ------
    KeyError
        When the flows lack a schema column (the message names some).
    ValueError
        When the number of labels differs from the number of flows.
    """
    names = [*schema.IDENTIFIERS, *schema.FEATURES]
    lab = None if labels is None else list(labels)
    out = Path(path)
    header = ["id", *names] + (["Label", "Attempted Category"] if lab is not None else [])
    pd = sys.modules.get("pandas")  # a DataFrame means pandas is loaded; never import it here
    if pd is not None and isinstance(flows, pd.DataFrame):
        missing = [c for c in names if c not in flows.columns]
        if missing:
            raise KeyError(f"frame lacks {len(missing)} schema column(s), e.g. {missing[:3]}")
        if lab is not None and len(lab) != len(flows):
            raise ValueError(f"{len(lab)} labels for {len(flows)} flows")
        integral = {c: flows[c].dtype.kind in "iu" or c in _INTEGRAL_FLOATS for c in names}
        whole = {c: flows[c].to_numpy() if isinstance(flows[c].dtype, np.dtype) else flows[c] for c in names}
        parts: Iterable[tuple[dict, int]] = [(whole, len(flows))]
    else:
        chunks = [flows] if isinstance(flows, FlowChunk) else flows
        parts = ((c.columns, len(c)) for c in chunks if len(c))
        integral = None
    written = 0
    with open(out, "w", newline="") as fh:
        csv.writer(fh).writerow(header)
        for columns, size in parts:
            missing = [c for c in names if c not in columns]
            if missing:
                raise KeyError(f"flow chunk lacks {len(missing)} schema column(s), e.g. {missing[:3]}")
            kinds = integral or {c: np.asarray(columns[c]).dtype.kind in "iu" or c in _INTEGRAL_FLOATS
                                 for c in schema.FEATURES}
            for i in range(0, size, block_rows):
                n = min(block_rows, size - i)
                block = {c: _rows(columns[c], i, i + n) for c in names} if n < size else columns
                block_labels = None
                if lab is not None:
                    block_labels = lab[written:written + n]
                    if len(block_labels) != n:
                        raise ValueError(f"{len(lab)} labels for more than {len(lab)} flows")
                _write_rows(fh, block, names, kinds, written, block_labels)
                written += n
    if lab is not None and written != len(lab):
        raise ValueError(f"{len(lab)} labels for {written} flows")
    return out
