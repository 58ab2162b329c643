"""What every benchmark script shares: where things are, the sample, the commit measured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
CACHE = HERE / ".cache"
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))


def sample_dir(who: str = "benchmarks") -> Path:
    """``$FLOWSENTINEL_DATA/cicids2017-improved-sample`` (default ``../shared/data``), or exit saying so."""
    root = Path(os.environ.get("FLOWSENTINEL_DATA", REPO.parent / "shared" / "data"))
    path = root / "cicids2017-improved-sample"
    if not path.is_dir():
        sys.exit(f"{who} need the CICIDS-2017 sample at {path} (set FLOWSENTINEL_DATA)")
    return path


def git_commit() -> str | None:
    """The repository's HEAD, "+dirty" when src/ or a benchmark script has uncommitted changes (results do not count)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "benchmarks/*.py"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None
