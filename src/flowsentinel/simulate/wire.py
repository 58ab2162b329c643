"""Frames on the wire: addresses, TCP/IP stack fingerprints, and conversation builders.

Everything the behaviour modules need to write packets: a :class:`Capture`
collects ``(time µs, Ethernet frame)`` pairs and the ground-truth label of
each conversation; :class:`Tcp` plays one TCP connection (handshake, data in
MSS segments with delayed ACKs, close or reset) as seen by a capture point
near one end; :func:`udp_exchange` does a request/response over UDP.

Time model: the capture point sits on the site's uplink, as in CICIDS-2017.
A host on the far side of the capture point answers one round trip after it
was sent a packet; a host on the near side answers after its processing time
only.  So a SYN to a remote web server is followed by the SYN-ACK one RTT
later, and by the client's ACK a few microseconds after that.

Addresses are only private (RFC 1918) and documentation ranges (RFC 5737):
the simulator writes files, it never sends anything.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

__all__ = [
    "ACK",
    "FIN",
    "LINUX",
    "LINUX_2017",
    "LINUX_SERVER",
    "MACOS",
    "MS",
    "NMAP",
    "OLD_LINUX_SERVER",
    "PSH",
    "RST",
    "SYN",
    "WINDOWS",
    "WINDOWS_7",
    "WINDOWS_SERVER",
    "Capture",
    "Network",
    "S",
    "Stack",
    "Tcp",
    "conversation",
    "lan_rtt",
    "lognormal_int",
    "udp_exchange",
]

S = 1_000_000  # µs per second
MS = 1_000  # µs per millisecond

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_ETH = bytes.fromhex("000c29bbbbbb000c29aaaaaa0800")
_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")
_PAD = bytes(65_536)
_NOPS = b"\x01" * 40


@dataclass(frozen=True)
class Stack:
    """What a host's TCP/IP stack writes into headers: the fingerprint a flow meter sees.

    Attributes
    ----------
    ttl : int
        Initial IP time-to-live.
    syn_win : int
        TCP window in the SYN or SYN-ACK (``FWD/Bwd Init Win Bytes``).
    win : int
        Window field of later segments (already scaled down by window scaling).
    syn_opts, opts : int
        TCP option bytes in the SYN/SYN-ACK and in later segments (12 with timestamps).
    mss : int
        Payload bytes of a full segment.
    """

    name: str
    ttl: int
    syn_win: int
    win: int
    syn_opts: int
    opts: int
    mss: int


WINDOWS = Stack("windows", 128, 64240, 1026, 12, 0, 1460)
#: Windows 7 / 8.1, as on most of the dataset's victims in 2017.
WINDOWS_7 = Stack("windows-7", 128, 8192, 256, 12, 0, 1460)
MACOS = Stack("macos", 64, 65535, 2058, 24, 12, 1448)
LINUX = Stack("linux", 64, 64240, 502, 20, 12, 1448)
#: Linux of 2017 (Kali, Ubuntu 16.04): a 29200-byte SYN window.
LINUX_2017 = Stack("linux-2017", 64, 29200, 229, 20, 12, 1448)
LINUX_SERVER = Stack("linux-server", 64, 65160, 509, 20, 12, 1448)
OLD_LINUX_SERVER = Stack("linux-server-2012", 64, 28960, 227, 20, 12, 1448)
WINDOWS_SERVER = Stack("windows-server", 128, 8192, 513, 12, 0, 1460)
#: nmap's raw SYN probes: a 1024-byte window and only the MSS option.
NMAP = Stack("nmap", 44, 1024, 1024, 4, 0, 1460)

CLIENT_STACKS = (WINDOWS, WINDOWS_7, WINDOWS_7, MACOS, LINUX, LINUX_2017)
SERVER_STACKS = (LINUX_SERVER, LINUX_SERVER, OLD_LINUX_SERVER, WINDOWS_SERVER)


class Network:
    """The simulated site: internal clients and servers, remote servers, attackers.

    Internal hosts are in 192.168.10.0/24, remote services in the RFC 5737
    documentation ranges 192.0.2.0/24 and 198.51.100.0/24, attackers and the
    botnet's C&C in 203.0.113.0/24, and DDoS sources in 10.0.0.0/8.
    """

    dns = "192.168.10.3"
    # the site's own servers run Ubuntu 16.04 (OLD_LINUX_SERVER), for benign users and attackers alike
    web = "192.168.10.50"  # intranet web server; victim of DoS, web attacks, Heartbleed
    files = "192.168.10.51"  # FTP and SSH server; victim of brute force
    attacker = "203.0.113.66"
    c2 = "203.0.113.80"

    def __init__(self, rng: random.Random) -> None:
        self.clients = [f"192.168.10.{i}" for i in range(100, 200)]
        self.client_stack = {c: rng.choice(CLIENT_STACKS) for c in self.clients}
        self.remote = [f"198.51.100.{i}" for i in range(10, 60)] + [f"192.0.2.{i}" for i in range(10, 40)]
        self.remote_stack = {r: rng.choice(SERVER_STACKS) for r in self.remote}
        self.remote_rtt = {r: lognormal_int(rng, 35 * MS, 0.7, 4 * MS, 250 * MS) for r in self.remote}

    def client(self, rng: random.Random) -> tuple[str, Stack]:
        """A random internal client and its stack."""
        c = rng.choice(self.clients)
        return c, self.client_stack[c]

    def remote_server(self, rng: random.Random) -> tuple[str, Stack, int]:
        """A random remote server, its stack and its round-trip time (µs)."""
        r = rng.choice(self.remote)
        return r, self.remote_stack[r], self.remote_rtt[r]


def lognormal_int(rng: random.Random, median: float, sigma: float, lo: float, hi: float) -> int:
    """A log-normal draw with the given median, clipped to [lo, hi], as an int."""
    return int(min(hi, max(lo, median * rng.lognormvariate(0.0, sigma))))


def lan_rtt(rng: random.Random) -> int:
    """Round-trip time inside the site (µs)."""
    return lognormal_int(rng, 400, 0.5, 80, 5 * MS)


class Capture:
    """The frames of one simulated capture and the label of each conversation.

    Parameters
    ----------
    end_us : int
        Packets stamped after this time are not captured (the capture stops).
    """

    def __init__(self, end_us: int) -> None:
        self.end_us = end_us
        self.packets: list[tuple[int, bytes]] = []
        self.labels: dict[tuple, str] = {}
        self._next_port: dict[str, int] = {}
        self._addr: dict[str, bytes] = {}

    def ephemeral_port(self, ip: str, rng: random.Random) -> int:
        """The next client port of ``ip`` (sequential from a random start, as most stacks do)."""
        p = self._next_port.get(ip)
        if p is None:
            p = rng.randrange(32768, 60000)
        p = 32768 if p >= 60999 else p + 1
        self._next_port[ip] = p
        return p

    def label(self, proto: int, a: str, ap: int, b: str, bp: int, label: str) -> None:
        """Label every flow of a conversation (either direction)."""
        self.labels[conversation(proto, a, ap, b, bp)] = label

    def _a(self, ip: str) -> bytes:
        raw = self._addr.get(ip)
        if raw is None:
            raw = self._addr[ip] = bytes(int(x) for x in ip.split("."))
        return raw

    def tcp(self, t: int, src: str, sp: int, dst: str, dp: int, flags: int, payload: int = 0,
            win: int = 502, opts: int = 0, ttl: int = 64, seq: int = 0, ack: int = 0) -> None:
        """Append one TCP segment with ``payload`` zero bytes and ``opts`` option bytes."""
        if t > self.end_us:
            return
        l4 = (_TCP.pack(sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, (5 + opts // 4) << 4, flags, win, 0, 0)
              + _NOPS[:opts] + _PAD[:payload])
        self._ip(t, src, dst, 6, ttl, l4)

    def udp(self, t: int, src: str, sp: int, dst: str, dp: int, payload: int, ttl: int = 64) -> None:
        """Append one UDP datagram with ``payload`` zero bytes."""
        if t > self.end_us:
            return
        self._ip(t, src, dst, 17, ttl, _UDP.pack(sp, dp, 8 + payload, 0) + _PAD[:payload])

    def _ip(self, t: int, src: str, dst: str, proto: int, ttl: int, l4: bytes) -> None:
        frame = _ETH + _IP.pack(0x45, 0, 20 + len(l4), 0, 0x4000, ttl, proto, 0, self._a(src), self._a(dst)) + l4
        if len(frame) < 60:
            frame += _PAD[:60 - len(frame)]
        self.packets.append((t, frame))


def conversation(proto: int, a: str, ap: int, b: str, bp: int) -> tuple:
    """Direction-free key of a conversation."""
    return (proto, *sorted(((a, ap), (b, bp))))


class Tcp:
    """One TCP connection, played forward in time.

    Parameters
    ----------
    cap : Capture
    rng : random.Random
    t : int
        Time of the SYN (µs).
    client, server : str
        Addresses.
    dport : int
        Server port.
    label : str
        Ground-truth label of the connection.
    cstack, sstack : Stack
        Fingerprints of the two ends.
    rtt : int
        Round-trip time (µs) between the far end and the capture point.
    server_far : bool
        True when the server is the far end (a remote site), False when the
        client is (an attacker or a remote user reaching an internal server).
    sport : int, optional
        Client port; the client's next ephemeral port by default.
    """

    def __init__(self, cap: Capture, rng: random.Random, t: int, client: str, server: str, dport: int,
                 label: str, cstack: Stack, sstack: Stack, rtt: int, server_far: bool = True,
                 sport: int | None = None) -> None:
        self.cap, self.rng, self.t = cap, rng, int(t)
        self.c, self.s = client, server
        self.sport = cap.ephemeral_port(client, rng) if sport is None else sport
        self.dport = dport
        self.cst, self.sst = cstack, sstack
        self.rtt = max(1, int(rtt))
        self.server_far = server_far
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]  # client, server
        self.cwin = cstack.win
        cap.label(6, client, self.sport, server, dport, label)

    # -- timing -----------------------------------------------------------------------------
    def reply_delay(self, by_client: bool) -> int:
        """Time from a packet to the other end's answer, as the capture point sees it."""
        far = (not self.server_far) if by_client else self.server_far
        base = self.rtt if far else 20
        return base + int(self.rng.expovariate(1 / 40))

    def wait(self, us: float) -> Tcp:
        """Let time pass on this connection."""
        self.t += max(0, int(us))
        return self

    # -- packets ----------------------------------------------------------------------------
    def pkt(self, t: int, from_client: bool, flags: int, payload: int = 0, win: int | None = None,
            syn: bool = False) -> None:
        """One segment from either end."""
        st = self.cst if from_client else self.sst
        i = 0 if from_client else 1
        if win is None:
            win = st.syn_win if syn else (self.cwin if from_client else st.win)
        if from_client:
            self.cap.tcp(t, self.c, self.sport, self.s, self.dport, flags, payload, win,
                         st.syn_opts if syn else st.opts, st.ttl, self.seq[0], self.seq[1] if flags & ACK else 0)
        else:
            self.cap.tcp(t, self.s, self.dport, self.c, self.sport, flags, payload, win,
                         st.syn_opts if syn else st.opts, st.ttl, self.seq[1], self.seq[0])
        self.seq[i] += payload + (1 if flags & (SYN | FIN) else 0)

    def open(self, answered: bool = True) -> Tcp:
        """Three-way handshake (or a SYN nobody answers, retried like a real stack)."""
        self.pkt(self.t, True, SYN, syn=True)
        if not answered:
            for backoff in (1, 2):
                self.t += backoff * S
                self.pkt(self.t, True, SYN, syn=True)
            return self
        self.t += self.reply_delay(False)
        self.pkt(self.t, False, SYN | ACK, syn=True)
        self.t += self.reply_delay(True)
        self.pkt(self.t, True, ACK)
        return self

    def send(self, from_client: bool, nbytes: int, rate_bps: float = 50e6, ack: bool = True) -> Tcp:
        """``nbytes`` from one end in MSS segments; the other end ACKs every second one.

        Segments leave ``mss * 8 / rate_bps`` apart (with jitter).  With
        ``ack=False`` the last segment is left for the answer to acknowledge.
        """
        mss = (self.cst if from_client else self.sst).mss
        gap = mss * 8 / rate_bps * S
        delay = self.reply_delay(not from_client)
        t, last, k = self.t, self.t, 0
        rnd = self.rng.random
        while nbytes > 0:
            seg = min(nbytes, mss)
            nbytes -= seg
            self.pkt(t, from_client, ACK | (PSH if nbytes == 0 else 0), seg)
            k += 1
            last = t
            if (k % 2 == 0 and nbytes > 0) or (nbytes == 0 and ack):
                a = t + delay
                self.pkt(a, not from_client, ACK)
                last = max(last, a)
            t += 1 + int(gap * (0.5 + rnd()))
        self.t = last + 1
        return self

    def exchange(self, request: int, response: int, think_us: int = 0, rate_bps: float = 50e6) -> Tcp:
        """Client request, server answer after ``think_us`` of processing, client ACK."""
        self.send(True, request, ack=response <= 0)
        if response > 0:
            self.t += self.reply_delay(False) + think_us
            self.send(False, response, rate_bps=rate_bps)
        return self

    def close(self, by_client: bool = True) -> Tcp:
        """FIN, FIN, ACK."""
        self.pkt(self.t, by_client, FIN | ACK)
        self.t += self.reply_delay(not by_client)
        self.pkt(self.t, not by_client, FIN | ACK)
        self.t += self.reply_delay(by_client)
        self.pkt(self.t, by_client, ACK)
        return self

    def reset(self, by_client: bool = True) -> Tcp:
        """An abortive close: one RST|ACK."""
        self.pkt(self.t, by_client, RST | ACK, win=0)
        return self


def udp_exchange(cap: Capture, rng: random.Random, t: int, client: str, server: str, dport: int,
                 label: str, request: int, response: int | None, rtt: int, ttl: int = 128,
                 sport: int | None = None) -> int:
    """A UDP request and (unless ``response`` is None) its answer; returns the answer's time."""
    sp = cap.ephemeral_port(client, rng) if sport is None else sport
    cap.label(17, client, sp, server, dport, label)
    cap.udp(t, client, sp, server, dport, request, ttl)
    if response is None:
        return t
    t += rtt + int(rng.expovariate(1 / 200))
    cap.udp(t, server, dport, client, sp, response, 64)
    return t
