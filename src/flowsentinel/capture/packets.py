"""Frames → parsed packet records, decoded for a whole batch at once with numpy.

A packet source (pcap/pcapng file, live interface) hands over :class:`RawFrames`:
one byte buffer plus per-frame offsets, captured lengths, timestamps and link
types.  :func:`decode_frames` turns them into a :class:`PacketBatch`, the
columnar record the flow meter reads.  Every field is gathered for all frames
with numpy fancy indexing and every bound is checked with a mask, so a
malformed or truncated frame is *counted and skipped*, never a crash, and the
cost per packet is a few hundred nanoseconds.

What is decoded
---------------
* links: Ethernet (with up to two 802.1Q/802.1ad tags), Linux cooked v1 and
  v2, raw IP (LINKTYPE_RAW and the BSD DLT numbers, IPv4/IPv6 link types),
  BSD loopback (NULL/LOOP);
* IPv4 (options, fragments) and IPv6 (hop-by-hop, routing, destination
  options, fragment and AH extension headers);
* TCP, UDP, ICMP, ICMPv6; any other IP protocol is kept as an "other" packet
  (see ``SemanticsProfile.quirk_other_protocols_as_zero``).

Lengths follow the release's meter: the payload length is the TCP/UDP payload
given by the IP length (so Ethernet padding is trimmed; a capture truncated by
a snap length still reports the payload that was on the wire), the header
length is the TCP header with options or 8 for UDP, and ICMP/other packets
carry no payload, header or window (all 0).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "LINKTYPES",
    "MALFORMED_REASONS",
    "PacketBatch",
    "RawFrames",
    "decode_frames",
    "format_ip",
]

# Link-layer header types (https://www.tcpdump.org/linktypes.html) we decode.
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
#: Link types we decode, by number; 12 and 14 are DLT_RAW as written on some BSDs.
LINKTYPES: dict[int, str] = {
    LINKTYPE_NULL: "BSD loopback (NULL)",
    LINKTYPE_ETHERNET: "Ethernet",
    12: "raw IP (DLT_RAW, BSD)",
    14: "raw IP (DLT_RAW, OpenBSD)",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback (LOOP)",
    LINKTYPE_LINUX_SLL: "Linux cooked v1 (SLL)",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}

# TCP flag bits as they sit in byte 13 of the TCP header.
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80

# Kinds a frame can decode to (internal).
_IPV4, _IPV6, _NON_IP, _UNSUPPORTED = 4, 6, 0, -2

#: Why a frame was counted as malformed (reason code → words for the log).
MALFORMED_REASONS: dict[int, str] = {
    1: "link-layer header truncated",
    2: "IPv4 header truncated or IHL < 5 (expected at least 20 bytes)",
    3: "IPv4 total length smaller than its header",
    4: "IPv6 header truncated (expected 40 bytes)",
    5: "IPv6 extension header truncated",
    6: "TCP header truncated (expected 20 bytes)",
    7: "TCP data offset < 5 or beyond the IP packet",
    8: "UDP header truncated (expected 8 bytes) or beyond the IP packet",
    9: "ICMP header truncated (expected type and code)",
    10: "IP version nibble does not match the link layer",
    11: "captured length beyond the end of the buffer",
}


@dataclass
class RawFrames:
    """Captured frames as one buffer plus per-frame columns.

    Attributes
    ----------
    data : ndarray of uint8
        The bytes that hold every frame (a file mapping or a receive buffer).
    offsets : ndarray of int64, shape (n,)
        Where each frame starts in ``data``.
    caplens : ndarray of int64, shape (n,)
        Captured length of each frame.
    ts_us : ndarray of int64, shape (n,)
        Capture time, microseconds since the Unix epoch.
    linktypes : ndarray of int32, shape (n,)
        Link-layer header type of each frame.
    numbers : ndarray of int64, shape (n,)
        1-based packet number in the source, for messages.
    source : str
        Where the frames came from (file name, interface), for messages.
    """

    data: np.ndarray
    offsets: np.ndarray
    caplens: np.ndarray
    ts_us: np.ndarray
    linktypes: np.ndarray
    numbers: np.ndarray
    source: str = "<frames>"

    def __len__(self) -> int:
        return int(self.offsets.shape[0])


@dataclass
class PacketBatch:
    """Parsed packets, one numpy column per field, all of length ``n``.

    Addresses are two big-endian 64-bit halves (IPv4 in ``*_lo``, ``*_hi`` 0)
    and ``ver`` says which family.  ``proto`` is the protocol the meter reports
    (6, 17, 1, 58, or the profile's value for other protocols).  ``flags`` is
    the TCP flag byte (FIN=1 ... CWR=0x80); ``icmp_type``/``icmp_code`` are -1
    for non-ICMP packets.

    The counters describe the frames the batch was decoded from.
    """

    ts: np.ndarray
    ver: np.ndarray
    src_hi: np.ndarray
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    proto: np.ndarray
    flags: np.ndarray
    win: np.ndarray
    plen: np.ndarray
    hlen: np.ndarray
    icmp_type: np.ndarray
    icmp_code: np.ndarray
    number: np.ndarray
    frames: int = 0
    malformed: int = 0
    non_ip: int = 0
    unsupported: int = 0
    malformed_examples: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def empty(cls) -> PacketBatch:
        """A batch with no packets."""
        z = np.zeros(0, dtype=np.int64)
        u = np.zeros(0, dtype=np.uint64)
        return cls(ts=z, ver=z, src_hi=u, src_lo=u, dst_hi=u, dst_lo=u, sport=z, dport=z,
                   proto=z, flags=z, win=z, plen=z, hlen=z, icmp_type=z, icmp_code=z, number=z)


def _be_u64(u8: np.ndarray, pos: np.ndarray, nbytes: int) -> np.ndarray:
    """Big-endian unsigned integer of ``nbytes`` (<= 8) bytes at each position.

    Positions past the end of the buffer read its last byte; callers check
    bounds with masks.
    """
    last = u8.shape[0] - 1
    out = np.zeros(pos.shape[0], dtype=np.uint64)
    for k in range(nbytes):
        out = (out << np.uint64(8)) | u8[np.clip(pos + k, 0, last)].astype(np.uint64)
    return out


def decode_frames(frames: RawFrames, other_protocols_as_zero: bool = True,
                  max_examples: int = 5) -> PacketBatch:
    """Decode a batch of frames into packet records.

    Parameters
    ----------
    frames : RawFrames
        Frames of any supported link type (mixed types are fine: pcapng).
    other_protocols_as_zero : bool
        Report IP protocols other than TCP/UDP/ICMP/ICMPv6 (and non-first
        fragments) as protocol 0, as the release did.
    max_examples : int
        How many malformed frames to keep as ``(packet number, reason)``.

    Returns
    -------
    PacketBatch
        Only the frames that decoded to an IP packet, in input order; the
        counters say how many were malformed, not IP, or of a link type we do
        not decode.
    """
    n = len(frames)
    data = frames.data
    if n == 0:
        return PacketBatch.empty()
    # Every gather below is clipped into the buffer (no copy of it); bounds
    # are checked against each frame's captured length with masks.
    u8 = np.asarray(data, dtype=np.uint8).reshape(-1)
    size = int(u8.shape[0])
    if size == 0:
        u8 = np.zeros(1, np.uint8)
    off = frames.offsets.astype(np.int64, copy=False)
    end = off + frames.caplens.astype(np.int64, copy=False)
    lt = frames.linktypes.astype(np.int64, copy=False)
    last = u8.shape[0] - 1

    def r8(pos: np.ndarray) -> np.ndarray:
        return u8[np.clip(pos, 0, last)].astype(np.int64)

    def r16(pos: np.ndarray) -> np.ndarray:
        return (r8(pos) << 8) | r8(pos + 1)

    reason = np.zeros(n, dtype=np.int64)  # 0 = fine
    reason[(end > size) | (off < 0) | (end < off)] = 11
    kind = np.full(n, _UNSUPPORTED, dtype=np.int64)
    l3 = off.copy()

    def ether_kind(etype: np.ndarray) -> np.ndarray:
        return np.where(etype == 0x0800, _IPV4, np.where(etype == 0x86DD, _IPV6, _NON_IP))

    # Ethernet, with up to two VLAN tags.
    m = lt == LINKTYPE_ETHERNET
    if m.any():
        short = m & (off + 14 > end)
        etype = r16(off + 12)
        pos = off + 14
        for _ in range(2):
            tag = m & ~short & ((etype == 0x8100) | (etype == 0x88A8) | (etype == 0x9100))
            short |= tag & (pos + 4 > end)
            etype = np.where(tag, r16(pos + 2), etype)
            pos = np.where(tag, pos + 4, pos)
        kind = np.where(m, ether_kind(etype), kind)
        l3 = np.where(m, pos, l3)
        reason[short & (reason == 0)] = 1
    # Linux cooked capture v1 (16-byte header, protocol at 14) and v2 (20 bytes, protocol at 0).
    for linktype, hdr, proto_at in ((LINKTYPE_LINUX_SLL, 16, 14), (LINKTYPE_LINUX_SLL2, 20, 0)):
        m = lt == linktype
        if m.any():
            kind = np.where(m, ether_kind(r16(off + proto_at)), kind)
            l3 = np.where(m, off + hdr, l3)
            reason[m & (off + hdr > end) & (reason == 0)] = 1
    # BSD loopback: a 4-byte address family, host order (NULL) or network order (LOOP).
    m = (lt == LINKTYPE_NULL) | (lt == LINKTYPE_LOOP)
    if m.any():
        b0, b3 = r8(off), r8(off + 3)
        fam = np.where((lt == LINKTYPE_NULL) & (b0 != 0), b0, b3)
        k = np.where(fam == 2, _IPV4, np.where(np.isin(fam, (10, 24, 28, 30)), _IPV6, _NON_IP))
        kind = np.where(m, k, kind)
        l3 = np.where(m, off + 4, l3)
        reason[m & (off + 4 > end) & (reason == 0)] = 1
    # Raw IP: the version nibble says which.
    m = np.isin(lt, (12, 14, LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6))
    if m.any():
        nib = r8(off) >> 4
        k = np.where(nib == 4, _IPV4, np.where(nib == 6, _IPV6, _NON_IP))
        kind = np.where(m, k, kind)
        reason[m & (off + 1 > end) & (reason == 0)] = 1

    unsupported = int(np.count_nonzero(kind == _UNSUPPORTED))
    bad_link = reason != 0
    non_ip_mask = (kind == _NON_IP) & ~bad_link
    ip = ((kind == _IPV4) | (kind == _IPV6)) & ~bad_link
    idx = np.flatnonzero(ip)
    kind, l3, end, reason_ip = kind[idx], l3[idx], end[idx], np.zeros(idx.shape[0], np.int64)
    is4 = kind == _IPV4
    is6 = ~is4
    m_ = idx.shape[0]

    b0 = r8(l3)
    reason_ip[(b0 >> 4) != np.where(is4, 4, 6)] = 10
    src_hi = np.zeros(m_, np.uint64)
    src_lo = np.zeros(m_, np.uint64)
    dst_hi = np.zeros(m_, np.uint64)
    dst_lo = np.zeros(m_, np.uint64)
    l4 = np.zeros(m_, np.int64)
    ip_end = np.zeros(m_, np.int64)
    nxt = np.zeros(m_, np.int64)
    nonfirst = np.zeros(m_, bool)

    # IPv4
    i4 = np.flatnonzero(is4)
    if i4.size:
        p, e = l3[i4], end[i4]
        ihl = (b0[i4] & 0x0F) * 4
        bad = (p + 20 > e) | (ihl < 20) | (p + ihl > e)
        tot = r16(p + 2)
        r = np.where(bad, 2, np.where((tot != 0) & (tot < ihl), 3, 0))
        reason_ip[i4] = np.where(reason_ip[i4] == 0, r, reason_ip[i4])
        ip_end[i4] = np.where(tot == 0, e, p + tot)  # total length 0: segmentation offload
        l4[i4] = p + ihl
        nxt[i4] = r8(p + 9)
        nonfirst[i4] = (r16(p + 6) & 0x1FFF) != 0
        src_lo[i4] = _be_u64(u8, p + 12, 4)
        dst_lo[i4] = _be_u64(u8, p + 16, 4)
    # IPv6, with extension headers
    i6 = np.flatnonzero(is6)
    if i6.size:
        p, e = l3[i6], end[i6]
        bad = p + 40 > e
        plen6 = r16(p + 4)
        ip_end[i6] = np.where(plen6 == 0, e, p + 40 + plen6)  # 0: jumbogram / offload
        src_hi[i6] = _be_u64(u8, p + 8, 8)
        src_lo[i6] = _be_u64(u8, p + 16, 8)
        dst_hi[i6] = _be_u64(u8, p + 24, 8)
        dst_lo[i6] = _be_u64(u8, p + 32, 8)
        nh = r8(p + 6)
        pos = p + 40
        nf6 = np.zeros(i6.size, bool)
        ext_bad = np.zeros(i6.size, bool)
        for _ in range(8):
            ext = ~bad & ~ext_bad & ~nf6 & np.isin(nh, (0, 43, 44, 51, 60))
            if not ext.any():
                break
            ext_bad |= ext & (pos + 8 > e)
            ext &= ~ext_bad
            hl = np.where(nh == 44, 8, np.where(nh == 51, (r8(pos + 1) + 2) * 4, (r8(pos + 1) + 1) * 8))
            nf6 |= ext & (nh == 44) & ((r16(pos + 2) >> 3) != 0)
            nh = np.where(ext, r8(pos), nh)
            pos = np.where(ext, pos + hl, pos)
        r = np.where(bad, 4, np.where(ext_bad, 5, 0))
        reason_ip[i6] = np.where(reason_ip[i6] == 0, r, reason_ip[i6])
        l4[i6] = pos
        nxt[i6] = nh
        nonfirst[i6] = nf6

    tcp = (nxt == 6) & ~nonfirst
    udp = (nxt == 17) & ~nonfirst
    icmp = (((nxt == 1) & is4) | ((nxt == 58) & is6)) & ~nonfirst
    other = ~(tcp | udp | icmp)
    ok = reason_ip == 0
    # TCP
    doff = (r8(l4 + 12) >> 4) * 4
    reason_ip[ok & tcp & (l4 + 20 > end)] = 6
    reason_ip[(reason_ip == 0) & tcp & ((doff < 20) | (l4 + doff > ip_end))] = 7
    reason_ip[(reason_ip == 0) & udp & ((l4 + 8 > end) | (l4 + 8 > ip_end))] = 8
    reason_ip[(reason_ip == 0) & icmp & (l4 + 2 > end)] = 9

    good = reason_ip == 0
    sel = np.flatnonzero(good)
    tcp, udp, icmp, other = tcp[sel], udp[sel], icmp[sel], other[sel]
    l4s, ends = l4[sel], ip_end[sel]
    ports = tcp | udp
    sport = np.where(ports, r16(l4s), 0)
    dport = np.where(ports, r16(l4s + 2), 0)
    doff = doff[sel]
    hlen = np.where(tcp, doff, np.where(udp, 8, 0))
    plen = np.where(tcp | udp, ends - l4s - hlen, 0)
    flags = np.where(tcp, r8(l4s + 13), 0)
    win = np.where(tcp, r16(l4s + 14), 0)
    icmp_type = np.where(icmp, r8(l4s), -1)
    icmp_code = np.where(icmp, r8(l4s + 1), -1)
    nx = nxt[sel]
    proto = np.where(other, 0 if other_protocols_as_zero else nx, nx)

    all_reason = np.zeros(n, np.int64)
    all_reason[bad_link] = reason[bad_link]
    all_reason[idx] = reason_ip
    bad_idx = np.flatnonzero(all_reason)
    examples = [(int(frames.numbers[i]), MALFORMED_REASONS[int(all_reason[i])])
                for i in bad_idx[:max_examples]]
    keep = idx[sel]
    return PacketBatch(
        ts=frames.ts_us[keep].astype(np.int64, copy=False),
        ver=np.where(is4[sel], 4, 6).astype(np.int64),
        src_hi=src_hi[sel], src_lo=src_lo[sel], dst_hi=dst_hi[sel], dst_lo=dst_lo[sel],
        sport=sport, dport=dport, proto=proto.astype(np.int64), flags=flags, win=win,
        plen=plen, hlen=hlen, icmp_type=icmp_type, icmp_code=icmp_code,
        number=frames.numbers[keep].astype(np.int64, copy=False),
        frames=n, malformed=int(bad_idx.shape[0]), non_ip=int(np.count_nonzero(non_ip_mask)),
        unsupported=unsupported, malformed_examples=examples,
    )


def format_ip(ver: int, hi: int, lo: int) -> str:
    """Text form of an address held as two 64-bit halves (IPv4 dotted, IPv6 compressed)."""
    if ver == 4:
        return socket.inet_ntop(socket.AF_INET, (int(lo) & 0xFFFFFFFF).to_bytes(4, "big"))
    return str(ipaddress.IPv6Address((int(hi) << 64) | int(lo)))
