"""Load CICIDS-2017 flow files of either release into the canonical schema.

Accepts files, folders (searched recursively) and glob patterns of CSV (also
``.csv.gz``) and Parquet.  CSVs are read in chunks with a progress bar so the
full dataset (2.8 M rows, ~1.1 GB) fits comfortably in memory; an optional
Parquet cache makes repeated loads fast.

What the loader handles, so nothing downstream has to:

* both releases' headers (leading spaces, 2017 names) → ``schema`` names;
* ``Infinity`` / ``NaN`` written as text, blank lines and all-empty rows;
* labels written in cp1252 (``Web Attack \\x96 Brute Force``) or mangled by a
  wrong decode — files are read as latin-1, which never fails on any byte,
  and ``schema.normalize_label`` folds every dash look-alike;
* values that are not numbers: kept as missing, counted, and reported with
  file, line and column;
* unknown labels: an error naming file, line and label — never a silent Normal.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from flowsentinel import schema

__all__ = [
    "DataError",
    "FileSummary",
    "LoadIssue",
    "LoadReport",
    "LoadResult",
    "expand_paths",
    "load_flows",
]

log = logging.getLogger(__name__)

_LOADER_VERSION = "1"  # bump when the cached frame's layout changes
_NUMERIC_IDENTIFIERS = ("Src Port", "Dst Port", "Protocol")
_TEXT_IDENTIFIERS = ("Flow ID", "Src IP", "Dst IP", "Timestamp")
_NA_TEXT = ["", "NaN", "nan", "NA", "N/A", "null", "None"]
_MAX_ISSUES = 200  # issues kept verbatim; all are counted


class DataError(ValueError):
    """Input that cannot be loaded; the message names the file and what was expected."""


@dataclass(frozen=True)
class LoadIssue:
    """One bad value: where it is and what was expected."""

    file: str
    line: int  # 1-based line number in the file (the header is line 1)
    column: str
    value: str
    expected: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: column {self.column!r}: got {self.value!r}, expected {self.expected}"


@dataclass
class FileSummary:
    path: str
    release: str  # "improved", "2017" or "canonical" (Parquet written by us)
    rows: int = 0
    blank_rows: int = 0
    cached: bool = False


@dataclass
class LoadReport:
    """Counts of everything the loader did, for logs and the manifest."""

    files: list[FileSummary] = field(default_factory=list)
    rows: int = 0
    blank_rows: int = 0
    bad_values: int = 0
    issues: list[LoadIssue] = field(default_factory=list)
    missing_features: tuple[str, ...] = ()
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)

    def add_issue(self, issue: LoadIssue) -> None:
        self.bad_values += 1
        if len(self.issues) < _MAX_ISSUES:
            self.issues.append(issue)

    def to_dict(self) -> dict:
        return {
            "files": [vars(f) for f in self.files],
            "rows": self.rows,
            "blank_rows": self.blank_rows,
            "bad_values": self.bad_values,
            "issues": [str(i) for i in self.issues[:20]],
            "missing_features": list(self.missing_features),
            "ignored_columns": self.ignored_columns,
        }


@dataclass
class LoadResult:
    frame: pd.DataFrame
    report: LoadReport


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files, folders and glob patterns into a sorted list of data files.

    Raises ``DataError`` naming every argument that matched nothing.
    """
    found: list[Path] = []
    nothing: list[str] = []
    for raw in paths:
        text = os.fspath(raw)
        p = Path(text)
        if p.is_dir():
            hits = sorted(q for q in p.rglob("*") if q.is_file() and _is_data_file(q))
        elif p.is_file():
            hits = [p]
        else:
            hits = sorted(Path(q) for q in glob.glob(text, recursive=True) if Path(q).is_file())
            hits = [q for q in hits if _is_data_file(q)]
        if not hits:
            nothing.append(text)
        found.extend(hits)
    if nothing:
        raise DataError(
            "no CSV or Parquet flow files found at: " + ", ".join(repr(n) for n in nothing)
            + " (expected a file, a folder holding *.csv / *.csv.gz / *.parquet, or a glob)"
        )
    unique = list(dict.fromkeys(q.resolve() for q in found))
    return unique


def _is_data_file(p: Path) -> bool:
    name = p.name.lower()
    return name.endswith((".csv", ".csv.gz", ".parquet", ".pq"))


