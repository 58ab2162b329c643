"""A slow, literal per-packet reference of the release's flow meter, for differential tests.

Written from the rules (one object per flow, every statistic kept as a list,
flows keyed by directed ``src-dst-sport-dport-proto`` strings looked up in
both directions, as the release's generator does), with none of the
vectorisation of ``flowsentinel.capture``; the differential test feeds both the
same packets and compares every column.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics

from flowsentinel.capture.packets import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG
from flowsentinel.capture.profiles import SemanticsProfile

OPEN, FIRST_FIN, SECOND_FIN, READY = 0, 1, 2, 3


def _sd(v: list[float]) -> float:
    return statistics.stdev(v) if len(v) > 1 else 0.0


class RefFlow:
    def __init__(self, p: dict, src, sport, dst, dport, flow_id: str, prof: SemanticsProfile) -> None:
        self.prof = prof
        self.src, self.sport, self.dst, self.dport = src, sport, dst, dport
        self.flow_id = flow_id
        self.proto = p["proto"]
        self.fwd: list[dict] = []
        self.bwd: list[dict] = []
        self.lens: list[int] = []
        self.fh = self.bh = 0
        self.cnt = {k: 0 for k in ("fpsh", "bpsh", "furg", "burg", "frst", "brst", "ffin", "bfin")}
        self.flags = {b: 0 for b in (FIN, SYN, RST, PSH, ACK, URG, CWR, ECE)}
        self.act = 0
        self.min_seg = 0 if prof.quirk_fwd_seg_min_zero else None
        self.win_f = 0
        self.win_b = 0
        self.iat: list[int] = []
        self.fiat: list[int] = []
        self.biat: list[int] = []
        self.active: list[int] = []
        self.idle: list[int] = []
        self.sf_last = -1
        self.sf = 0
        self.bulk = {d: dict(start=0, last=0, n=0, size=0, states=0, pkts=0, bytes=0, dur=0) for d in "fb"}
        self.cum = 0
        self.state = OPEN
        self.icmp_code = p["icmp_code"]
        self.icmp_type = p["icmp_type"]
        self._first(p)

    def is_fwd(self, p: dict) -> bool:
        if self.prof.quirk_direction_by_ip:
            return p["src"] == self.src
        return (p["src"], p["sport"]) == (self.src, self.sport) or (
            p["src"] == p["dst"] and p["sport"] == p["dport"])

    # -- per packet ----------------------------------------------------------
    def _first(self, p: dict) -> None:
        t = p["ts"]
        self._bulk(p)
        self._flags(p)
        self.start = self.last = self.s_act = self.e_act = t
        self._subflow(p)
        self.lens.append(p["plen"])
        if self.is_fwd(p):
            self.min_seg = p["hlen"]
            self.win_f = p["win"]
            self.fh = p["hlen"]
            self.flast = t
            self.fwd.append(p)
            self._dir_counts(p, True, first=True)
        else:
            self.win_b = p["win"]
            self.bh = p["hlen"]
            self.blast = t
            self.bwd.append(p)
            self._dir_counts(p, False, first=True)

    def _dir_counts(self, p: dict, fwd: bool, first: bool) -> None:
        d = "f" if fwd else "b"
        f = p["flags"]
        if f & PSH:
            self.cnt[d + "psh"] += 1
        if f & URG:
            self.cnt[d + "urg"] += 1
        if first and self.prof.quirk_first_packet_uncounted:
            return
        if f & RST:
            self.cnt[d + "rst"] += 1
        if fwd and p["plen"] >= 1:
            self.act += 1

    def add(self, p: dict) -> None:
        t = p["ts"]
        self._bulk(p)
        self._subflow(p)
        self._flags(p)
        self.lens.append(p["plen"])
        if self.is_fwd(p):
            self.fwd.append(p)
            self.fh += p["hlen"]
            if len(self.fwd) > 1:
                self.fiat.append(t - self.flast)
            self.flast = t
            self.min_seg = p["hlen"] if self.min_seg is None else min(self.min_seg, p["hlen"])
            self._dir_counts(p, True, first=False)
            if p["flags"] & FIN:
                self.cnt["ffin"] += 1
        else:
            self.bwd.append(p)
            if self.prof.quirk_bwd_init_win_last or self.win_b == 0:
                self.win_b = p["win"]
            self.bh += p["hlen"]
            if len(self.bwd) > 1:
                self.biat.append(t - self.blast)
            self.blast = t
            self._dir_counts(p, False, first=False)
            if p["flags"] & FIN:
                self.cnt["bfin"] += 1
        self.iat.append(t - self.last)
        self.last = t

    def active_idle(self, t: int) -> None:
        if t - self.e_act > self.prof.activity_timeout_us:
            if self.e_act - self.s_act > 0:
                self.active.append(self.e_act - self.s_act)
            self.idle.append(t - self.e_act)
            self.s_act = self.e_act = t
        else:
            self.e_act = t

    def _flags(self, p: dict) -> None:
        for b in self.flags:
            if p["flags"] & b:
                self.flags[b] += 1

    def _subflow(self, p: dict) -> None:
        t = p["ts"]
        if self.prof.quirk_subflow_every_packet:
            self.sf += 1
            return
        if self.sf_last == -1:
            self.sf_last = t
        if t - self.sf_last > self.prof.subflow_gap_us:
            self.sf += 1
        self.sf_last = t

    def _bulk(self, p: dict) -> None:
        d, o = ("f", "b") if self.is_fwd(p) else ("b", "f")
        me, other = self.bulk[d], self.bulk[o]
        size, t = p["plen"], p["ts"]
        if other["last"] > me["start"]:
            me["start"] = 0
        if size <= 0:
            return
        if me["start"] == 0 or t - me["last"] > self.prof.bulk_gap_us:
            me.update(start=t, last=t, n=1, size=size)
            return
        me["n"] += 1
        me["size"] += size
        if me["n"] == self.prof.bulk_min_packets:
            me["states"] += 1
            me["pkts"] += me["n"]
            me["bytes"] += me["size"]
            me["dur"] += t - me["start"]
        elif me["n"] > self.prof.bulk_min_packets:
            me["pkts"] += 1
            me["bytes"] += size
            me["dur"] += t - me["last"]
        me["last"] = t

    # -- output -----------------------------------------------------------------
    @property
    def duration(self) -> int:
        return self.last - self.start

    def row(self) -> dict:
        nf, nb = len(self.fwd), len(self.bwd)
        n = nf + nb
        fl = [p["plen"] for p in self.fwd]
        bl = [p["plen"] for p in self.bwd]
        fb, bb = sum(fl), sum(bl)
        dur = self.duration
        secs = dur / 1e6
        r: dict = {}
        r["Flow ID"] = (self.flow_id if self.prof.quirk_flow_id_first_key else
                        f"{self.src}-{self.dst}-{self.sport}-{self.dport}-{self.proto}")
        r.update({"Src IP": self.src, "Src Port": self.sport, "Dst IP": self.dst, "Dst Port": self.dport,
                  "Protocol": self.proto,
                  "Timestamp": (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=self.start))
                  .strftime("%Y-%m-%d %H:%M:%S.%f")})
        r["Flow Duration"] = dur
        r["Total Fwd Packet"], r["Total Bwd packets"] = nf, nb
        r["Total Length of Fwd Packet"], r["Total Length of Bwd Packet"] = fb, bb
        for name, v in (("Fwd", fl), ("Bwd", bl)):
            r[f"{name} Packet Length Max"] = max(v) if v else 0
            r[f"{name} Packet Length Min"] = min(v) if v else 0
            r[f"{name} Packet Length Mean"] = sum(v) / len(v) if v else 0
            r[f"{name} Packet Length Std"] = _sd(v)
        r["Flow Bytes/s"] = _div(fb + bb, secs)
        r["Flow Packets/s"] = _div(n, secs)
        if self.iat:
            r["Flow IAT Mean"] = sum(self.iat) / len(self.iat)
            r["Flow IAT Std"] = _sd(self.iat)
            r["Flow IAT Max"], r["Flow IAT Min"] = max(self.iat), min(self.iat)
        else:
            r["Flow IAT Mean"] = r["Flow IAT Std"] = r["Flow IAT Max"] = r["Flow IAT Min"] = math.nan
        for name, v, cnt in (("Fwd", self.fiat, nf), ("Bwd", self.biat, nb)):
            ok = cnt > 1
            r[f"{name} IAT Total"] = sum(v) if ok else 0
            r[f"{name} IAT Mean"] = sum(v) / len(v) if ok else 0
            r[f"{name} IAT Std"] = _sd(v) if ok else 0
            r[f"{name} IAT Max"] = max(v) if ok else 0
            r[f"{name} IAT Min"] = min(v) if ok else 0
        c = self.cnt
        r["Fwd PSH Flags"], r["Bwd PSH Flags"] = c["fpsh"], c["bpsh"]
        r["Fwd URG Flags"], r["Bwd URG Flags"] = c["furg"], c["burg"]
        r["Fwd RST Flags"], r["Bwd RST Flags"] = c["frst"], c["brst"]
        r["Fwd Header Length"], r["Bwd Header Length"] = self.fh, self.bh
        r["Fwd Packets/s"] = nf / secs if dur > 0 else 0
        r["Bwd Packets/s"] = nb / secs if dur > 0 else 0
        r["Packet Length Min"], r["Packet Length Max"] = min(self.lens), max(self.lens)
        r["Packet Length Mean"] = sum(self.lens) / n
        r["Packet Length Std"] = _sd(self.lens)
        r["Packet Length Variance"] = statistics.variance(self.lens) if n > 1 else 0.0
        for name, b in (("FIN", FIN), ("SYN", SYN), ("RST", RST), ("PSH", PSH), ("ACK", ACK), ("URG", URG),
                        ("CWR", CWR), ("ECE", ECE)):
            r[f"{name} Flag Count"] = self.flags[b]
        r["Down/Up Ratio"] = nb / nf if nf else 0
        r["Average Packet Size"] = sum(self.lens) / n
        r["Fwd Segment Size Avg"] = fb / nf if nf else 0
        r["Bwd Segment Size Avg"] = bb / nb if nb else 0
        for name, d in (("Fwd", "f"), ("Bwd", "b")):
            s = self.bulk[d]
            r[f"{name} Bytes/Bulk Avg"] = s["bytes"] // s["states"] if s["states"] else 0
            r[f"{name} Packet/Bulk Avg"] = s["pkts"] // s["states"] if s["states"] else 0
            r[f"{name} Bulk Rate Avg"] = int(s["bytes"] / (s["dur"] / 1e6)) if s["dur"] else 0
        sf = self.sf if self.prof.quirk_subflow_every_packet else self.sf + 1
        r["Subflow Fwd Packets"], r["Subflow Fwd Bytes"] = nf // sf, fb // sf
        r["Subflow Bwd Packets"], r["Subflow Bwd Bytes"] = nb // sf, bb // sf
        r["FWD Init Win Bytes"], r["Bwd Init Win Bytes"] = self.win_f, self.win_b
        r["Fwd Act Data Pkts"] = self.act
        r["Fwd Seg Size Min"] = self.min_seg or 0
        active = list(self.active)
        if not self.prof.quirk_last_active_open and self.e_act - self.s_act > 0:
            active.append(self.e_act - self.s_act)
        for name, v in (("Active", active), ("Idle", self.idle)):
            r[f"{name} Mean"] = sum(v) / len(v) if v else 0
            r[f"{name} Std"] = _sd(v)
            r[f"{name} Max"] = max(v) if v else 0
            r[f"{name} Min"] = min(v) if v else 0
        r["ICMP Code"], r["ICMP Type"] = self.icmp_code, self.icmp_type
        r["Total TCP Flow Time"] = self.cum if self.proto == 6 else 0
        return r


def _div(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 else math.inf
    return a / b


class RefMeter:
    """The release's flow generator, one packet at a time.

    ``closed_wait_us``: a packet that comes more than this long after the last packet of a
    connection that is ready to close starts the next flow, as a SYN would (the live rule).
    """

    def __init__(self, prof: SemanticsProfile, closed_wait_us: int | None = None) -> None:
        self.prof = prof
        self.closed_wait_us = closed_wait_us
        self.flows: dict[str, RefFlow] = {}
        self.out: list[dict] = []

    def _new(self, p: dict, key: str, like: RefFlow | None = None) -> RefFlow:
        if like is None:
            return RefFlow(p, p["src"], p["sport"], p["dst"], p["dport"], key, self.prof)
        return RefFlow(p, like.src, like.sport, like.dst, like.dport, key, self.prof)

    def add(self, p: dict) -> None:
        fid = f"{p['src']}-{p['dst']}-{p['sport']}-{p['dport']}-{p['proto']}"
        bid = f"{p['dst']}-{p['src']}-{p['dport']}-{p['sport']}-{p['proto']}"
        key = fid if fid in self.flows else (bid if bid in self.flows else None)
        if key is None:
            self.flows[fid] = self._new(p, fid)
            return
        fl = self.flows[key]
        t, f = p["ts"], p["flags"]
        quiet = self.closed_wait_us is not None and t - fl.last > self.closed_wait_us
        if t - fl.start > self.prof.flow_timeout_us or (fl.state == READY and (f & SYN or quiet)):
            if fl.proto == 6:
                fl.cum += fl.duration
            self.out.append(fl.row())
            if (fl.state == READY and f & SYN and not f & ACK) or p["proto"] != 6:
                self.flows[key] = self._new(p, key)
            else:
                new = self._new(p, key, like=fl)
                new.cum = fl.cum + (t - fl.last)
                self.flows[key] = new
        elif f & FIN:
            fl.active_idle(t)
            fl.add(p)
            if fl.state == OPEN:
                fl.state = FIRST_FIN
            elif fl.state == FIRST_FIN and fl.cnt["ffin"] > 0 and fl.cnt["bfin"] > 0:
                fl.state = SECOND_FIN
        elif f & RST:
            fl.active_idle(t)
            fl.add(p)
            fl.state = READY
        elif f & ACK:
            fl.active_idle(t)
            fl.add(p)
            if fl.state == SECOND_FIN:
                fl.state = READY
        elif fl.proto in (1, 58) and fl.icmp_code != p["icmp_code"] and fl.icmp_type != p["icmp_type"]:
            self.out.append(fl.row())
            self.flows[key] = self._new(p, key)
        else:
            fl.active_idle(t)
            fl.add(p)

    def finish(self) -> list[dict]:
        for fl in self.flows.values():
            if fl.proto == 6:
                fl.cum += fl.duration
            self.out.append(fl.row())
        self.flows = {}
        return self.out
