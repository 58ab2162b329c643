"""The model bundle: one folder, a JSON manifest, non-pickle artifacts.

Layout::

    bundle/
      manifest.json        format, version, features, transform state, detectors,
                           caller metadata, library versions, SHA-256 of every file
      features.json        the ordered feature list (hashed, so an edited
                           manifest feature order is caught)
      rf/rf.onnx
      cnn/cnn.onnx
      cnn/cnn.safetensors

:func:`load_bundle` reads the manifest first and verifies — format and
version, safe relative paths, presence and SHA-256 of every listed file,
agreement of the feature lists — before it loads any artifact.  Anything
wrong raises :class:`BundleError` naming the file and the problem.  The
checksums catch corruption and careless edits; they are not a signature.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from flowsentinel.models.base import Detector
from flowsentinel.models.transform import FlowTransform

__all__ = ["FORMAT", "FORMAT_VERSION", "Bundle", "BundleError", "load_bundle", "save_bundle"]

log = logging.getLogger(__name__)

FORMAT = "flowsentinel-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FEATURES_FILE = "features.json"
EXTRA_DIR = "extra"


class BundleError(ValueError):
    """A bundle folder that is missing, tampered with, truncated or inconsistent."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, PurePosixPath)):
        return str(obj)
    if isinstance(obj, (datetime, pd.Timestamp)):
        return obj.isoformat()
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON-serialisable: {obj!r}")


def _strict(obj: Any) -> Any:
    """Replace non-finite floats by None so the manifest is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, (np.ndarray, np.generic)):
        return _strict(obj.tolist())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _versions() -> dict[str, str]:
    import onnxruntime
    import sklearn
    import torch

    import flowsentinel

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "sklearn": sklearn.__version__,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "flowsentinel": flowsentinel.__version__,
    }


def _safe_relative(name: str) -> PurePosixPath:
    """Return ``name`` as a relative POSIX path inside the bundle, or raise."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise BundleError(f"manifest lists an invalid file name {name!r}")
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or name.startswith("~"):
        raise BundleError(
            f"manifest lists {name!r}, which points outside the bundle folder; refusing to read it"
        )
    return p


