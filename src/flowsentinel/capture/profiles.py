"""Semantics profiles of the flow meter: every release-era quirk named in one place.

The improved CICIDS-2017 release (Engelen et al.) was produced by the fixed
CICFlowMeter of mid-2022.  That meter still has a few quirks, and a model that
learned from its rows expects live flows measured *with* them.  Each quirk is a
boolean field of :class:`SemanticsProfile`, described once here; the meter
(``meter.py``) and the feature code (``flow.py``) read the flag and never
special-case a profile by name.

Profiles
--------
``cicids2017`` (default)
    Reproduces the release: use it to score traffic with models trained on
    CICIDS-2017.
``corrected``
    The quirks fixed (first non-zero backward window, 1 s subflows, last active
    period closed, ...): for users who train on their own captures.

Both profiles go beyond the release in two ways that do not touch any value the
release could produce: IPv6 flows are metered, and ARP frames never produce
flows (the release's packet library misread them as IPv4 and wrote flows such
as ``8.6.0.1-8.0.6.4-0-0-0``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["PROFILES", "SemanticsProfile", "get_profile"]


@dataclass(frozen=True)
class SemanticsProfile:
    """How the meter cuts packets into flows and computes features.

    Times are in microseconds, like every time the meter writes.

    Attributes
    ----------
    name : str
        Profile name, written to logs and reports.
    flow_timeout_us : int
        A packet arriving *more than* this long after its flow's first packet
        closes the flow and starts a new one (release: 120 s).
    activity_timeout_us : int
        A gap of more than this between two packets of a flow ends an active
        period and counts as idle time (release: 5 s).
    bulk_gap_us : int
        Largest gap between payload packets of one bulk (release: 1 s); a bulk
        needs ``bulk_min_packets`` packets.
    bulk_min_packets : int
        Packets needed before a run of same-direction payload packets is a bulk.
    subflow_gap_us : int
        Gap that starts a new subflow when ``quirk_subflow_every_packet`` is off.
    quirk_subflow_every_packet : bool
        Release quirk (operator-precedence bug in ``detectUpdateSubflows``:
        ``ts - last / 1e6 > 1`` is always true): a new subflow starts at every
        packet, so each ``Subflow …`` value is that direction's total divided by
        the flow's packet count in both directions, rounded down.  Off: subflows
        are separated by gaps of more than ``subflow_gap_us``.
    quirk_bwd_init_win_last : bool
        Release quirk: ``Bwd Init Win Bytes`` is overwritten by every backward
        packet, so it holds the *last* backward window.  Off: the first
        non-zero backward window.
    quirk_last_active_open : bool
        Release quirk: the last active period of a flow is never closed, so it
        never reaches the ``Active …`` statistics.  Off: it is closed when the
        flow ends (zero-length periods are dropped either way).
    quirk_fwd_seg_min_zero : bool
        Release quirk: ``Fwd Seg Size Min`` starts at 0 and is only set by a
        forward *first* packet, so a flow whose first packet is backward (a
        piece of a connection cut by the flow timeout) reports 0.  Off: the
        minimum over forward packets.
    quirk_first_packet_uncounted : bool
        Release quirk: the first packet of a flow is not counted by
        ``Fwd Act Data Pkts`` nor by the per-direction FIN/RST counters
        (``Fwd/Bwd RST Flags``).  Off: every packet counts.
    quirk_direction_by_ip : bool
        Release quirk: a packet is forward when its *source IP* equals the
        flow's source IP, ports ignored, so both directions of a flow between
        two ports of one host (``127.0.0.1`` to itself) are forward.  Off: the
        source port must match too.
    quirk_flow_id_first_key : bool
        Release quirk: ``Flow ID`` is the key of the first flow ever seen on a
        5-tuple, so a later flow that took the other direction (new SYN,
        ICMP type change, non-TCP timeout) keeps the old orientation in
        ``Flow ID`` while ``Src IP``/``Dst IP`` follow the new one.  Off:
        ``Flow ID`` always reads ``Src IP-Dst IP-Src Port-Dst Port-Protocol``.
    quirk_other_protocols_as_zero : bool
        Release quirk: IP packets that are neither TCP, UDP nor ICMP (and
        non-first fragments) are metered as protocol 0 with ports 0.  Off: the
        IP protocol number is kept.
    """

    name: str
    flow_timeout_us: int = 120_000_000
    activity_timeout_us: int = 5_000_000
    bulk_gap_us: int = 1_000_000
    bulk_min_packets: int = 4
    subflow_gap_us: int = 1_000_000
    quirk_subflow_every_packet: bool = True
    quirk_bwd_init_win_last: bool = True
    quirk_last_active_open: bool = True
    quirk_fwd_seg_min_zero: bool = True
    quirk_first_packet_uncounted: bool = True
    quirk_direction_by_ip: bool = True
    quirk_flow_id_first_key: bool = True
    quirk_other_protocols_as_zero: bool = True

    def __post_init__(self) -> None:
        for field_name in ("flow_timeout_us", "activity_timeout_us", "bulk_gap_us", "subflow_gap_us"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"profile {self.name!r}: {field_name} must be a positive integer "
                                 f"number of microseconds, got {value!r}")
        if not isinstance(self.bulk_min_packets, int) or self.bulk_min_packets < 2:
            raise ValueError(f"profile {self.name!r}: bulk_min_packets must be an integer >= 2, "
                             f"got {self.bulk_min_packets!r}")

    def with_timeouts(self, flow_timeout_us: int | None = None,
                      activity_timeout_us: int | None = None) -> SemanticsProfile:
        """Return a copy with other timeouts (the dataset used 120 s and 5 s)."""
        return replace(
            self,
            flow_timeout_us=self.flow_timeout_us if flow_timeout_us is None else flow_timeout_us,
            activity_timeout_us=(self.activity_timeout_us if activity_timeout_us is None
                                 else activity_timeout_us),
        )


CICIDS2017 = SemanticsProfile(name="cicids2017")
CORRECTED = SemanticsProfile(
    name="corrected",
    quirk_subflow_every_packet=False,
    quirk_bwd_init_win_last=False,
    quirk_last_active_open=False,
    quirk_fwd_seg_min_zero=False,
    quirk_first_packet_uncounted=False,
    quirk_direction_by_ip=False,
    quirk_flow_id_first_key=False,
    quirk_other_protocols_as_zero=False,
)

#: Profiles by name; ``cicids2017`` is the default because the models learn from it.
PROFILES: dict[str, SemanticsProfile] = {p.name: p for p in (CICIDS2017, CORRECTED)}


def get_profile(profile: str | SemanticsProfile | None = None) -> SemanticsProfile:
    """Resolve a profile name (or pass a profile through).

    Parameters
    ----------
    profile : str or SemanticsProfile or None
        ``None`` means ``"cicids2017"``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    if profile is None:
        return CICIDS2017
    if isinstance(profile, SemanticsProfile):
        return profile
    try:
        return PROFILES[str(profile).strip().lower()]
    except KeyError:
        raise ValueError(f"unknown semantics profile {profile!r}; expected one of "
                         f"{', '.join(sorted(PROFILES))}") from None
