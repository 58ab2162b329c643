"""Fan-out of scored batches to live subscribers (the WebSocket clients).

The pipeline publishes one :class:`Update` per scored batch; every subscriber
has its own bounded mailbox.  Publishing never waits: when a subscriber's
mailbox is full (it stopped reading, or reads slowly) its oldest update is
dropped and counted, so a stuck client never stalls the pipeline or the
other clients.  Updates are shared, read-only, between subscribers.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Hub", "Subscriber", "Update"]


class Update:
    """What one scored batch contributes to the live view.

    ``verdicts`` holds the newest verdict dicts of the batch (at most the
    frame limit), ``alerts`` the batch's newest alert summaries (oldest first,
    at most the frame limit); ``n_flows`` and ``n_alerts`` count all of them.
    Given a ``build`` callable instead of lists, the dicts are made on first
    use and shared by every subscriber: a frame only ever needs the newest
    few updates' verdicts, so most updates are never turned into dicts.
    """

    __slots__ = ("_alerts", "_build", "_verdicts", "n_alerts", "n_flows", "t")

    def __init__(self, t: float, n_flows: int, n_alerts: int, verdicts: list[dict[str, Any]] | None = None,
                 alerts: list[dict[str, Any]] | None = None,
                 build: Callable[[], tuple[list[dict[str, Any]], list[dict[str, Any]]]] | None = None) -> None:
        self.t, self.n_flows, self.n_alerts = t, n_flows, n_alerts
        self._verdicts, self._alerts, self._build = verdicts, alerts, build

    def _materialize(self) -> None:
        if self._build is not None:
            self._verdicts, self._alerts = self._build()
            self._build = None

    @property
    def verdicts(self) -> list[dict[str, Any]]:
        self._materialize()
        return self._verdicts or []

    @property
    def alerts(self) -> list[dict[str, Any]]:
        self._materialize()
        return self._alerts or []


@dataclass(eq=False)
class Subscriber:
    """One client's mailbox: at most ``maxsize`` updates; what overflows is counted."""

    maxsize: int = 100
    id: int = 0
    dropped: int = 0          # verdict records this subscriber lost by being slow
    dropped_alerts: int = 0   # alerts it lost (fetch them with GET /api/v1/alerts?after_id=)
    _items: deque = field(default_factory=deque)
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, update: Update) -> int:
        """Add an update without waiting; returns the number of verdicts dropped to make room."""
        lost = 0
        while len(self._items) >= self.maxsize:
            old = self._items.popleft()
            self.dropped += old.n_flows
            self.dropped_alerts += old.n_alerts
            lost += old.n_flows
        self._items.append(update)
        self._event.set()
        return lost

    def drain(self) -> list[Update]:
        items = list(self._items)
        self._items.clear()
        self._event.clear()
        return items

    def pending(self) -> int:
        return len(self._items)

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until there is something to send; False on timeout."""
        if self._items:
            return True
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


class Hub:
    """Subscribers and the counters of what they lost. Used from the event loop only."""

    def __init__(self, mailbox: int = 100) -> None:
        self.mailbox = mailbox
        self._subs: dict[int, Subscriber] = {}
        self._ids = itertools.count(1)
        self.dropped = 0          # verdicts lost by slow subscribers, over all subscribers ever
        self.published = 0

    def subscribe(self) -> Subscriber:
        sub = Subscriber(maxsize=self.mailbox, id=next(self._ids))
        self._subs[sub.id] = sub
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subs.pop(sub.id, None)

    def __len__(self) -> int:
        return len(self._subs)

    def publish(self, update: Update) -> None:
        """Hand an update to every subscriber; never waits."""
        self.published += 1
        for sub in list(self._subs.values()):
            self.dropped += sub.offer(update)