def save_bundle(
    path: str | Path,
    transform: FlowTransform,
    detectors: dict[str, Detector],
    *,
    metadata: dict[str, Any] | None = None,
    extra_files: dict[str, np.ndarray] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a bundle folder atomically.

    Parameters
    ----------
    path : path
        Bundle folder to create.  Must not exist (or be empty) unless
        ``overwrite`` is true.
    transform : FlowTransform
        The fitted transform every detector was trained behind.
    detectors : dict of str to Detector
        Fitted detectors by name (the name is also the artifact sub-folder).
    metadata : dict
        Anything JSON-able the caller wants kept: data summary, split,
        metrics, seeds…
    extra_files : dict of str to ndarray, optional
        Plain numeric arrays kept beside the models as ``.npy`` under
        ``extra/`` (checksummed like every file, read back with
        ``allow_pickle=False`` by :meth:`Bundle.extra_array`), e.g. the
        hashes of the rows the bundle was trained on.
    overwrite : bool
        Replace an existing bundle at ``path``.

    Returns
    -------
    Path
        The bundle folder.
    """
    path = Path(path)
    if not detectors:
        raise ValueError("a bundle needs at least one detector")
    state = transform.to_dict()
    features = list(transform.features)
    for name, det in detectors.items():
        _safe_relative(name)
        if "/" in name or name in (MANIFEST, FEATURES_FILE):
            raise ValueError(f"detector name {name!r} cannot be used as a folder name")
        if getattr(det, "n_features_in_", None) != len(features):
            raise ValueError(
                f"detector {name!r} expects {getattr(det, 'n_features_in_', '?')} features but the "
                f"transform produces {len(features)}; fit it on this transform's output"
            )
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} exists and is not empty; pass overwrite=True to replace it")

    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        entries: dict[str, Any] = {}
        for name, det in detectors.items():
            written = det.save(tmp / name)
            entries[name] = {
                "kind": det.name,
                "class": type(det).__name__,
                "threshold": float(det.threshold_),
                "artifacts": [f"{name}/{a}" for a in written],
                "metadata": det.metadata(),
            }
        (tmp / FEATURES_FILE).write_text(json.dumps(features, indent=1) + "\n", encoding="utf-8")
        for extra_name, array in (extra_files or {}).items():
            rel = _safe_relative(f"{EXTRA_DIR}/{extra_name}")
            array = np.asarray(array)
            if array.dtype == object or not extra_name.endswith(".npy"):
                raise ValueError(f"extra file {extra_name!r} must be a numeric array saved as .npy")
            (tmp / EXTRA_DIR).mkdir(exist_ok=True)
            np.save(tmp.joinpath(*rel.parts), array, allow_pickle=False)
        files = {
            p.relative_to(tmp).as_posix(): _sha256(p)
            for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "features": features,
            "transform": state,
            "detectors": entries,
            "metadata": metadata or {},
            "versions": _versions(),
            "files": files,
        }
        text = json.dumps(_strict(manifest), indent=2, default=_json_default, allow_nan=False)
        (tmp / MANIFEST).write_text(text + "\n", encoding="utf-8")
        if path.exists():
            if overwrite:
                shutil.rmtree(path)
            else:
                path.rmdir()  # empty, checked above
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("bundle written to %s (%d detectors, %d files)", path, len(detectors), len(files))
    return path


@dataclass
class Bundle:
    """A verified, loaded bundle: the transform, every detector and the manifest."""

    path: Path
    manifest: dict[str, Any]
    transform: FlowTransform
    detectors: dict[str, Detector] = field(default_factory=dict)

    @property
    def features(self) -> tuple[str, ...]:
        """Ordered feature names the transform reads."""
        return self.transform.features

    @property
    def thresholds(self) -> dict[str, float]:
        return {name: det.threshold_ for name, det in self.detectors.items()}

    def score_frame(self, frame: pd.DataFrame | np.ndarray) -> dict[str, np.ndarray]:
        """Transform once, then score with every detector.

        Parameters
        ----------
        frame : DataFrame or ndarray (n_flows, n_features)
            Canonical columns (extra columns ignored) or raw values in
            ``features`` order.

        Returns
        -------
        dict of str to ndarray (n_flows,)
            P(attack) per detector name.
        """
        X = self.transform.transform(frame)
        return {name: det.score(X) for name, det in self.detectors.items()}

    def extra_array(self, name: str) -> np.ndarray | None:
        """An array saved with ``save_bundle(extra_files=...)``, or None if the bundle has none.

        Its checksum was verified at load; it is read without pickle support.
        """
        rel = f"{EXTRA_DIR}/{name}"
        if rel not in self.manifest.get("files", {}):
            return None
        return np.load(self.path / EXTRA_DIR / name, allow_pickle=False)

    def predict_frame(self, frame: pd.DataFrame | np.ndarray) -> dict[str, np.ndarray]:
        """Like :meth:`score_frame` but each detector's ``score >= threshold_`` (bool)."""
        return {name: s >= self.detectors[name].threshold_
                for name, s in self.score_frame(frame).items()}


def _read_manifest(root: Path) -> dict[str, Any]:
    if not root.is_dir():
        raise BundleError(f"{root} is not a bundle folder (no such directory)")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{mpath} is missing; {root} is not a FlowSentinel bundle")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{mpath} is not valid JSON ({exc}); the file is truncated or edited") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{mpath} does not hold a JSON object")
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{mpath}: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        hint = "upgrade flowsentinel" if isinstance(version, int) and version > FORMAT_VERSION else \
            "re-create the bundle"
        raise BundleError(
            f"{mpath}: format_version {version!r} is not supported (this flowsentinel reads "
            f"{FORMAT_VERSION}); {hint}"
        )
    for key in ("features", "transform", "detectors", "files"):
        if key not in manifest:
            raise BundleError(f"{mpath} lacks the {key!r} entry")
    return manifest


