"""The flow meter: packets → bidirectional flows, CICFlowMeter (improved release) semantics.

One :class:`FlowMeter` serves every source: feed it :class:`PacketBatch` es with
:meth:`FlowMeter.update`, call :meth:`FlowMeter.expire` on a wall-clock timer
(live capture) and :meth:`FlowMeter.flush` at the end; each returns the flows it
finished as a :class:`FlowChunk` whose columns are ``schema.IDENTIFIERS`` and
``schema.FEATURES``.

How packets are cut into flows (the release's ``FlowGenerator``):

* flows are keyed by the 5-tuple in either direction; the first packet sets the
  forward direction;
* a packet more than ``flow_timeout_us`` after its flow's first packet, or a SYN
  on a flow that is *ready to close*, ends the flow; the new flow takes the new
  packet's direction only after a SYN without ACK (or for non-TCP); otherwise
  it keeps the old direction and ``Total TCP Flow Time`` keeps adding up;
* a FIN in both directions followed by an ACK, or an RST, only marks a TCP flow
  ready to close: it is written at the next SYN, at the timeout or at the end;
  with ``closed_wait_us`` set (live use), also once it has had no packet for
  that long, and a packet after such a quiet spell starts the next flow as a
  SYN would (the same rules as for a written flow's tombstone);
* an ICMP flow splits only when both the code and the type change.

The decision for each packet is sequential (a tight Python loop on plain
lists); everything per packet that is not a decision (the features) is done
in numpy by :func:`~flowsentinel.capture.flow.compute_features` for all flows
that end together.  Flows are written as soon as nothing can change them any
more (their timeout has passed), so memory holds only open flows; a bounded
table of "tombstones" keeps what the release would still know about a written
flow (its direction, its TCP time, its ``Flow ID``), so output does not depend
on when flows were written.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections import OrderedDict, deque
from operator import itemgetter
from dataclasses import dataclass, field

import numpy as np

from flowsentinel import schema
from flowsentinel.capture.flow import compute_features
from flowsentinel.capture.packets import ACK, FIN, RST, SYN, PacketBatch, format_ip
from flowsentinel.capture.profiles import SemanticsProfile, get_profile

__all__ = ["FlowChunk", "FlowMeter", "MeterStats"]

log = logging.getLogger(__name__)

# TCP teardown states of an open flow (release: TcpFlowState).
_OPEN, _FIRST_FIN, _SECOND_FIN, _READY = 0, 1, 2, 3
# Slots of an open flow's state list (a list, not an object: the loop is hot).
_PID, _START, _LAST, _PO, _STATE, _FINS, _ITYPE, _ICODE, _CUM, _IDORI, _KEY = range(11)
_NEVER = 1 << 62  # a quiet spell no capture reaches (µs)
_ENDED = itemgetter(2)  # sort key of a closed flow: when it ended
_PACKET_COLUMNS = ("ts", "plen", "hlen", "win", "flags", "icmp_type", "icmp_code")


@dataclass
class MeterStats:
    """Counters of a meter (and of the source feeding it).

    Attributes
    ----------
    frames : int
        Frames seen by the source.
    packets : int
        Frames that parsed to an IP packet and were metered.
    malformed : int
        Frames skipped because a header was truncated or inconsistent.
    non_ip : int
        Frames that carry no IP packet (ARP, LLDP, ...): skipped, not errors.
    unsupported : int
        Frames of a link type the decoder does not know.
    kernel_drops : int
        Packets the kernel dropped before capture (live sources).
    disordered : int
        Packets older than the newest packet seen before them.
    flows : int
        Flows written.
    evicted : int
        Flows written early because ``max_flows`` flows were open.
    tombstones_dropped : int
        Written flows forgotten because ``max_tombstones`` was reached.
    """

    frames: int = 0
    packets: int = 0
    malformed: int = 0
    non_ip: int = 0
    unsupported: int = 0
    kernel_drops: int = 0
    disordered: int = 0
    flows: int = 0
    evicted: int = 0
    tombstones_dropped: int = 0
    malformed_examples: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for logs and reports)."""
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


