"""Per-flow feature computation, vectorised over every flow that ends in a batch.

The meter (``meter.py``) decides which packet belongs to which flow and in
which direction; this module turns the packets of finished flows into the 81
features of ``flowsentinel.schema.FEATURES``, with the definitions of the meter
that produced the improved CICIDS-2017 release (see ``profiles.py`` for the
quirks and the switches that turn them off).

Conventions (all from the release):

* times in microseconds; rates per second (``x / (duration / 1e6)``);
* standard deviations are sample deviations (n - 1); one value gives 0;
* ``Flow Bytes/s`` and ``Flow Packets/s`` are written as computed, so a
  zero-duration flow gives ``inf`` (or ``nan`` for 0 bytes), and a one-packet
  flow has ``nan`` ``Flow IAT …`` statistics (no inter-arrival time exists);
  ``Fwd/Bwd Packets/s`` and every other statistic of an empty set are 0;
* bulk and subflow averages are integer divisions, bulk rates are truncated.
"""

from __future__ import annotations

import numpy as np

from flowsentinel.capture.packets import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG
from flowsentinel.capture.profiles import SemanticsProfile

__all__ = ["compute_features"]


class _Groups:
    """Packets sorted by flow, with the group id of every packet."""

    def __init__(self, g: np.ndarray, size: int) -> None:
        self.g = g
        self.size = size


def _stats(gv: np.ndarray, v: np.ndarray, size: int, empty: float = 0.0):
    """Count, sum, mean, sample std, variance, max and min of ``v`` per group.

    ``gv`` (the group of each value) must be sorted.  Groups without values get
    ``empty`` for every statistic except the count and the sum (0).
    """
    v = v.astype(np.float64, copy=False)
    cnt = np.bincount(gv, minlength=size)
    tot = np.bincount(gv, weights=v, minlength=size)
    has = cnt > 0
    mean = np.full(size, empty)
    np.divide(tot, cnt, out=mean, where=has)
    dev = v - mean[gv]
    ss = np.bincount(gv, weights=dev * dev, minlength=size)
    var = np.where(cnt > 1, ss / np.maximum(cnt - 1, 1), np.where(has, 0.0, empty))
    std = np.sqrt(var)
    vmax = np.full(size, empty)
    vmin = np.full(size, empty)
    if v.shape[0]:
        first = np.flatnonzero(np.r_[True, gv[1:] != gv[:-1]])
        which = gv[first]
        vmax[which] = np.maximum.reduceat(v, first)
        vmin[which] = np.minimum.reduceat(v, first)
    return cnt, tot, mean, std, var, vmax, vmin


def _bulk(g: np.ndarray, ts: np.ndarray, fwd: np.ndarray, size_: np.ndarray, ngroups: int,
          gap: int, need: int) -> list[np.ndarray]:
    """Bulk statistics per flow and direction, exactly as the release's state machine.

    A bulk is a run of at least ``need`` payload packets in one direction with
    gaps of at most ``gap`` and no payload packet of the other direction after
    the run started.  Only payload packets take part.
    """
    out = np.zeros((ngroups, 8), dtype=np.int64)  # f: states, pkts, bytes, dur; b: same
    pay = size_ > 0
    # only flows with `need` payload packets in one direction can hold a bulk
    f_cnt = np.bincount(g[pay & fwd], minlength=ngroups)
    b_cnt = np.bincount(g[pay & ~fwd], minlength=ngroups)
    eligible = (f_cnt >= need) | (b_cnt >= need)
    sel = np.flatnonzero(pay & eligible[g])
    if sel.size == 0:
        return [out[:, k] for k in range(8)]
    gl = g[sel].tolist()
    tl = ts[sel].tolist()
    fl = fwd[sel].tolist()
    sl = size_[sel].tolist()
    cur = -1
    # per direction: start, last, count, size, states, packets, bytes, duration
    f = [0, 0, 0, 0, 0, 0, 0, 0]
    b = [0, 0, 0, 0, 0, 0, 0, 0]
    for gi, t, isf, s in zip(gl, tl, fl, sl):
        if gi != cur:
            if cur >= 0:
                out[cur] = (f[4], f[5], f[6], f[7], b[4], b[5], b[6], b[7])
            cur = gi
            f = [0, 0, 0, 0, 0, 0, 0, 0]
            b = [0, 0, 0, 0, 0, 0, 0, 0]
        d, o = (f, b) if isf else (b, f)
        if o[1] > d[0]:  # the other direction sent payload since this run started
            d[0] = 0
        if d[0] == 0:
            d[0] = t
            d[1] = t
            d[2] = 1
            d[3] = s
        elif t - d[1] > gap:
            d[0] = t
            d[1] = t
            d[2] = 1
            d[3] = s
        else:
            d[2] += 1
            d[3] += s
            if d[2] == need:
                d[4] += 1
                d[5] += d[2]
                d[6] += d[3]
                d[7] += t - d[0]
            elif d[2] > need:
                d[5] += 1
                d[6] += s
                d[7] += t - d[1]
            d[1] = t
    out[cur] = (f[4], f[5], f[6], f[7], b[4], b[5], b[6], b[7])
    return [out[:, k] for k in range(8)]


