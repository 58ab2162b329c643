"""Read pcap and pcapng files as batches of frames; write small pcap files.

:class:`PcapFileSource` walks the file's records (a tight loop over headers
only), and hands out :class:`~flowsentinel.capture.packets.RawFrames` batches
that :func:`~flowsentinel.capture.packets.decode_frames` decodes in bulk.

Formats: classic pcap (microsecond and nanosecond magic, either byte order)
and pcapng (any number of sections and interfaces, ``if_tsresol`` and
``if_tsoffset``, enhanced, simple and obsolete packet blocks).  A file that
ends inside a record is read up to that record and the cut is reported; a
record header that makes no sense (a length beyond the block) stops the read
with a warning that names the file, the packet number and what was expected.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flowsentinel.capture.packets import LINKTYPES, RawFrames

__all__ = ["PcapFormatError", "PcapFileSource", "ReadStats", "write_pcap"]

log = logging.getLogger(__name__)

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1),
    b"\x4d\x3c\xb2\xa1": ("<", 1000),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1000),
}
_PCAPNG_SHB = 0x0A0D0D0A
_MAX_RECORD = 1 << 28  # a record longer than 256 MiB means the file is corrupt
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)  # Linux, BSD, macOS; not Windows


class PcapFormatError(ValueError):
    """A file that is not a pcap/pcapng file we can read; the message says why."""


@dataclass
class ReadStats:
    """What the reader saw: records read and why it stopped early, if it did."""

    records: int = 0
    truncated: bool = False
    stop_reason: str = ""


class PcapFileSource:
    """Frames of a pcap or pcapng file, in batches.

    Parameters
    ----------
    path : str or Path
        The capture file.
    batch_size : int
        Frames per batch (memory per batch is about ``batch_size`` x frame size).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    PcapFormatError
        When the file is neither pcap nor pcapng, or its link type is one we
        do not decode (the message lists the supported ones).
    """

    def __init__(self, path: str | os.PathLike[str], batch_size: int = 16_384) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"capture file {self.path} does not exist")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.stats = ReadStats()
        with open(self.path, "rb") as fh:
            head = fh.read(24)
        if len(head) < 4:
            raise PcapFormatError(f"{self.path}: empty or too short to be a pcap/pcapng file")
        if head[:4] in _PCAP_MAGICS:
            self.format = "pcap"
            if len(head) < 24:
                raise PcapFormatError(f"{self.path}: pcap global header truncated "
                                      f"({len(head)} bytes; expected 24)")
            endian = _PCAP_MAGICS[head[:4]][0]
            linktype = struct.unpack_from(endian + "I", head, 20)[0] & 0x0FFFFFFF
            if linktype not in LINKTYPES:
                raise PcapFormatError(self._linktype_message(linktype))
        elif struct.unpack("<I", head[:4])[0] == _PCAPNG_SHB:
            self.format = "pcapng"
        else:
            raise PcapFormatError(
                f"{self.path}: not a pcap or pcapng file (first bytes {head[:4].hex()}; expected a pcap "
                "magic a1b2c3d4/a1b23c4d in either byte order or a pcapng section header 0a0d0d0a)")

    def __iter__(self) -> Iterator[RawFrames]:
        if self.path.stat().st_size == 0:
            return
        with open(self.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            self._released = 0
            if self.format == "pcap":
                yield from self._pcap_batches(mm)
            else:
                yield from self._batches(mm, self._walk_pcapng(mm))

    # -- batching -----------------------------------------------------------
    def _release(self, mm: mmap.mmap, upto: int) -> None:
        """Unmap the file pages before byte ``upto``: batches are copies, so nothing reads them again.

        Without this every page of the file stays in the process (a 200 MB
        capture costs 200 MB of resident memory); with it the reader holds
        about one batch.
        """
        end = upto - upto % mmap.PAGESIZE
        if end > self._released and _MADV_DONTNEED is not None:
            mm.madvise(_MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def _batches(self, mm: mmap.mmap, walk: Iterable[tuple[int, int, int, int]]) -> Iterator[RawFrames]:
        offs: list[int] = []
        caps: list[int] = []
        tss: list[int] = []
        lts: list[int] = []
        number = 0
        for rec in walk:
            off, cap, ts, lt = rec
            offs.append(off)
            caps.append(cap)
            tss.append(ts)
            lts.append(lt)
            if len(offs) >= self.batch_size:
                yield self._make(mm, np.asarray(offs, np.int64), np.asarray(caps, np.int64),
                                 np.asarray(tss, np.int64), np.asarray(lts, np.int32), number)
                self._release(mm, offs[-1] + caps[-1])
                number += len(offs)
                offs, caps, tss, lts = [], [], [], []
        if offs:
            yield self._make(mm, np.asarray(offs, np.int64), np.asarray(caps, np.int64),
                             np.asarray(tss, np.int64), np.asarray(lts, np.int32), number)

    def _make(self, mm: mmap.mmap, o: np.ndarray, c: np.ndarray, ts: np.ndarray, lt: np.ndarray,
              first: int) -> RawFrames:
        lo, hi = int(o[0]), int(o[-1] + c[-1])
        data = np.frombuffer(mm[lo:hi], dtype=np.uint8)
        self.stats.records = first + o.shape[0]
        return RawFrames(data=data, offsets=o - lo, caplens=c, ts_us=ts, linktypes=lt,
                         numbers=np.arange(first + 1, first + 1 + o.shape[0], dtype=np.int64),
                         source=str(self.path))

    def _stop(self, number: int, why: str) -> None:
        self.stats.truncated = True
        self.stats.stop_reason = f"{self.path}: packet {number}: {why}"
        log.warning("%s; the packets before it were read", self.stats.stop_reason)

    # -- classic pcap -------------------------------------------------------
    def _pcap_batches(self, mm: mmap.mmap) -> Iterator[RawFrames]:
        """Walk record headers (only the length field, in Python), the rest in numpy."""
        endian, scale = _PCAP_MAGICS[bytes(mm[:4])]
        if len(mm) < 24:
            raise PcapFormatError(f"{self.path}: pcap global header truncated (expected 24 bytes)")
        linktype = struct.unpack_from(endian + "I", mm, 20)[0] & 0x0FFFFFFF
        if linktype not in LINKTYPES:
            raise PcapFormatError(self._linktype_message(linktype))
        cap_at = struct.Struct(endian + "I").unpack_from
        u32 = np.dtype(endian + "u4")
        size = len(mm)
        whole = np.frombuffer(mm, dtype=np.uint8)
        pos = 24
        number = 0
        batch = self.batch_size
        stopped = False
        try:
            while pos + 16 <= size and not stopped:
                offs: list[int] = []
                append = offs.append
                left = batch
                limit = size - 16
                max_record = _MAX_RECORD
                while left and pos <= limit:
                    cap = cap_at(mm, pos + 8)[0]
                    nxt = pos + 16 + cap
                    if nxt > size or cap > max_record:
                        why = (f"record length {cap} is not plausible (expected < {max_record})"
                               if cap > max_record else f"file ends inside the record (expected {cap} bytes)")
                        self._stop(number + len(offs) + 1, why)
                        stopped = True
                        break
                    append(pos)
                    pos = nxt
                    left -= 1
                if not offs:
                    break
                o = np.asarray(offs, dtype=np.int64)
                hdr = whole[o[:, None] + np.arange(12)].reshape(-1).view(u32).reshape(-1, 3).astype(np.int64)
                ts = hdr[:, 0] * 1_000_000 + (hdr[:, 1] // scale)
                yield self._make(mm, o + 16, hdr[:, 2], ts, np.full(o.shape[0], linktype, np.int32), number)
                self._release(mm, pos)
                number += o.shape[0]
            if not stopped and pos != size:
                self._stop(number + 1, "file ends inside a record header (expected 16 bytes)")
        finally:
            del whole

    def _linktype_message(self, linktype: int) -> str:
        known = ", ".join(f"{k} ({v})" for k, v in sorted(LINKTYPES.items()))
        return f"{self.path}: link type {linktype} is not supported; supported link types: {known}"

    # -- pcapng ---------------------------------------------------------------
    def _walk_pcapng(self, mm: mmap.mmap) -> Iterator[tuple[int, int, int, int]]:
        size = len(mm)
        pos = 0
        endian = "<"
        ifaces: list[tuple[int, int, int, int]] = []  # (linktype, num, den_shift/flag, offset_us)
        number = 0
        warned: set[int] = set()
        while pos + 12 <= size:
            btype = struct.unpack_from(endian + "I", mm, pos)[0]
            if btype == _PCAPNG_SHB or struct.unpack_from("<I", mm, pos)[0] == _PCAPNG_SHB:
                bom = bytes(mm[pos + 8:pos + 12])
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    self._stop(number + 1, f"pcapng section header at byte {pos} has byte-order magic "
                                           f"{bom.hex()} (expected 1a2b3c4d)")
                    return
                btype = _PCAPNG_SHB
                ifaces = []
            blen = struct.unpack_from(endian + "I", mm, pos + 4)[0]
            if blen < 12 or blen % 4 or pos + blen > size:
                self._stop(number + 1, f"pcapng block at byte {pos} has length {blen} "
                                       f"(expected a multiple of 4, >= 12, inside the file)")
                return
            body = pos + 8
            if btype == 1:  # interface description
                lt = struct.unpack_from(endian + "H", mm, body)[0]
                ifaces.append(self._interface(mm, endian, body + 8, pos + blen - 4, lt))
            elif btype in (6, 2):  # enhanced / obsolete packet block
                if btype == 6:
                    iface, hi_ts, lo_ts, cap, _wire = struct.unpack_from(endian + "IIIII", mm, body)
                else:
                    iface, _drops, hi_ts, lo_ts, cap, _wire = struct.unpack_from(endian + "HHIIII", mm, body)
                number += 1
                data = body + 20
                if data + cap > pos + blen - 4:
                    self._stop(number, f"captured length {cap} runs past its pcapng block")
                    return
                if iface >= len(ifaces):
                    self._stop(number, f"packet names interface {iface} but the section "
                                       f"describes {len(ifaces)} interface(s)")
                    return
                lt, units, is_pow2, offset_us = ifaces[iface]
                ts = min(max(_to_us((hi_ts << 32) | lo_ts, units, is_pow2) + offset_us, 0), _MAX_US)
                yield data, cap, ts, lt
            elif btype == 3:  # simple packet block: no timestamp, interface 0
                number += 1
                if not ifaces:
                    self._stop(number, "simple packet block before any interface description")
                    return
                wire = struct.unpack_from(endian + "I", mm, body)[0]
                cap = min(wire, blen - 16)
                lt = ifaces[0][0]
                if 3 not in warned:
                    warned.add(3)
                    log.warning("%s: simple packet blocks carry no timestamp; they are given time 0",
                                self.path)
                yield body + 4, cap, 0, lt
            pos += blen
        if pos != size:
            self._stop(number + 1, "file ends inside a pcapng block header")

    def _interface(self, mm: mmap.mmap, endian: str, opt: int, stop: int,
                   linktype: int) -> tuple[int, int, int, int]:
        if linktype not in LINKTYPES:
            raise PcapFormatError(self._linktype_message(linktype))
        units, is_pow2, offset_s = 6, 0, 0
        while opt + 4 <= stop:
            code, length = struct.unpack_from(endian + "HH", mm, opt)
            if code == 0:
                break
            if code == 9 and length >= 1:  # if_tsresol
                v = mm[opt + 4]
                units, is_pow2 = v & 0x7F, v >> 7
            elif code == 14 and length >= 8:  # if_tsoffset, seconds
                offset_s = struct.unpack_from(endian + "q", mm, opt + 4)[0]
            opt += 4 + ((length + 3) & ~3)
        return linktype, units, is_pow2, offset_s * 1_000_000


_MAX_US = (1 << 62) - 1  # keeps every later computation inside int64


def _to_us(ticks: int, units: int, is_pow2: int) -> int:
    """Convert pcapng timestamp ticks to microseconds (rounded down, clamped to int64)."""
    if is_pow2:
        us = (ticks * 1_000_000) >> units
    elif units >= 6:
        us = ticks // 10 ** (units - 6)
    else:
        us = ticks * 10 ** (6 - units)
    return min(max(us, 0), _MAX_US)


def write_pcap(path: str | os.PathLike[str], packets: Iterable[tuple[int, bytes]],
               linktype: int = 1, snaplen: int = 262_144) -> int:
    """Write frames to a classic little-endian microsecond pcap file.

    Parameters
    ----------
    path : str or Path
        Output file.
    packets : iterable of (int, bytes)
        ``(timestamp in microseconds since the epoch, frame bytes)``.
    linktype : int
        Link-layer header type of every frame (1 = Ethernet).
    snaplen : int
        Snap length written in the header; longer frames are cut to it.

    Returns
    -------
    int
        Number of frames written.
    """
    count = 0
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
        for ts, frame in packets:
            frame = bytes(frame)
            cap = frame[:snaplen]
            fh.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(cap), len(frame)))
            fh.write(cap)
            count += 1
    return count