def _verify_files(root: Path, manifest: dict[str, Any]) -> None:
    files = manifest["files"]
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{root / MANIFEST}: 'files' must map file names to SHA-256 digests")
    real_root = root.resolve()
    for name, digest in files.items():
        rel = _safe_relative(name)
        fpath = root.joinpath(*rel.parts)
        try:
            fpath.resolve().relative_to(real_root)
        except ValueError:
            raise BundleError(f"{name!r} resolves outside the bundle folder (symlink?); refusing it") from None
        if not fpath.is_file():
            raise BundleError(f"{fpath} is listed in the manifest but missing; the bundle is incomplete")
        actual = _sha256(fpath)
        if actual != digest:
            raise BundleError(
                f"{fpath}: SHA-256 mismatch (manifest {str(digest)[:12]}…, file {actual[:12]}…, "
                f"{fpath.stat().st_size} bytes); the file was modified or truncated"
            )
    unlisted = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() not in files and p.name != MANIFEST
    )
    if unlisted:
        log.warning("bundle %s holds files the manifest does not list (ignored): %s", root, unlisted[:10])
    for name, entry in manifest["detectors"].items():
        for art in entry.get("artifacts", []):
            if art not in files:
                raise BundleError(f"detector {name!r} artifact {art!r} has no checksum in the manifest")


def _verify_features(root: Path, manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    if FEATURES_FILE not in manifest["files"]:
        raise BundleError(f"{root / MANIFEST} does not list {FEATURES_FILE}")
    try:
        stored = json.loads((root / FEATURES_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{root / FEATURES_FILE} is not valid JSON ({exc})") from None
    tf = manifest["transform"].get("features") if isinstance(manifest["transform"], dict) else None
    for what, other in ((FEATURES_FILE, stored), ("transform.features", tf)):
        if other != features:
            first = next((i for i, (a, b) in enumerate(zip(features, other or [])) if a != b),
                         min(len(features), len(other or [])))
            raise BundleError(
                f"{root / MANIFEST}: feature list disagrees with {what} (first difference at "
                f"position {first}); the manifest was edited — refusing to score with a wrong "
                "feature order"
            )
    for name, entry in manifest["detectors"].items():
        n = entry.get("metadata", {}).get("n_features")
        if n != len(features):
            raise BundleError(
                f"{root / MANIFEST}: detector {name!r} expects {n} features, the bundle lists {len(features)}"
            )


def load_bundle(path: str | Path) -> Bundle:
    """Verify, then load a bundle written by :func:`save_bundle`.

    The manifest is read and checked (format, version, file paths,
    checksums, feature lists) before any artifact is parsed.

    Parameters
    ----------
    path : path
        The bundle folder.

    Returns
    -------
    Bundle

    Raises
    ------
    BundleError
        Naming the file and what is wrong with it.
    """
    from flowsentinel.models import DETECTORS

    root = Path(path)
    manifest = _read_manifest(root)
    _verify_files(root, manifest)
    _verify_features(root, manifest)
    versions = manifest.get("versions", {})
    now = _versions()
    differ = {k: (versions.get(k), v) for k, v in now.items() if versions.get(k) not in (None, v)}
    if differ:
        log.warning("bundle %s was written with other library versions: %s", root, differ)
    try:
        transform = FlowTransform.from_dict(manifest["transform"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{root / MANIFEST}: invalid transform state ({exc})") from None
    detectors: dict[str, Detector] = {}
    for name, entry in manifest["detectors"].items():
        kind = entry.get("kind")
        cls = DETECTORS.get(kind)
        if cls is None or entry.get("class") != cls.__name__:
            raise BundleError(
                f"{root / MANIFEST}: detector {name!r} is of unknown kind {kind!r} / class "
                f"{entry.get('class')!r}; known: {', '.join(sorted(DETECTORS))}"
            )
        try:
            detectors[name] = cls.load(root / name, entry)
        except BundleError:
            raise
        except Exception as exc:  # any parse failure: say which detector folder failed
            raise BundleError(f"{root / name}: cannot load detector {name!r}: {exc}") from exc
    log.info("bundle %s loaded: %s", root, ", ".join(f"{n} (thr {d.threshold_:.4g})" for n, d in detectors.items()))
    return Bundle(path=root, manifest=manifest, transform=transform, detectors=detectors)
