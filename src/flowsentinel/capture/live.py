"""Frames from a live network interface, through libpcap (the pcapy-ng binding).

:class:`LiveSource` yields the same :class:`~flowsentinel.capture.packets.RawFrames`
batches as a capture file, so ``FlowStreamer(LiveSource("eth0"))`` meters an
interface with the code that meters files.  Packets are fetched many at a
time (``next_batch``: one call into C per batch), a BPF filter can be set, and
the kernel's drop counter is read after every batch (``kernel_drops``).

Live operation
--------------
* Idle flows are written on a wall-clock timer: the source yields an empty
  batch when the read timeout passes without packets, and tells the streamer
  the time (``expire_now``) at most every ``expire_interval`` seconds.
* ``stop()`` (from any thread), ``duration``, ``max_packets`` or Ctrl-C end the
  iteration normally, so the streamer flushes every open flow.
* pcapy-ng does not expose ``pcap_set_immediate_mode``; the read timeout
  (``timeout_ms``, default 10 ms) bounds how long a packet waits in the
  kernel buffer instead.  When a binding offers immediate mode it is used.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Iterator

import numpy as np

from flowsentinel.capture.packets import LINKTYPES, RawFrames

__all__ = ["LiveCaptureError", "LiveSource"]

log = logging.getLogger(__name__)


class LiveCaptureError(RuntimeError):
    """An interface that cannot be opened or a filter that does not compile; says why."""


def _pcapy():
    try:
        import pcapy  # pcapy-ng
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise LiveCaptureError(
            "live capture needs the pcapy-ng binding and libpcap: pip install pcapy-ng "
            "(Debian: apt-get install libpcap0.8, plus libpcap0.8-dev and a C compiler to build it)"
        ) from err
    if not hasattr(pcapy, "create"):  # pragma: no cover
        raise LiveCaptureError("the installed pcapy is too old; install pcapy-ng >= 2.1")
    return pcapy


class LiveSource:
    """Capture an interface in batches of frames.

    Parameters
    ----------
    interface : str
        Interface name (``eth0``, ``lo``, ``any``).
    bpf_filter : str, optional
        A BPF filter expression (``"tcp or udp"``); checked when the source
        opens, with an error that quotes it.
    snaplen : int
        Bytes kept per frame; payload lengths come from the IP header, so a
        short snap length does not change the features.
    promisc : bool
        Promiscuous mode.
    timeout_ms : int
        libpcap read timeout: the longest a packet waits before delivery, and
        how often an idle capture wakes up to expire flows.
    batch_max : int
        Most frames fetched in one call.
    buffer_size : int, optional
        Kernel capture buffer in bytes (default 32 MiB; None: libpcap's 2 MiB).
        It absorbs the pauses of the meter (writing finished flows): with
        2 MiB a loopback replay of 730-byte frames drops from about
        100,000 packets/s, with 32 MiB none up to 250,000 (see
        ``benchmarks/live.py``).
    expire_interval : float
        Seconds between two wall-clock expiry checks.
    duration : float, optional
        Stop after this many seconds.
    max_packets : int, optional
        Stop after this many frames.

    Raises
    ------
    LiveCaptureError
        When the binding is missing, the interface cannot be opened (no such
        device, no permission) or the filter does not compile.
    """

    def __init__(self, interface: str, bpf_filter: str | None = None, snaplen: int = 65535,
                 promisc: bool = False, timeout_ms: int = 10, batch_max: int = 65536,
                 buffer_size: int | None = 32 * 2 ** 20, expire_interval: float = 1.0,
                 duration: float | None = None, max_packets: int | None = None) -> None:
        for name, value in (("snaplen", snaplen), ("timeout_ms", timeout_ms), ("batch_max", batch_max)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        pcapy = _pcapy()
        self.interface = interface
        self.path = f"interface {interface}"
        self.bpf_filter = bpf_filter
        self.batch_max = batch_max
        self.expire_interval = float(expire_interval)
        self.duration = duration
        self.max_packets = max_packets
        self._stop = threading.Event()
        self._frames = 0
        self._last_expire = 0.0
        self._drops = 0
        try:
            handle = pcapy.create(interface)
            handle.set_snaplen(snaplen)
            handle.set_promisc(int(bool(promisc)))
            handle.set_timeout(timeout_ms)
            if buffer_size:
                handle.set_buffer_size(int(buffer_size))
            immediate = getattr(handle, "set_immediate_mode", None)
            if immediate is not None:
                immediate(1)
            handle.activate()
            # Non-blocking reads paced by select(): libpcap's read timeout does not
            # wake an idle capture on every platform, and the loop must see stop().
            handle.setnonblock(1)
            self._fd = handle.getfd()
        except pcapy.PcapError as err:
            raise LiveCaptureError(f"cannot capture on {interface!r}: {err} (does the interface exist? "
                                   "capturing needs root or CAP_NET_RAW)") from err
        if bpf_filter:
            try:
                handle.setfilter(bpf_filter)
            except (pcapy.PcapError, getattr(pcapy, "BPFError", pcapy.PcapError)) as err:
                handle.close()
                raise LiveCaptureError(f"BPF filter {bpf_filter!r} does not compile on {interface!r}: "
                                       f"{err}") from err
        self._wait = timeout_ms / 1000.0
        self.linktype = int(handle.datalink())
        if self.linktype not in LINKTYPES:
            handle.close()
            known = ", ".join(f"{k} ({v})" for k, v in sorted(LINKTYPES.items()))
            raise LiveCaptureError(f"{interface!r} has link type {self.linktype}, which the decoder does "
                                   f"not support; supported: {known}")
        self._handle = handle
        log.info("capturing on %s (link type %d, filter %r)", interface, self.linktype, bpf_filter)

    # -- counters -------------------------------------------------------------------
    @property
    def kernel_drops(self) -> int:
        """Packets dropped by the kernel or the interface since the capture started."""
        return self._drops

    @property
    def frames(self) -> int:
        """Frames delivered so far."""
        return self._frames

    def _read_stats(self) -> None:
        try:
            st = self._handle.stats()
        except Exception:  # noqa: BLE001 - a closed or odd handle must not end the capture
            return
        self._drops = int(st[1]) + (int(st[2]) if len(st) > 2 else 0)

    # -- control -------------------------------------------------------------------
    def stop(self) -> None:
        """End the capture at the next read timeout (safe from any thread)."""
        self._stop.set()

    def expire_now(self) -> int | None:
        """Wall-clock time in µs when an expiry check is due, else None."""
        now = time.time()
        if now - self._last_expire >= self.expire_interval:
            self._last_expire = now
            return int(now * 1_000_000)
        return None

    def close(self) -> None:
        """Release the capture handle."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None:
            handle.close()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- frames -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[RawFrames]:
        if self._handle is None:
            raise LiveCaptureError(f"capture on {self.interface!r} is closed")
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.duration is not None and time.monotonic() - started >= self.duration:
                    break
                if self.max_packets is not None and self._frames >= self.max_packets:
                    break
                select.select([self._fd], [], [], self._wait)
                data, meta = self._handle.next_batch(self.batch_max)
                self._read_stats()
                yield self._to_frames(data, meta)
        except KeyboardInterrupt:
            log.info("capture on %s interrupted; flushing open flows", self.interface)
        finally:
            self._read_stats()

    def _to_frames(self, data: bytes, meta: bytes) -> RawFrames:
        rec = np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4).astype(np.int64)
        n = rec.shape[0]
        first = self._frames
        self._frames += n
        return RawFrames(
            data=np.frombuffer(data, dtype=np.uint8) if n else np.zeros(0, np.uint8),
            offsets=rec[:, 2], caplens=rec[:, 3], ts_us=rec[:, 0] * 1_000_000 + rec[:, 1],
            linktypes=np.full(n, self.linktype, dtype=np.int32),
            numbers=np.arange(first + 1, first + 1 + n, dtype=np.int64), source=self.path)
