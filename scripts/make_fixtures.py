#!/usr/bin/env python3
"""Write the tiny hand-shaped CSV fixtures the tests load.

The values are synthetic (seeded), not rows of the real dataset; each file
exercises one thing the loader must handle.  Nothing is committed: the test
session writes them into a temporary folder (tests/conftest.py calls
:func:`write_fixtures`).  To look at them:

    python scripts/make_fixtures.py [OUT_DIR]     # default tests/fixtures/ (git-ignored)
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"

# The 2017 release's TrafficLabelling header, as that release spells it
# (leading spaces, its own names, the duplicated "Fwd Header Length.1").
HEADER_2017 = (
    "Flow ID, Source IP, Source Port, Destination IP, Destination Port, Protocol, Timestamp,"
    " Flow Duration, Total Fwd Packets, Total Backward Packets,Total Length of Fwd Packets,"
    " Total Length of Bwd Packets, Fwd Packet Length Max, Fwd Packet Length Min,"
    " Fwd Packet Length Mean, Fwd Packet Length Std,Bwd Packet Length Max, Bwd Packet Length Min,"
    " Bwd Packet Length Mean, Bwd Packet Length Std,Flow Bytes/s, Flow Packets/s, Flow IAT Mean,"
    " Flow IAT Std, Flow IAT Max, Flow IAT Min,Fwd IAT Total, Fwd IAT Mean, Fwd IAT Std,"
    " Fwd IAT Max, Fwd IAT Min,Bwd IAT Total, Bwd IAT Mean, Bwd IAT Std, Bwd IAT Max,"
    " Bwd IAT Min,Fwd PSH Flags, Bwd PSH Flags, Fwd URG Flags, Bwd URG Flags, Fwd Header Length,"
    " Bwd Header Length,Fwd Packets/s, Bwd Packets/s, Min Packet Length, Max Packet Length,"
    " Packet Length Mean, Packet Length Std, Packet Length Variance,FIN Flag Count,"
    " SYN Flag Count, RST Flag Count, PSH Flag Count, ACK Flag Count, URG Flag Count,"
    " CWE Flag Count, ECE Flag Count, Down/Up Ratio, Average Packet Size, Avg Fwd Segment Size,"
    " Avg Bwd Segment Size, Fwd Header Length.1,Fwd Avg Bytes/Bulk, Fwd Avg Packets/Bulk,"
    " Fwd Avg Bulk Rate, Bwd Avg Bytes/Bulk, Bwd Avg Packets/Bulk,Bwd Avg Bulk Rate,"
    "Subflow Fwd Packets, Subflow Fwd Bytes, Subflow Bwd Packets, Subflow Bwd Bytes,"
    "Init_Win_bytes_forward, Init_Win_bytes_backward, act_data_pkt_fwd, min_seg_size_forward,"
    "Active Mean, Active Std, Active Max, Active Min,Idle Mean, Idle Std, Idle Max, Idle Min, Label"
).split(",")
N_FEATURES_2017 = len(HEADER_2017) - 8  # 7 identifiers + Label
assert N_FEATURES_2017 == 77  # 76 features + the duplicated "Fwd Header Length.1"


def _features(rng: random.Random, n: int) -> list[str]:
    return [str(rng.randint(0, 5000)) for _ in range(n)]


def improved_header() -> list[str]:
    sys.path.insert(0, str(OUT.parent.parent / "src"))
    from flowsentinel import schema

    return ["id", *schema.IDENTIFIERS, *schema.FEATURES, "Label", "Attempted Category"]


def write_improved(rng: random.Random, out: Path) -> None:
    header = improved_header()
    idx_bytes = header.index("Flow Bytes/s")
    idx_pkts = header.index("Flow Packets/s")
    rows = []
    labels = ["BENIGN", "BENIGN", "BENIGN", "DoS Hulk", "DoS Hulk", "Portscan",
              "FTP-Patator - Attempted", "SSH-Patator", "BENIGN", "DDoS"]
    for i, label in enumerate(labels):
        src_port = 40000 + i
        ident = [str(i), f"10.0.0.{i}-10.0.1.1-{src_port}-80-6", f"10.0.0.{i}", str(src_port),
                 "10.0.1.1", "80", "6", f"2017-07-05 10:00:{i:02d}.000001"]
        row = ident + _features(rng, 81) + [label, "-1" if "Attempted" not in label else "1"]
        rows.append(row)
    rows[1][idx_bytes] = "Infinity"
    rows[1][idx_pkts] = "NaN"
    rows[2][idx_bytes] = "-Infinity"
    rows.append(list(rows[3]))  # an exact duplicate of a DoS Hulk row
    lines = [",".join(header)] + [",".join(r) for r in rows[:5]] + [""] + [",".join(r) for r in rows[5:]]
    (out / "improved_small.csv").write_text("\n".join(lines) + "\n", encoding="ascii")

    bad = [list(r) for r in rows[:3]]
    bad[1][header.index("Flow Duration")] = "abc"
    (out / "bad_value.csv").write_text("\n".join([",".join(header)] + [",".join(r) for r in bad]) + "\n")

    unknown = [list(r) for r in rows[:3]]
    unknown[2][-2] = "Totally Normal Traffic"
    (out / "unknown_label.csv").write_text("\n".join([",".join(header)] + [",".join(r) for r in unknown]) + "\n")


def write_2017(rng: random.Random, out: Path) -> None:
    labels = ["BENIGN", "BENIGN", "Web Attack \u2013 Brute Force", "Web Attack \u2013 XSS",
              "Web Attack \u2013 Sql Injection", "DoS slowloris", "PortScan", "Bot", "BENIGN"]
    rows = []
    for i, label in enumerate(labels):
        src_port = 50000 + i
        ident = [f"192.168.10.{i}-172.16.0.1-{src_port}-80-6", f"192.168.10.{i}", str(src_port),
                 "172.16.0.1", "80", "6", f"5/7/2017 9:{i:02d}"]
        rows.append(ident + _features(rng, N_FEATURES_2017) + [label])
    flow_bytes = [h.strip() for h in HEADER_2017].index("Flow Bytes/s")
    rows[0][flow_bytes] = "Infinity"
    rows[1][flow_bytes] = "NaN"
    lines = [",".join(HEADER_2017)] + [",".join(r) for r in rows] + ["," * (len(HEADER_2017) - 1)]
    # cp1252: the en dash of the web-attack labels is the single byte 0x96.
    (out / "release2017_small.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))


def write_fixtures(out: Path) -> Path:
    """Write every fixture into ``out`` (created); the same bytes every time."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(2017)
    write_improved(rng, out)
    write_2017(rng, out)
    return out


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    print(f"fixtures written to {write_fixtures(out)}")


if __name__ == "__main__":
    main()