def load_flows(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    require_labels: bool = True,
    chunksize: int = 200_000,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> LoadResult:
    """Load flow files of either CICIDS-2017 release into the canonical schema.

    Parameters
    ----------
    paths : path, or sequence of files, folders and glob patterns
    require_labels : bool
        When true (training, evaluation) every file must have a ``Label``
        column; when false (scoring) labels are optional.
    chunksize : int
        Rows parsed at a time; bounds peak memory while parsing.
    cache_dir : path, optional
        Folder for a Parquet cache of each parsed CSV, keyed by the file's
        path, size and modification time.
    progress : bool, optional
        Show a progress bar (default: only when stderr is a terminal).

    Returns
    -------
    LoadResult
        ``frame`` (n_flows rows) has the identifiers the files carry, the
        features they all carry (float64, in ``schema.FEATURES`` order), and
        when labelled ``Label`` (improved-release spelling, with
        `` - Attempted`` kept), ``Family`` and ``Attempted``.  ``report``
        counts rows, blank rows and bad values and lists features missing.

    Raises
    ------
    DataError
        No files, an unreadable header, no label column when one is required.
    schema.UnknownLabelError
        Labels neither release uses, each named with file, line and count.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = expand_paths(paths)
    report = LoadReport()
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)

    total_bytes = sum(f.stat().st_size for f in files)
    bar = tqdm(
        total=total_bytes, unit="B", unit_scale=True, desc="loading flows",
        disable=(not progress) if progress is not None else None, leave=False,
    )
    frames: list[pd.DataFrame] = []
    unknown: dict[str, tuple[str, int, int]] = {}
    try:
        for path in files:
            summary, frame = _load_one(path, report, cache, chunksize, bar, unknown, require_labels)
            report.files.append(summary)
            if frame is not None and len(frame):
                frames.append(frame)
    finally:
        bar.close()

    if unknown:
        lines = [f"{label!r} ({n} rows; first at {file}:{line})" for label, (file, line, n) in unknown.items()]
        raise schema.UnknownLabelError(
            "unknown labels (not CICIDS-2017 labels of either release): " + "; ".join(lines)
        )

    frame = _combine(frames, report)
    report.rows = len(frame)
    log.info(
        "loaded %d flows from %d file(s); %d blank rows skipped, %d bad values",
        report.rows, len(files), report.blank_rows, report.bad_values,
    )
    if report.bad_values:
        log.warning("%d values were not numbers and are treated as missing; first: %s",
                    report.bad_values, report.issues[0])
    return LoadResult(frame=frame, report=report)


def _combine(frames: list[pd.DataFrame], report: LoadReport) -> pd.DataFrame:
    """Concatenate per-file frames; a feature any file lacks is dropped for all, loudly."""
    if not frames:
        return pd.DataFrame(columns=[*schema.FEATURES])
    present = [set(f.columns) for f in frames]
    missing = [c for c in schema.FEATURES if not all(c in p for p in present)]
    if missing:
        lacking = [s.path for s, p in zip(report.files, present) if any(c not in p for c in missing)]
        log.warning(
            "features %s are missing from %d file(s) (e.g. %s); they are dropped for every "
            "file so no row silently gets a made-up value",
            ", ".join(missing), len(lacking), lacking[0],
        )
    report.missing_features = tuple(missing)
    order = [c for c in (*schema.IDENTIFIERS, *schema.FEATURES, schema.LABEL, schema.FAMILY, schema.ATTEMPTED)
             if c not in missing and all(c in p for p in present)]
    return pd.concat([f[order] for f in frames], ignore_index=True)


def _cache_path(cache: Path, path: Path) -> Path:
    st = path.stat()
    key = f"{_LOADER_VERSION}|{path}|{st.st_size}|{st.st_mtime_ns}"
    return cache / f"{path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.parquet"


def _load_one(path, report, cache, chunksize, bar, unknown, require_labels):
    name = path.name.lower()
    size = path.stat().st_size
    if cache is not None and not name.endswith((".parquet", ".pq")):
        cached = _cache_path(cache, path)
        if cached.exists():
            frame = pd.read_parquet(cached)
            summary = FileSummary(str(path), str(frame.attrs.get("release", "cached")), len(frame), cached=True)
            bar.update(size)
            _check_labels(frame, path, require_labels)
            return summary, frame
    if name.endswith((".parquet", ".pq")):
        summary, frame = _load_parquet(path, report, unknown, require_labels)
        bar.update(size)
    else:
        summary, frame = _load_csv(path, report, chunksize, bar, unknown, require_labels)
    if cache is not None and not name.endswith((".parquet", ".pq")) and frame is not None:
        frame.attrs["release"] = summary.release
        frame.to_parquet(_cache_path(cache, path), index=False)
    return summary, frame


def _check_labels(frame: pd.DataFrame, path: Path, require_labels: bool) -> None:
    if require_labels and schema.LABEL not in frame.columns:
        raise DataError(f"{path}: no 'Label' column; training and evaluation need labelled flows")


def _map_header(raw_columns: Sequence[str], path: Path, report: LoadReport):
    """Map raw header names → canonical; returns ({raw: canonical}, release)."""
    mapping: dict[str, str] = {}
    ignored: list[str] = []
    release = "improved"
    for raw in raw_columns:
        try:
            canon = schema.canonical_column(raw)
        except KeyError:
            ignored.append(str(raw))
            continue
        if canon is None:
            continue
        if " ".join(str(raw).split()) != canon:
            release = "2017"
        if canon in mapping.values():
            raise DataError(f"{path}: columns {raw!r} and another column both mean {canon!r}")
        mapping[raw] = canon
    if ignored:
        report.ignored_columns[str(path)] = ignored
        log.warning("%s: ignoring %d column(s) neither release uses: %s", path, len(ignored), ", ".join(ignored[:10]))
    if not any(c in schema.FEATURES for c in mapping.values()):
        raise DataError(
            f"{path}: the header has none of the CICIDS-2017 flow features (expected columns such as "
            f"'Flow Duration', 'Total Fwd Packet(s)'); is this a flow CSV?"
        )
    return mapping, release


def _load_parquet(path, report, unknown, require_labels):
    raw = pd.read_parquet(path)
    mapping, release = _map_header(list(raw.columns), path, report)
    frame = raw[list(mapping)].rename(columns=mapping)
    if schema.FAMILY in raw.columns and schema.ATTEMPTED in raw.columns and schema.LABEL in frame.columns:
        frame[schema.FAMILY] = raw[schema.FAMILY]
        frame[schema.ATTEMPTED] = raw[schema.ATTEMPTED].astype(bool)
        release = "canonical"
    summary = FileSummary(str(path), release)
    frame = _finish(frame, path, report, summary, unknown, require_labels, first_line=2, offset=0)
    summary.rows = len(frame)
    return summary, frame


def _load_csv(path, report, chunksize, bar, unknown, require_labels):
    with _open_text(path) as fh:
        header = fh.readline()
    if not header.strip():
        raise DataError(f"{path}: empty file or empty header line; expected a CICIDS-2017 CSV header")
    raw_columns = next(iter(pd.read_csv(pd.io.common.StringIO(header), header=None, dtype=str).itertuples(index=False)))
    raw_columns = [str(c) for c in raw_columns]
    mapping, release = _map_header(raw_columns, path, report)
    usecols = list(mapping)
    numeric = [r for r, c in mapping.items() if c in schema.FEATURES or c in _NUMERIC_IDENTIFIERS]
    dtypes = {r: "float64" for r in numeric}
    dtypes.update({r: str for r, c in mapping.items() if c not in schema.FEATURES and c not in _NUMERIC_IDENTIFIERS})
    summary = FileSummary(str(path), release)
    frames = []
    offset = 0
    done = 0
    for chunk, pos in _read_chunks(path, usecols, dtypes, numeric, chunksize, report):
        chunk = chunk.rename(columns=mapping)
        frames.append(_finish(chunk, path, report, summary, unknown, require_labels, first_line=2, offset=offset))
        offset += len(chunk)
        bar.update(max(pos - done, 0))
        done = max(done, pos)
    bar.update(max(path.stat().st_size - done, 0))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(mapping.values()))
    summary.rows = len(frame)
    return summary, frame


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", encoding="latin-1", newline="")
    return open(path, encoding="latin-1", newline="")


def _read_chunks(path, usecols, dtypes, numeric, chunksize, report):
    """Yield ``(chunk, bytes_read)``; a chunk holding non-numeric text is re-parsed.

    The fast path parses numbers in C.  Only when a chunk holds something that
    is not a number is that chunk read again as text and converted column by
    column, so each bad value is named with its line and column and every
    other value of the chunk still loads.
    """
    common = dict(
        encoding="latin-1", usecols=usecols, skip_blank_lines=False,
        na_values=_NA_TEXT, keep_default_na=False,
        compression="gzip" if path.name.lower().endswith(".gz") else None,
    )
    start = 0  # data rows consumed so far
    while True:
        skip = (lambda i, s=start: 0 < i <= s) if start else None
        with open(path, "rb") as fh:
            reader = pd.read_csv(fh, dtype=dtypes, chunksize=chunksize, skiprows=skip, **common)
            try:
                for chunk in reader:
                    start += len(chunk)
                    yield chunk, fh.tell()
                return
            except ValueError:
                reader.close()
        skip = (lambda i, s=start: 0 < i <= s) if start else None
        with open(path, "rb") as fh:
            text = pd.read_csv(fh, dtype=str, skiprows=skip, nrows=chunksize, **common)
            yield _coerce_text_chunk(text, numeric, path, start, report), fh.tell()
        start += len(text)
        if len(text) < chunksize:
            return


def _coerce_text_chunk(text: pd.DataFrame, numeric, path, start, report) -> pd.DataFrame:
    out = text.copy()
    for col in numeric:
        values = text[col]
        parsed = pd.to_numeric(values.str.strip(), errors="coerce")
        bad = parsed.isna() & values.notna() & ~values.str.strip().str.fullmatch(r"(?i)[+-]?(inf|infinity|nan)")
        for i in np.flatnonzero(bad.to_numpy()):
            report.add_issue(LoadIssue(str(path), start + int(i) + 2, " ".join(col.split()),
                                       str(values.iloc[i]), "a number, 'Infinity' or 'NaN'"))
        inf_text = values.str.strip().str.lower()
        parsed = parsed.where(~inf_text.isin(["inf", "infinity", "+inf", "+infinity"]), np.inf)
        parsed = parsed.where(~inf_text.isin(["-inf", "-infinity"]), -np.inf)
        out[col] = parsed.astype("float64")
    return out


def _finish(chunk, path, report, summary, unknown, require_labels, *, first_line, offset):
    """Drop blank rows, classify labels; returns the chunk in canonical form."""
    values = chunk.drop(columns=[schema.LABEL], errors="ignore")
    blank = values.isna().all(axis=1).to_numpy().copy()
    if schema.LABEL in chunk.columns:
        labels = chunk[schema.LABEL]
        blank &= labels.isna().to_numpy() | (labels.astype(str).str.strip() == "").to_numpy()
    if blank.any():
        n = int(blank.sum())
        report.blank_rows += n
        summary.blank_rows += n
        chunk = chunk.loc[~blank]
    if schema.LABEL not in chunk.columns:
        _check_labels(chunk, path, require_labels)
        return chunk.reset_index(drop=True)
    if schema.FAMILY in chunk.columns and schema.ATTEMPTED in chunk.columns:
        return chunk.reset_index(drop=True)  # canonical Parquet written by us
    labels = chunk[schema.LABEL]
    missing_label = labels.isna().to_numpy()
    if missing_label.any():
        i = int(np.flatnonzero(missing_label)[0])
        line = first_line + offset + int(chunk.index[i])
        raise DataError(f"{path}:{line}: empty 'Label' in a row that has flow values; expected a CICIDS-2017 label")
    codes, uniques = pd.factorize(labels, sort=False)
    disp, fam, att = [], [], []
    for j, raw in enumerate(uniques):
        try:
            info = schema.classify_label(raw)
        except schema.UnknownLabelError:
            rows = np.flatnonzero(codes == j)
            line = first_line + offset + int(chunk.index[rows[0]])
            prev = unknown.get(str(raw))
            unknown[str(raw)] = prev[:2] + (prev[2] + len(rows),) if prev else (str(path), line, len(rows))
            info = schema.LabelInfo(str(raw), schema.NORMAL, False)
        disp.append(info.label + (" - Attempted" if info.attempted else ""))
        fam.append(info.family)
        att.append(info.attempted)
    chunk = chunk.reset_index(drop=True)
    chunk[schema.LABEL] = np.asarray(disp, dtype=object)[codes]
    chunk[schema.FAMILY] = np.asarray(fam, dtype=object)[codes]
    chunk[schema.ATTEMPTED] = np.asarray(att, dtype=bool)[codes]
    return chunk