@dataclass
class FlowChunk:
    """Finished flows, column by column: ``schema.IDENTIFIERS`` then ``schema.FEATURES``.

    Identifiers are lists of Python values; features are numpy arrays.
    """

    columns: dict[str, object]
    size: int

    def __len__(self) -> int:
        return self.size

    def records(self) -> list[dict[str, object]]:
        """The flows as one dict per flow, keys in schema order."""
        names = (*schema.IDENTIFIERS, *schema.FEATURES)
        cols = [self.columns[c] for c in names]
        lists = [c.tolist() if isinstance(c, np.ndarray) else list(c) for c in cols]
        return [dict(zip(names, row)) for row in zip(*lists)]


class FlowMeter:
    """Cut packets into bidirectional flows and compute their features.

    Parameters
    ----------
    profile : str or SemanticsProfile, optional
        ``"cicids2017"`` (default: what the models learn from) or
        ``"corrected"``; see :mod:`flowsentinel.capture.profiles`.
    max_flows : int
        Most flows open at once, enforced after each batch: beyond it the
        least recently created flows are written early and counted in
        ``stats.evicted`` (so memory holds at most ``max_flows`` plus one
        batch's conversations).
    max_tombstones : int
        Most written flows remembered for continuation (direction, TCP time,
        ``Flow ID``); beyond it the oldest are forgotten and counted.
    emit_interval_s : float
        For small batches (live capture), finished flows are computed and
        returned at most this often, so the packets of open flows are not
        copied on every batch; a batch of ``emit_batch_packets`` or more,
        ``expire`` and ``flush`` always return what is finished.
    emit_batch_packets : int
        Batch size from which every ``update`` returns finished flows.
    closed_wait_us : int, optional
        Write a TCP flow that is ready to close (FIN both ways and the last
        ACK, or an RST) once it has been quiet this many µs, instead of
        waiting for the next SYN or its flow timeout as the release does.
        Live sources use it so a closed connection is scored seconds after
        it ended, not up to ``flow_timeout_us`` later; the flows differ from
        the release's only where a packet comes more than this long after a
        connection closed (it starts a new flow).  None (default): the
        release's rule exactly.

    Examples
    --------
    >>> meter = FlowMeter()
    >>> for batch in batches:                   # doctest: +SKIP
    ...     chunk = meter.update(batch)
    >>> last = meter.flush()                    # doctest: +SKIP
    """

    def __init__(self, profile: str | SemanticsProfile | None = None, max_flows: int = 1_000_000,
                 max_tombstones: int = 1_000_000, emit_interval_s: float = 0.25,
                 emit_batch_packets: int = 16_384, closed_wait_us: int | None = None) -> None:
        self.profile = get_profile(profile)
        if closed_wait_us is not None and (not isinstance(closed_wait_us, int) or closed_wait_us < 0):
            raise ValueError(f"closed_wait_us must be None or a non-negative integer, got {closed_wait_us!r}")
        self.closed_wait_us = closed_wait_us
        self.emit_interval_s = float(emit_interval_s)
        self.emit_batch_packets = int(emit_batch_packets)
        self._last_emit = time.monotonic()
        for name, value in (("max_flows", max_flows), ("max_tombstones", max_tombstones)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.max_flows = max_flows
        self.max_tombstones = max_tombstones
        self.stats = MeterStats()
        self._table: dict[tuple, list] = {}
        self._order: deque[list] = deque()  # open flows by creation (≈ start time)
        self._tombs: OrderedDict[tuple, tuple] = OrderedDict()
        # (state, Total TCP Flow Time, when it ended): see _emit for why the time
        self._closed: list[tuple[list, int, float]] = []
        # Flows ready to close, by the time of their last packet when they became ready (a
        # later packet only makes an entry stale; see _write_quiet): with closed_wait_us only.
        self._ready: list[tuple[int, int, list]] = []
        # Packets of flows not yet written, one column chunk per batch.  Written flows'
        # packets are only marked (in _gone) and dropped when they are half of the pool,
        # so an emit costs one lookup per pooled packet instead of copying the pool.
        self._chunks: list[dict[str, np.ndarray]] = []
        self._merged = 0  # self._chunks[:_merged] were merged at earlier emits
        self._pooled = 0  # packets in self._chunks
        self._dead = 0  # of which belong to written flows
        self._base = 0  # smallest flow id that may have packets in the pool
        self._gone = np.zeros(0, dtype=bool)  # flow id - _base -> written
        self._next_pid = 0
        self._now: int | None = None
        self._ipcache: dict[tuple[int, int, int], str] = {}

    @property
    def open_flows(self) -> int:
        """Number of flows currently open."""
        return len(self._table)

    # -- public API -----------------------------------------------------------
    def update(self, batch: PacketBatch) -> FlowChunk:
        """Meter a batch of packets; return the flows that this finished.

        A flow is finished when a packet closes it (timeout, SYN after
        teardown, ICMP type change) or when the newest packet time is more than
        the flow timeout past its first packet.
        """
        st = self.stats
        st.frames += batch.frames
        st.malformed += batch.malformed
        st.non_ip += batch.non_ip
        st.unsupported += batch.unsupported
        if batch.malformed_examples and len(st.malformed_examples) < 5:
            st.malformed_examples.extend(batch.malformed_examples[: 5 - len(st.malformed_examples)])
        if len(batch):
            self._assign(batch)
            self._expire_before(int(self._now) - self.profile.flow_timeout_us)
            self._write_quiet(int(self._now))
        if len(batch) >= self.emit_batch_packets or time.monotonic() - self._last_emit >= self.emit_interval_s:
            return self._emit()
        return _empty_chunk()

    def expire(self, now_us: int) -> FlowChunk:
        """Write every flow whose timeout has passed at ``now_us`` (wall clock, µs).

        Live sources call this on a timer so idle flows are written even when
        no packets arrive; the result is the same as the release would write.
        With ``closed_wait_us``, closed connections quiet for that long are
        written too.
        """
        self._expire_before(int(now_us) - self.profile.flow_timeout_us)
        self._write_quiet(int(now_us))
        return self._emit()

    def flush(self) -> FlowChunk:
        """Write every open flow (end of capture or shutdown); nothing is lost."""
        while self._order:
            s = self._order.popleft()
            if self._table.get(s[_KEY]) is s:
                self._close_open(s, ended=math.inf)
        self._ready.clear()
        return self._emit()

    # -- the per-packet decisions -------------------------------------------------
    def _keys(self, b: PacketBatch):
        """Conversation of each packet, the conversations' keys and packet orientations.

        Conversations (5-tuples in either direction) are numbered per batch
        with one sort, so the per-packet loop indexes a list instead of hashing
        a key.  Keys are ``(pp, a_lo, b_lo)`` for IPv4 and ``(pp, a_hi, a_lo,
        b_hi, b_lo)`` for IPv6, endpoint A being the smaller (address, port)
        and ``pp`` packing version, protocol and both ports (see ``_key_parts``).
        Orientation: bit 0 says the packet's source is endpoint A; bit 1 says
        every packet of this 5-tuple is forward (same source and destination
        under the profile's direction rule).
        """
        s_hi, s_lo, d_hi, d_lo = b.src_hi, b.src_lo, b.dst_hi, b.dst_lo
        ip_lt = (s_hi < d_hi) | ((s_hi == d_hi) & (s_lo < d_lo))
        ip_eq = (s_hi == d_hi) & (s_lo == d_lo)
        a_is_src = ip_lt | (ip_eq & (b.sport <= b.dport))
        if self.profile.quirk_direction_by_ip:
            always = ip_eq  # Release quirk: direction compares source IPs only.
        else:
            always = ip_eq & (b.sport == b.dport)
        ori = a_is_src.astype(np.int64) | (always.astype(np.int64) << 1)
        a_p = np.where(a_is_src, b.sport, b.dport).astype(np.uint64)
        b_p = np.where(a_is_src, b.dport, b.sport).astype(np.uint64)
        pp = ((b.ver.astype(np.uint64) << np.uint64(48)) | (b.proto.astype(np.uint64) << np.uint64(32))
              | (a_p << np.uint64(16)) | b_p)
        a_lo = np.where(a_is_src, s_lo, d_lo)
        b_lo = np.where(a_is_src, d_lo, s_lo)
        v6 = bool((b.ver == 6).any())
        cols = [pp, a_lo, b_lo]
        if v6:
            cols += [np.where(a_is_src, s_hi, d_hi), np.where(a_is_src, d_hi, s_hi)]
        order = np.lexsort(cols[::-1])
        srt = [c[order] for c in cols]
        change = np.zeros(order.shape[0], dtype=bool)
        change[:1] = True
        for c in srt:
            change[1:] |= c[1:] != c[:-1]
        cid = np.empty(order.shape[0], dtype=np.int64)
        cid[order] = np.cumsum(change) - 1
        firsts = [c[change].tolist() for c in srt]
        if v6:
            ver = b.ver[order][change].tolist()
            ukeys = [(p_, al, bl) if v == 4 else (p_, ah, al, bh, bl)
                     for p_, al, bl, ah, bh, v in zip(*firsts, ver)]
        else:
            ukeys = list(zip(*firsts))
        return cid.tolist(), ukeys, ori.tolist()

    def _assign(self, b: PacketBatch) -> None:
        cids, ukeys, oris = self._keys(b)
        n = len(cids)
        ts = b.ts.tolist()
        fl = b.flags.tolist()
        ity = b.icmp_type.tolist()
        ico = b.icmp_code.tolist()
        pid_out = [0] * n
        fwd_out = [False] * n
        first_out = [False] * n
        table = self._table
        cur = [table.get(k) for k in ukeys]  # open flow of each conversation
        order = self._order
        tombs = self._tombs
        closed = self._closed
        timeout = self.profile.flow_timeout_us
        # quiet spell after which a closed connection ends (never, as in the release, when unset)
        wait = self.closed_wait_us if self.closed_wait_us is not None else _NEVER
        ready = self._ready if self.closed_wait_us is not None else None
        heappush = heapq.heappush
        next_pid = self._next_pid
        now = self._now if self._now is not None else ts[0]
        disordered = 0
        protos = b.proto.tolist()
        # local aliases: the loop below runs once per packet
        (L_PID, L_START, L_LAST, L_PO, L_STATE, L_FINS, L_ITYPE, L_ICODE, L_CUM, L_IDORI) = range(10)
        L_OPEN, L_FIRST_FIN, L_SECOND_FIN, L_READY = _OPEN, _FIRST_FIN, _SECOND_FIN, _READY
        L_FIN, L_SYN, L_RST, L_ACK = FIN, SYN, RST, ACK
        for i, c, t, f, o, proto in zip(range(n), cids, ts, fl, oris, protos):
            if t < now:
                disordered += 1
            else:
                now = t
            s = cur[c]
            if s is not None and (t - s[L_START] > timeout or (
                    s[L_STATE] == L_READY and (f & L_SYN or t - s[L_LAST] > wait))):
                # The flow ends here; the packet starts the next one.  It ended at the
                # earliest of: this packet, its timeout, the end of its quiet spell.
                tcp = proto == 6
                cum = s[L_CUM] + (s[L_LAST] - s[L_START]) if tcp else 0
                end = min(t, s[L_START] + timeout)
                if s[L_STATE] == L_READY:
                    end = min(end, s[L_LAST] + wait)
                closed.append((s, cum, end))
                if (s[L_STATE] == L_READY and f & L_SYN and not f & L_ACK) or not tcp:
                    po, ncum = o & 1, 0
                else:  # a cut connection keeps its direction and adds up its time
                    po, ncum = s[L_PO], cum + (t - s[L_LAST])
                k = ukeys[c]
                s = [next_pid, t, t, po, L_OPEN, 0, ity[i], ico[i], ncum, s[L_IDORI], k]
                table[k] = cur[c] = s
                order.append(s)
                pid_out[i] = next_pid
                fwd_out[i] = o >= 2 or (o & 1) == po
                first_out[i] = True
                next_pid += 1
                continue
            if s is None:
                k = ukeys[c]
                tb = tombs.pop(k, None) if tombs else None
                if tb is None:
                    po, ncum, idori = o & 1, 0, o & 1
                else:  # the release still holds this written flow: same rules as above
                    t_po, t_state, t_cum, t_last, idori = tb
                    if (t_state == L_READY and f & L_SYN and not f & L_ACK) or proto != 6:
                        po, ncum = o & 1, 0
                    else:
                        po, ncum = t_po, t_cum + (t - t_last)
                s = [next_pid, t, t, po, L_OPEN, 0, ity[i], ico[i], ncum, idori, k]
                table[k] = cur[c] = s
                order.append(s)
                pid_out[i] = next_pid
                fwd_out[i] = o >= 2 or (o & 1) == po
                first_out[i] = True
                next_pid += 1
                continue
            fwd = o >= 2 or (o & 1) == s[L_PO]
            if f & L_FIN:
                s[L_FINS] |= 1 if fwd else 2
                state = s[L_STATE]
                if state == L_OPEN:
                    s[L_STATE] = L_FIRST_FIN
                elif state == L_FIRST_FIN and s[L_FINS] == 3:
                    s[L_STATE] = L_SECOND_FIN
            elif f & L_RST:
                if ready is not None and s[L_STATE] != L_READY:
                    heappush(ready, (t, s[L_PID], s))
                s[L_STATE] = L_READY
            elif f & L_ACK:
                if s[L_STATE] == L_SECOND_FIN:
                    s[L_STATE] = L_READY
                    if ready is not None:
                        heappush(ready, (t, s[L_PID], s))
            elif (proto == 1 or proto == 58) and ity[i] != s[L_ITYPE] and ico[i] != s[L_ICODE]:
                # ICMP: a new flow only when both the type and the code change.
                closed.append((s, 0, t))
                k = ukeys[c]
                s = [next_pid, t, t, o & 1, L_OPEN, 0, ity[i], ico[i], 0, s[L_IDORI], k]
                table[k] = cur[c] = s
                order.append(s)
                pid_out[i] = next_pid
                fwd_out[i] = o >= 2 or (o & 1) == s[L_PO]
                first_out[i] = True
                next_pid += 1
                continue
            s[L_LAST] = t
            pid_out[i] = s[L_PID]
            fwd_out[i] = fwd
        self._next_pid = next_pid
        self._now = now
        # memory bound: evictions happen between batches (the loop holds the
        # batch's open flows), so at most max_flows + one batch's conversations
        while len(table) > self.max_flows:
            self._evict_oldest()
        if disordered:
            if self.stats.disordered == 0:
                log.warning("%d packet(s) are older than a packet before them (first near packet %d): "
                            "the release assumed time-ordered captures, flows may differ; sort the "
                            "capture (e.g. reordercap) for exact results", disordered, int(b.number[0]))
            self.stats.disordered += disordered
        self.stats.packets += n
        new = {c: getattr(b, c) for c in _PACKET_COLUMNS}
        new["pid"] = np.asarray(pid_out, dtype=np.int64)
        new["fwd"] = np.asarray(fwd_out, dtype=bool)
        new["first"] = np.asarray(first_out, dtype=bool)
        self._chunks.append(new)
        self._pooled += n

    def _close_open(self, s: list, ended: float, evicted: bool = False) -> None:
        """Write an open flow that no later packet can change; remember it as a tombstone."""
        k = s[_KEY]
        del self._table[k]
        cum = s[_CUM] + (s[_LAST] - s[_START]) if _key_parts(k)[7] == 6 else 0
        self._closed.append((s, cum, ended))
        if evicted:
            self.stats.evicted += 1
        self._tombs[k] = (s[_PO], s[_STATE], cum, s[_LAST], s[_IDORI])
        if len(self._tombs) > self.max_tombstones:
            self._tombs.popitem(last=False)
            self.stats.tombstones_dropped += 1

    def _evict_oldest(self) -> None:
        while self._order:
            s = self._order.popleft()
            if self._table.get(s[_KEY]) is s:
                self._close_open(s, ended=self._now, evicted=True)
                return

    def _write_quiet(self, now: int) -> None:
        """Write closed connections that have had no packet for more than ``closed_wait_us`` at ``now``.

        An entry is pushed when its flow becomes ready to close; a later packet
        of the flow leaves it stale, and it is pushed again with that packet's
        time when it comes up.  The same rule as the packet loop's, so output
        does not depend on when this runs.
        """
        wait, ready = self.closed_wait_us, self._ready
        if wait is None:
            return
        table = self._table
        while ready and now - ready[0][0] > wait:
            _, pid, s = heapq.heappop(ready)
            if table.get(s[_KEY]) is not s:
                continue  # written already (SYN, timeout, eviction)
            if now - s[_LAST] > wait:
                self._close_open(s, ended=s[_LAST] + wait)
            else:
                heapq.heappush(ready, (s[_LAST], pid, s))

    def _expire_before(self, start_limit: int) -> None:
        """Write flows that started before ``start_limit`` (their timeout has passed)."""
        order, table = self._order, self._table
        while order and (order[0][_START] < start_limit or table.get(order[0][_KEY]) is not order[0]):
            s = order.popleft()
            if table.get(s[_KEY]) is s:
                self._close_open(s, ended=s[_START] + self.profile.flow_timeout_us)

    # -- output ---------------------------------------------------------------------
    def _emit(self) -> FlowChunk:
        self._last_emit = time.monotonic()
        closed = self._closed
        if not closed:
            return _empty_chunk()
        self._closed = []
        # Flows in the order they ended: a packet's time, or first packet + timeout for a
        # flow that timed out (whether a later packet or the batch-end check found it), or
        # the end of the capture.  So the rows do not depend on how packets were batched.
        closed.sort(key=_ENDED)
        pids = np.fromiter((c[0][_PID] for c in closed), np.int64, len(closed))
        done = self._take(pids)
        tcp_time = {s[_PID]: cum for s, cum, _ in closed if cum}
        fpids, feats = compute_features(done, self.profile, tcp_time)
        # back to the order in which flows were closed
        pos = np.searchsorted(fpids, pids)
        ids = self._identifiers(closed, done, fpids, pos)
        cols: dict[str, object] = dict(ids)
        for name in schema.FEATURES:
            cols[name] = feats[name][pos]
        self.stats.flows += len(closed)
        return FlowChunk(columns=cols, size=len(closed))

    def _take(self, pids: np.ndarray) -> dict[str, np.ndarray]:
        """The pooled packets of flows ``pids`` (in arrival order); mark those flows written."""
        chunks = self._chunks
        if len(chunks) - self._merged > 1:  # one chunk per emit, not one per (live) batch
            recent = chunks[self._merged:]
            chunks[self._merged:] = [{c: np.concatenate([ch[c] for ch in recent]) for c in recent[0]}]
        self._merged = len(chunks)
        base = self._base
        closing = np.zeros(self._next_pid - base, dtype=bool)
        closing[pids - base] = True
        parts = []
        for ch in chunks:
            m = closing[ch["pid"] - base]
            if m.any():
                parts.append({c: v[m] for c, v in ch.items()})
        if len(parts) == 1:
            done = parts[0]
        elif parts:
            done = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
        else:
            done = {c: v[:0] for c, v in chunks[0].items()} if chunks else {}
        gone = self._gone
        if gone.shape[0] < closing.shape[0]:
            gone = self._gone = np.concatenate([gone, np.zeros(closing.shape[0] - gone.shape[0], bool)])
        gone[pids - base] = True
        self._dead += int(done["pid"].shape[0]) if done else 0
        if self._dead * 2 > self._pooled:
            self._compact()
        return done

    def _compact(self) -> None:
        """Drop the packets of written flows from the pool (amortised: half of it is dead)."""
        base, gone = self._base, self._gone
        kept = [{c: v[m] for c, v in ch.items()} for ch in self._chunks
                for m in (~gone[ch["pid"] - base],) if m.any()]
        pool = {c: np.concatenate([k[c] for k in kept]) for c in kept[0]} if kept else None
        self._chunks = [pool] if pool is not None else []
        self._merged = len(self._chunks)
        self._pooled = int(pool["pid"].shape[0]) if pool is not None else 0
        self._dead = 0
        new_base = int(pool["pid"].min()) if pool is not None else self._next_pid
        self._gone = gone[new_base - base:].copy()
        self._base = new_base

    def _ip(self, ver: int, hi: int, lo: int) -> str:
        key = (ver, hi, lo)
        text = self._ipcache.get(key)
        if text is None:
            if len(self._ipcache) > 100_000:
                self._ipcache.clear()
            text = self._ipcache[key] = format_ip(ver, hi, lo)
        return text

    def _identifiers(self, closed, done, fpids, pos) -> dict[str, list]:
        first_ts = np.zeros(fpids.shape[0], dtype=np.int64)
        firsts = np.flatnonzero(done["first"])
        first_ts[np.searchsorted(fpids, done["pid"][firsts])] = done["ts"][firsts]
        stamps = np.datetime_as_string(first_ts[pos].astype("datetime64[us]"), unit="us")
        id_first = self.profile.quirk_flow_id_first_key
        out: dict[str, list] = {c: [] for c in schema.IDENTIFIERS}
        fid, sip, spt, dip, dpt, prt = (out["Flow ID"], out["Src IP"], out["Src Port"], out["Dst IP"],
                                        out["Dst Port"], out["Protocol"])
        for s, _, _ in closed:
            ver, a_hi, a_lo, b_hi, b_lo, a_p, b_p, proto = _key_parts(s[_KEY])
            a, b = self._ip(ver, a_hi, a_lo), self._ip(ver, b_hi, b_lo)
            src, sp, dst, dp = (a, a_p, b, b_p) if s[_PO] else (b, b_p, a, a_p)
            sip.append(src)
            spt.append(sp)
            dip.append(dst)
            dpt.append(dp)
            prt.append(proto)
            if id_first and s[_IDORI] != s[_PO]:
                # Release quirk: Flow ID keeps the orientation of the 5-tuple's first flow.
                fid.append(f"{dst}-{src}-{dp}-{sp}-{proto}")
            else:
                fid.append(f"{src}-{dst}-{sp}-{dp}-{proto}")
        out["Timestamp"] = [x.replace("T", " ") for x in stamps.tolist()]
        return out


def _key_parts(k: tuple) -> tuple[int, int, int, int, int, int, int, int]:
    """``(ver, a_hi, a_lo, b_hi, b_lo, a_port, b_port, proto)`` of a flow key."""
    pp = k[0]
    if len(k) == 3:
        a_hi, a_lo, b_hi, b_lo = 0, k[1], 0, k[2]
    else:
        a_hi, a_lo, b_hi, b_lo = k[1], k[2], k[3], k[4]
    return pp >> 48, a_hi, a_lo, b_hi, b_lo, (pp >> 16) & 0xFFFF, pp & 0xFFFF, (pp >> 32) & 0xFFFF


def _empty_chunk() -> FlowChunk:
    cols: dict[str, object] = {c: [] for c in schema.IDENTIFIERS}
    for name in schema.FEATURES:
        cols[name] = np.zeros(0)
    return FlowChunk(columns=cols, size=0)
