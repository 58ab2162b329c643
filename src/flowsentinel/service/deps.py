"""Shared objects injected into the routes (``LiveDep``, ``StoreDep``, …) and the auth dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from flowsentinel.service.auth import require_token
from flowsentinel.service.state import LiveService
from flowsentinel.stream.store import AlertStore

__all__ = ["Authorized", "LiveDep", "StoreDep"]


def get_live(request: Request) -> LiveService:
    return request.app.state.live


def get_store(request: Request) -> AlertStore:
    return request.app.state.live.store


LiveDep = Annotated[LiveService, Depends(get_live)]
StoreDep = Annotated[AlertStore, Depends(get_store)]
#: Router-level dependency: the API token when one is configured.
Authorized = Depends(require_token)
