"""API-token checks (REST Bearer header, WebSocket ``?token=``) and keeping the token out of logs."""

from __future__ import annotations

import hmac
import logging
import re

from fastapi import HTTPException, Request, WebSocket, status

__all__ = ["RedactTokens", "require_token", "token_ok"]

_BEARER = re.compile(r"^\s*Bearer\s+(\S+)\s*$", re.IGNORECASE)
_QUERY_TOKEN = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)


def token_ok(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; everything passes when no token is configured."""
    if not expected:
        return True
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def require_token(request: Request) -> None:
    """Dependency of every REST route but /healthz: ``Authorization: Bearer TOKEN``."""
    expected = request.app.state.live.settings.token
    if not expected:
        return
    m = _BEARER.match(request.headers.get("authorization", ""))
    if not token_ok(expected, m.group(1) if m else None):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong API token: send "
                            "'Authorization: Bearer TOKEN'", headers={"WWW-Authenticate": "Bearer"})


def websocket_token_ok(ws: WebSocket) -> bool:
    return token_ok(ws.app.state.live.settings.token, ws.query_params.get("token"))


class RedactTokens(logging.Filter):
    """Replace ``token=…`` in log records (uvicorn logs request paths with their query)."""

    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = _QUERY_TOKEN.sub(r"\1***", msg)
        if self.secret:
            clean = clean.replace(self.secret, "***")
        if clean != msg:
            record.msg, record.args = clean, ()
        return True
