"""WebSocket ``/ws/live``: a hello frame, then batched updates at most ``ws_max_fps`` per second.

Each client has its own mailbox in the hub (bounded).  A sender task per
client drains it at most ``ws_max_fps`` times a second into one update frame:
the newest verdicts (≤ 100), the alerts since the last frame (≤ 500, the
newest kept), what this client lost since the last frame (``dropped``) and
the Stats object.  A client that does not read only blocks its own sender;
its mailbox overflows and the loss is counted (``dropped`` here, ``ws_dropped``
in Stats), the pipeline and other clients go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from flowsentinel.service.auth import websocket_token_ok
from flowsentinel.stream.hub import Subscriber, Update
from flowsentinel.stream.pipeline import FRAME_ALERTS, FRAME_VERDICTS

__all__ = ["build_frame", "router"]

log = logging.getLogger(__name__)

router = APIRouter()
_IDLE_FRAME_S = 1.0  # a frame (with fresh Stats) at least this often, even when nothing was scored


def build_frame(updates: list[Update], sub: Subscriber, last_dropped: tuple[int, int],
                stats: dict[str, Any]) -> tuple[dict[str, Any], tuple[int, int]]:
    """One ``update`` frame from the updates a client has pending."""
    # newest first, and only as far back as the limits reach: older updates are never made into dicts
    verdicts: list[dict] = []
    for u in reversed(updates):
        if len(verdicts) >= FRAME_VERDICTS:
            break
        if u.n_flows:
            verdicts[:0] = u.verdicts[-(FRAME_VERDICTS - len(verdicts)):]
    alerts: list[dict] = []
    for u in reversed(updates):
        if len(alerts) >= FRAME_ALERTS:
            break
        if u.n_alerts:
            alerts[:0] = u.alerts[-(FRAME_ALERTS - len(alerts)):]
    # alerts beyond this frame's limit (or beyond what a batch carries) are lost to this client
    sub.dropped_alerts += sum(u.n_alerts for u in updates) - len(alerts)
    lost_v, lost_a = sub.dropped - last_dropped[0], sub.dropped_alerts - last_dropped[1]
    frame = {"type": "update", "t": time.time(), "verdicts": verdicts, "alerts": alerts,
             "dropped": lost_v + lost_a, "dropped_alerts": lost_a, "stats": stats}
    return frame, (sub.dropped, sub.dropped_alerts)


async def _sender(ws: WebSocket, sub: Subscriber) -> None:
    live = ws.app.state.live
    interval = 1.0 / live.settings.ws_max_fps
    last_sent = 0.0
    counted = (0, 0)
    while True:
        await sub.wait(timeout=_IDLE_FRAME_S)
        wait = last_sent + interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame, counted = build_frame(sub.drain(), sub, counted, live.stats())
        # orjson: ~5x the stdlib encoder on these frames (hundreds of alert dicts, 10 a second, on the
        # event loop); a non-finite float, should one slip through, becomes null, never NaN
        text = orjson.dumps(frame).decode()
        last_sent = time.monotonic()
        await ws.send_text(text)


async def _receiver(ws: WebSocket) -> None:
    """Nothing is expected from the client; reading tells us when it goes away."""
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return


@router.websocket("/ws/live")
async def live_feed(ws: WebSocket) -> None:
    if not websocket_token_ok(ws):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="missing or wrong API token")
        return
    live = ws.app.state.live
    await ws.accept()
    sub = live.hub.subscribe()
    tasks: list[asyncio.Task] = []
    try:
        hello = await asyncio.to_thread(live.hello)
        await ws.send_text(orjson.dumps(hello).decode())
        tasks = [asyncio.create_task(_sender(ws, sub)), asyncio.create_task(_receiver(ws))]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if not t.cancelled() and t.exception() is not None and not isinstance(
                    t.exception(), (WebSocketDisconnect, ConnectionError, RuntimeError)):
                log.warning("WebSocket client %d: %r", sub.id, t.exception())
    except (WebSocketDisconnect, ConnectionError):
        pass
    finally:
        live.hub.unsubscribe(sub)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        log.debug("WebSocket client %d gone (%d verdicts, %d alerts dropped)", sub.id, sub.dropped,
                  sub.dropped_alerts)