def _bulk_avgs(states: np.ndarray, pkts: np.ndarray, nbytes: np.ndarray, dur: np.ndarray):
    has = states > 0
    safe = np.where(has, states, 1)
    bytes_per = np.where(has, nbytes // safe, 0)
    pkts_per = np.where(has, pkts // safe, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(dur != 0, np.trunc(nbytes / (dur / 1e6)), 0.0)
    return bytes_per, pkts_per, rate.astype(np.int64)


def compute_features(pkt: dict[str, np.ndarray], profile: SemanticsProfile,
                     tcp_time: dict[int, int] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Compute the 81 features of every flow whose packets are given.

    Parameters
    ----------
    pkt : dict of str to ndarray, each of shape (n_packets,)
        Packets of finished flows in arrival order: ``pid`` (flow id), ``ts``
        (µs), ``fwd`` (bool), ``first`` (bool, first packet of its flow),
        ``plen``, ``hlen``, ``win``, ``flags``, ``icmp_type``, ``icmp_code``.
    profile : SemanticsProfile
        Which definitions to use.
    tcp_time : dict of int to int, optional
        ``Total TCP Flow Time`` per flow id (0 for flows not listed).

    Returns
    -------
    pids : ndarray of int64, shape (n_flows,)
        The flow ids, ascending.
    features : dict of str to ndarray, each of shape (n_flows,)
        One entry per name of ``schema.FEATURES``.
    """
    order = np.argsort(pkt["pid"], kind="stable")
    pid = pkt["pid"][order]
    N = pid.shape[0]
    ts = pkt["ts"][order].astype(np.int64, copy=False)
    fwd = pkt["fwd"][order].astype(bool, copy=False)
    first = pkt["first"][order].astype(bool, copy=False)
    plen = pkt["plen"][order].astype(np.int64, copy=False)
    hlen = pkt["hlen"][order].astype(np.int64, copy=False)
    win = pkt["win"][order].astype(np.int64, copy=False)
    flags = pkt["flags"][order].astype(np.int64, copy=False)
    bwd = ~fwd

    newg = np.empty(N, dtype=bool)
    newg[:1] = True
    newg[1:] = pid[1:] != pid[:-1]
    starts = np.flatnonzero(newg)
    G = starts.shape[0]
    g = np.cumsum(newg) - 1
    lasts = np.r_[starts[1:], N] - 1
    n = np.diff(np.r_[starts, N])
    ar = np.arange(N)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(g[mask], minlength=G)

    def total(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(g[mask], weights=x[mask], minlength=G).astype(np.int64)

    f: dict[str, np.ndarray] = {}
    dur = ts[lasts] - ts[starts]
    nf = count(fwd)
    nb = n - nf
    fbytes = total(plen, fwd)
    bbytes = total(plen, bwd)
    f["Flow Duration"] = dur
    f["Total Fwd Packet"] = nf
    f["Total Bwd packets"] = nb
    f["Total Length of Fwd Packet"] = fbytes
    f["Total Length of Bwd Packet"] = bbytes
    for name, mask in (("Fwd", fwd), ("Bwd", bwd)):
        _, _, mean, std, _, vmax, vmin = _stats(g[mask], plen[mask], G)
        f[f"{name} Packet Length Max"] = vmax.astype(np.int64)
        f[f"{name} Packet Length Min"] = vmin.astype(np.int64)
        f[f"{name} Packet Length Mean"] = mean
        f[f"{name} Packet Length Std"] = std
    dur_s = dur / 1e6
    with np.errstate(divide="ignore", invalid="ignore"):
        f["Flow Bytes/s"] = (fbytes + bbytes) / dur_s
        f["Flow Packets/s"] = n / dur_s
        pos = dur > 0
        f["Fwd Packets/s"] = np.where(pos, nf / np.where(pos, dur_s, 1.0), 0.0)
        f["Bwd Packets/s"] = np.where(pos, nb / np.where(pos, dur_s, 1.0), 0.0)

    # inter-arrival times: of the flow (nan when there is none), per direction (0)
    gap = np.diff(ts)
    same = g[1:] == g[:-1]
    _, _, mean, std, _, vmax, vmin = _stats(g[1:][same], gap[same], G, empty=np.nan)
    f["Flow IAT Mean"], f["Flow IAT Std"], f["Flow IAT Max"], f["Flow IAT Min"] = mean, std, vmax, vmin
    for name, mask in (("Fwd", fwd), ("Bwd", bwd)):
        idx = np.flatnonzero(mask)
        gi = g[idx]
        d = np.diff(ts[idx])
        ok = gi[1:] == gi[:-1]
        cnt, tot, mean, std, _, vmax, vmin = _stats(gi[1:][ok], d[ok], G)
        f[f"{name} IAT Total"] = tot.astype(np.int64)
        f[f"{name} IAT Mean"] = mean
        f[f"{name} IAT Std"] = std
        f[f"{name} IAT Max"] = vmax.astype(np.int64)
        f[f"{name} IAT Min"] = vmin.astype(np.int64)

    has = {bit: (flags & bit) != 0 for bit in (FIN, SYN, RST, PSH, ACK, URG, CWR, ECE)}
    counted = ~first if profile.quirk_first_packet_uncounted else np.ones(N, dtype=bool)
    f["Fwd PSH Flags"] = count(fwd & has[PSH])
    f["Bwd PSH Flags"] = count(bwd & has[PSH])
    f["Fwd URG Flags"] = count(fwd & has[URG])
    f["Bwd URG Flags"] = count(bwd & has[URG])
    f["Fwd RST Flags"] = count(fwd & has[RST] & counted)
    f["Bwd RST Flags"] = count(bwd & has[RST] & counted)
    f["Fwd Header Length"] = total(hlen, fwd)
    f["Bwd Header Length"] = total(hlen, bwd)

    every = np.ones(N, dtype=bool)
    _, tot_all, mean, std, var, vmax, vmin = _stats(g, plen, G)
    f["Packet Length Min"] = vmin.astype(np.int64)
    f["Packet Length Max"] = vmax.astype(np.int64)
    f["Packet Length Mean"] = mean
    f["Packet Length Std"] = std
    f["Packet Length Variance"] = var
    for name, bit in (("FIN", FIN), ("SYN", SYN), ("RST", RST), ("PSH", PSH), ("ACK", ACK),
                      ("URG", URG), ("CWR", CWR), ("ECE", ECE)):
        f[f"{name} Flag Count"] = count(every & has[bit])
    with np.errstate(divide="ignore", invalid="ignore"):
        f["Down/Up Ratio"] = np.where(nf > 0, nb / np.maximum(nf, 1), 0.0)
        f["Average Packet Size"] = tot_all / n
        f["Fwd Segment Size Avg"] = np.where(nf > 0, fbytes / np.maximum(nf, 1), 0.0)
        f["Bwd Segment Size Avg"] = np.where(nb > 0, bbytes / np.maximum(nb, 1), 0.0)

    fs, fp, fb, fd, bs, bp, bb, bd = _bulk(g, ts, fwd, plen, G, profile.bulk_gap_us, profile.bulk_min_packets)
    (f["Fwd Bytes/Bulk Avg"], f["Fwd Packet/Bulk Avg"], f["Fwd Bulk Rate Avg"]) = _bulk_avgs(fs, fp, fb, fd)
    (f["Bwd Bytes/Bulk Avg"], f["Bwd Packet/Bulk Avg"], f["Bwd Bulk Rate Avg"]) = _bulk_avgs(bs, bp, bb, bd)

    if profile.quirk_subflow_every_packet:
        # Release quirk (operator precedence in detectUpdateSubflows): one subflow per packet.
        subflows = n
    else:
        subflows = 1 + np.bincount(g[1:][same & (gap > profile.subflow_gap_us)], minlength=G)
    f["Subflow Fwd Packets"] = nf // subflows
    f["Subflow Fwd Bytes"] = fbytes // subflows
    f["Subflow Bwd Packets"] = nb // subflows
    f["Subflow Bwd Bytes"] = bbytes // subflows

    first_fwd = fwd[starts]
    f["FWD Init Win Bytes"] = np.where(first_fwd, win[starts], 0)
    if profile.quirk_bwd_init_win_last:
        # Release quirk: every backward packet overwrites the "initial" window.
        li = np.maximum.reduceat(np.where(bwd, ar, -1), starts)
        f["Bwd Init Win Bytes"] = np.where(li >= 0, win[np.maximum(li, 0)], 0)
    else:
        fi = np.minimum.reduceat(np.where(bwd & (win != 0), ar, N), starts)
        f["Bwd Init Win Bytes"] = np.where(fi < N, win[np.minimum(fi, N - 1)], 0)
    f["Fwd Act Data Pkts"] = count(fwd & (plen >= 1) & counted)
    hmin = np.minimum.reduceat(np.where(fwd, hlen, np.iinfo(np.int64).max), starts)
    hmin = np.where(nf > 0, hmin, 0)
    if profile.quirk_fwd_seg_min_zero:
        # Release quirk: the minimum starts at 0 unless the first packet is forward.
        hmin = np.where(first_fwd, hmin, 0)
    f["Fwd Seg Size Min"] = hmin

    # active / idle: a gap of more than the activity timeout ends an active period
    big = same & (gap > profile.activity_timeout_us)
    seg_start = np.empty(N, dtype=bool)
    seg_start[:1] = True
    seg_start[1:] = newg[1:] | big
    seg_first = np.maximum.accumulate(np.where(seg_start, ar, 0))
    closing = np.flatnonzero(big)  # packet j-1 ends an active period when gap j-1 -> j is big
    act_val = ts[closing] - ts[seg_first[closing]]
    act_grp = g[closing]
    if not profile.quirk_last_active_open:
        act_val = np.r_[act_val, ts[lasts] - ts[seg_first[lasts]]]
        act_grp = np.r_[act_grp, np.arange(G)]
        o = np.argsort(act_grp, kind="stable")
        act_val, act_grp = act_val[o], act_grp[o]
    keep = act_val > 0  # zero-length active periods are dropped
    _, _, mean, std, _, vmax, vmin = _stats(act_grp[keep], act_val[keep], G)
    f["Active Mean"], f["Active Std"] = mean, std
    f["Active Max"], f["Active Min"] = vmax.astype(np.int64), vmin.astype(np.int64)
    _, _, mean, std, _, vmax, vmin = _stats(g[1:][big], gap[big], G)
    f["Idle Mean"], f["Idle Std"] = mean, std
    f["Idle Max"], f["Idle Min"] = vmax.astype(np.int64), vmin.astype(np.int64)

    f["ICMP Code"] = pkt["icmp_code"][order][starts].astype(np.int64)
    f["ICMP Type"] = pkt["icmp_type"][order][starts].astype(np.int64)
    pids = pid[starts]
    if tcp_time:
        f["Total TCP Flow Time"] = np.fromiter((tcp_time.get(int(p), 0) for p in pids), np.int64, G)
    else:
        f["Total TCP Flow Time"] = np.zeros(G, dtype=np.int64)
    return pids, f
