"""The one canonical flow schema.

Every source (CSV of either CICIDS-2017 release, Parquet, pcap, live interface,
simulator, HTTP request) is mapped onto these names at its edge; nothing
downstream sees raw column names.  This module imports nothing of ours.

* ``FEATURES``: the 81 flow features of the improved release (Engelen et al.),
  in a fixed order and spelled exactly as that release's CSV header.
* ``IDENTIFIERS``: flow identity columns.  They are *not* model inputs by
  default: on CICIDS-2017 ``Dst Port`` and ``Protocol`` alone separate the
  classes almost perfectly, a shortcut that fails on real networks.
* ``LABEL`` / ``FAMILY`` / ``ATTEMPTED``: the normalised label, the derived
  attack family (``Normal`` for benign traffic) and whether the label was an
  improved-release ``… - Attempted`` label.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "ALIASES",
    "ATTEMPTED",
    "FAMILIES",
    "FAMILY",
    "FEATURES",
    "IDENTIFIERS",
    "LABEL",
    "NORMAL",
    "PORT_IDENTIFIERS",
    "RELEASE_2017_MISSING",
    "LabelInfo",
    "UnknownLabelError",
    "canonical_column",
    "classify_label",
    "normalize_label",
]

FEATURES: tuple[str, ...] = (
    "Flow Duration", "Total Fwd Packet", "Total Bwd packets",
    "Total Length of Fwd Packet", "Total Length of Bwd Packet",
    "Fwd Packet Length Max", "Fwd Packet Length Min", "Fwd Packet Length Mean",
    "Fwd Packet Length Std", "Bwd Packet Length Max", "Bwd Packet Length Min",
    "Bwd Packet Length Mean", "Bwd Packet Length Std", "Flow Bytes/s",
    "Flow Packets/s", "Flow IAT Mean", "Flow IAT Std", "Flow IAT Max",
    "Flow IAT Min", "Fwd IAT Total", "Fwd IAT Mean", "Fwd IAT Std", "Fwd IAT Max",
    "Fwd IAT Min", "Bwd IAT Total", "Bwd IAT Mean", "Bwd IAT Std", "Bwd IAT Max",
    "Bwd IAT Min", "Fwd PSH Flags", "Bwd PSH Flags", "Fwd URG Flags",
    "Bwd URG Flags", "Fwd RST Flags", "Bwd RST Flags", "Fwd Header Length",
    "Bwd Header Length", "Fwd Packets/s", "Bwd Packets/s", "Packet Length Min",
    "Packet Length Max", "Packet Length Mean", "Packet Length Std",
    "Packet Length Variance", "FIN Flag Count", "SYN Flag Count",
    "RST Flag Count", "PSH Flag Count", "ACK Flag Count", "URG Flag Count",
    "CWR Flag Count", "ECE Flag Count", "Down/Up Ratio", "Average Packet Size",
    "Fwd Segment Size Avg", "Bwd Segment Size Avg", "Fwd Bytes/Bulk Avg",
    "Fwd Packet/Bulk Avg", "Fwd Bulk Rate Avg", "Bwd Bytes/Bulk Avg",
    "Bwd Packet/Bulk Avg", "Bwd Bulk Rate Avg", "Subflow Fwd Packets",
    "Subflow Fwd Bytes", "Subflow Bwd Packets", "Subflow Bwd Bytes",
    "FWD Init Win Bytes", "Bwd Init Win Bytes", "Fwd Act Data Pkts",
    "Fwd Seg Size Min", "Active Mean", "Active Std", "Active Max", "Active Min",
    "Idle Mean", "Idle Std", "Idle Max", "Idle Min", "ICMP Code", "ICMP Type",
    "Total TCP Flow Time",
)
assert len(FEATURES) == 81 and len(set(FEATURES)) == 81

IDENTIFIERS: tuple[str, ...] = (
    "Flow ID", "Src IP", "Src Port", "Dst IP", "Dst Port", "Protocol", "Timestamp",
)
#: Identifiers that are numeric and could be (explicitly) used as model inputs.
PORT_IDENTIFIERS: tuple[str, ...] = ("Src Port", "Dst Port", "Protocol")

LABEL = "Label"
FAMILY = "Family"
ATTEMPTED = "Attempted"
NORMAL = "Normal"

#: Attack families, in report order.  ``Normal`` is the benign class.
FAMILIES: tuple[str, ...] = (
    NORMAL, "DoS", "DDoS", "PortScan", "Brute Force", "Web Attack", "Botnet",
    "Infiltration", "Heartbleed",
)

#: Features the original (2017) release does not have.
RELEASE_2017_MISSING: tuple[str, ...] = (
    "Fwd RST Flags", "Bwd RST Flags", "ICMP Code", "ICMP Type", "Total TCP Flow Time",
)

# Column names of the 2017 release (MachineLearningCVE / TrafficLabelling CSVs),
# after stripping surrounding whitespace, mapped to canonical names.  Names that
# are already canonical need no entry.  ``None`` marks a column we drop on
# purpose (``Fwd Header Length.1`` duplicates ``Fwd Header Length``).
ALIASES: dict[str, str | None] = {
    "Source IP": "Src IP",
    "Source Port": "Src Port",
    "Destination IP": "Dst IP",
    "Destination Port": "Dst Port",
    "Total Fwd Packets": "Total Fwd Packet",
    "Total Backward Packets": "Total Bwd packets",
    "Total Length of Fwd Packets": "Total Length of Fwd Packet",
    "Total Length of Bwd Packets": "Total Length of Bwd Packet",
    "Min Packet Length": "Packet Length Min",
    "Max Packet Length": "Packet Length Max",
    "CWE Flag Count": "CWR Flag Count",
    "Avg Fwd Segment Size": "Fwd Segment Size Avg",
    "Avg Bwd Segment Size": "Bwd Segment Size Avg",
    "Fwd Header Length.1": None,
    "Fwd Avg Bytes/Bulk": "Fwd Bytes/Bulk Avg",
    "Fwd Avg Packets/Bulk": "Fwd Packet/Bulk Avg",
    "Fwd Avg Bulk Rate": "Fwd Bulk Rate Avg",
    "Bwd Avg Bytes/Bulk": "Bwd Bytes/Bulk Avg",
    "Bwd Avg Packets/Bulk": "Bwd Packet/Bulk Avg",
    "Bwd Avg Bulk Rate": "Bwd Bulk Rate Avg",
    "Init_Win_bytes_forward": "FWD Init Win Bytes",
    "Init_Win_bytes_backward": "Bwd Init Win Bytes",
    "act_data_pkt_fwd": "Fwd Act Data Pkts",
    "min_seg_size_forward": "Fwd Seg Size Min",
    # Columns of the improved release that carry no flow information.
    "id": None,
    "Attempted Category": None,
}

_CANONICAL = {name: name for name in (*FEATURES, *IDENTIFIERS, LABEL)}
_BY_FOLDED = {k.casefold(): v for k, v in {**_CANONICAL, **ALIASES}.items()}


def canonical_column(raw: str) -> str | None:
    """Map a raw CSV header name of either release to its canonical name.

    Surrounding whitespace and case are ignored.  Returns ``None`` for columns
    that are dropped on purpose, and raises ``KeyError`` for a name that
    neither release uses.
    """
    key = " ".join(str(raw).split()).casefold()
    if key in _BY_FOLDED:
        return _BY_FOLDED[key]
    raise KeyError(raw)


# --- labels -----------------------------------------------------------------

# Normalised base label (see ``normalize_label``) -> (display label, family).
# Display labels follow the improved release's spelling.
_LABELS: dict[str, tuple[str, str]] = {
    "benign": ("BENIGN", NORMAL),
    "dos hulk": ("DoS Hulk", "DoS"),
    "dos goldeneye": ("DoS GoldenEye", "DoS"),
    "dos slowloris": ("DoS Slowloris", "DoS"),
    "dos slowhttptest": ("DoS Slowhttptest", "DoS"),
    "ddos": ("DDoS", "DDoS"),
    "portscan": ("Portscan", "PortScan"),
    "infiltration - portscan": ("Infiltration - Portscan", "PortScan"),
    "ftp-patator": ("FTP-Patator", "Brute Force"),
    "ssh-patator": ("SSH-Patator", "Brute Force"),
    "web attack - brute force": ("Web Attack - Brute Force", "Web Attack"),
    "web attack - xss": ("Web Attack - XSS", "Web Attack"),
    "web attack - sql injection": ("Web Attack - SQL Injection", "Web Attack"),
    "bot": ("Botnet", "Botnet"),
    "botnet": ("Botnet", "Botnet"),
    "infiltration": ("Infiltration", "Infiltration"),
    "heartbleed": ("Heartbleed", "Heartbleed"),
}

# Dash look-alikes seen in the wild: the cp1252 en dash 0x96 read as latin-1
# (U+0096), the same byte after a lossy UTF-8 decode (U+FFFD), a UTF-8 en dash
# read as cp1252 ("â€“"), and the real en/em dashes.
_DASHES = re.compile("(\u00e2\u20ac\u201c|\u00e2\u20ac\u201d|[\u0096\u0097\ufffd\u2013\u2014\u2212])")
_ATTEMPTED = re.compile(r"\s*-\s*attempted$")


def normalize_label(raw: str) -> str:
    """Fold a raw label to its normalised spelling.

    Case, surrounding and repeated whitespace and every dash look-alike are
    folded, so ``"Web Attack \\x96 Brute Force"`` (cp1252),
    ``"Web Attack � Brute Force"`` and ``"web attack - brute force"`` agree.
    """
    text = unicodedata.normalize("NFKC", _DASHES.sub("-", str(raw)))
    text = re.sub(r"\s*-\s*", " - ", text)
    # keep tool names such as "FTP-Patator" written without spaces
    text = re.sub(r"(?i)\b(ftp|ssh) - patator\b", r"\1-Patator", text)
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class LabelInfo:
    """What a raw label means: its family and whether it was only attempted."""

    label: str  # the improved release's spelling, attempted suffix removed
    family: str
    attempted: bool

    @property
    def is_attack(self) -> bool:
        return self.family != NORMAL


class UnknownLabelError(ValueError):
    """A label that neither release uses; never silently treated as Normal."""


def classify_label(raw: str) -> LabelInfo:
    """Classify a raw label of either release.

    Raises ``UnknownLabelError`` for a label that neither release uses.
    """
    norm = normalize_label(raw)
    attempted = bool(_ATTEMPTED.search(norm))
    base = _ATTEMPTED.sub("", norm)
    try:
        label, family = _LABELS[base]
    except KeyError:
        known = ", ".join(sorted({display for display, _ in _LABELS.values()}))
        raise UnknownLabelError(
            f"unknown label {raw!r}; expected one of the CICIDS-2017 labels ({known}), "
            "optionally followed by ' - Attempted'"
        ) from None
    return LabelInfo(label=label, family=family, attempted=attempted)
