"""BPF filtering of a frame source in user space, for capture files.

A live interface filters in the kernel (``LiveSource(bpf_filter=...)``); a
file has no kernel in between, so :class:`BpfFilter` compiles the same
expression with libpcap (through pcapy-ng) and keeps the matching frames of
each batch.  The expression means the same in both places.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from flowsentinel.capture.live import _pcapy
from flowsentinel.capture.packets import RawFrames

__all__ = ["BpfFilter"]


class BpfFilter:
    """Frames of ``source`` that match a BPF expression (an iterable of RawFrames, like the source).

    Parameters
    ----------
    source : iterable of RawFrames
        A file source (``PcapFileSource``) or any other frame source.
    expression : str
        A pcap-filter(7) expression such as ``"tcp port 80 or udp"``.
    snaplen : int
        Snap length the filter is compiled for.

    Raises
    ------
    ValueError
        When the expression does not compile (the message quotes it).
    LiveCaptureError
        When the libpcap binding is not installed.

    Attributes
    ----------
    matched, dropped : int
        Frames kept and frames filtered out so far.
    """

    def __init__(self, source: Iterable[RawFrames], expression: str, snaplen: int = 262_144) -> None:
        self.source = source
        self.expression = expression
        self.snaplen = snaplen
        self.path = getattr(source, "path", "packets")
        self.matched = 0
        self.dropped = 0
        self._pcapy = _pcapy()
        self._programs: dict[int, object] = {}
        self._program(1)  # fail at once on a bad expression, not at the first packet

    def _program(self, linktype: int):
        prog = self._programs.get(linktype)
        if prog is None:
            try:
                prog = self._pcapy.compile(int(linktype), self.snaplen, self.expression, 1, 0)
            except self._pcapy.PcapError as err:
                raise ValueError(f"BPF filter {self.expression!r} does not compile: {err}") from None
            self._programs[linktype] = prog
        return prog

    def __iter__(self) -> Iterator[RawFrames]:
        for frames in self.source:
            n = len(frames)
            if n == 0:
                yield frames
                continue
            data = frames.data
            keep = np.zeros(n, dtype=bool)
            for lt in np.unique(frames.linktypes).tolist():
                match = self._program(lt).filter
                for i in np.flatnonzero(frames.linktypes == lt).tolist():
                    o = int(frames.offsets[i])
                    keep[i] = match(data[o:o + int(frames.caplens[i])].tobytes()) > 0
            kept = int(keep.sum())
            self.matched += kept
            self.dropped += n - kept
            yield RawFrames(data=data, offsets=frames.offsets[keep], caplens=frames.caplens[keep],
                            ts_us=frames.ts_us[keep], linktypes=frames.linktypes[keep],
                            numbers=frames.numbers[keep], source=frames.source)
