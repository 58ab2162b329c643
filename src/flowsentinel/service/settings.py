"""One typed settings object, read from ``FLOWSENTINEL_*`` environment variables (and CLI overrides)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LOOPBACK_HOSTS", "STATIC_DIR", "Settings"]

#: Hosts that only this machine can reach; binding anything else needs an API token.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: The dashboard's static files (built by the dashboard, served at /).
STATIC_DIR = Path(__file__).resolve().parent / "static"


class Settings(BaseSettings):
    """Everything ``flowsentinel serve`` can be told; env prefix ``FLOWSENTINEL_``.

    ``FLOWSENTINEL_API_TOKEN`` is a secret: it is never logged or echoed.
    """

    model_config = SettingsConfigDict(env_prefix="FLOWSENTINEL_", extra="ignore")

    bundle: Path = Field(Path("bundles/demo"), description="model bundle folder")
    source: str = Field("simulate", description="flow source spec (docs/live.md)")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    db: Path = Field(Path("out/live.db"), description="SQLite alert store")
    api_token: SecretStr | None = Field(None, description="required on REST and WebSocket when set")
    cors_origins: str = Field("", description="comma-separated origins allowed by CORS; empty: CORS closed")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_score_rows: int = Field(10_000, ge=1)
    batch_max: int = Field(4096, ge=1, description="a micro-batch closes at this many flows …")
    batch_ms: float = Field(20.0, gt=0, description="… or when its first flow waited this many ms")
    queue_capacity: int = Field(50_000, ge=1, description="flows the ingest queue holds at most")
    ws_max_fps: float = Field(10.0, gt=0, le=100, description="WebSocket frames per second per client, at most")
    ws_mailbox: int = Field(100, ge=1, description="updates a WebSocket client may fall behind before drops")
    verdict_window: int = Field(100_000, ge=0, description="newest verdicts kept in the store")
    alert_retention_days: float = Field(30.0, gt=0)
    max_alerts: int = Field(1_000_000, ge=1)
    db_synchronous: str = Field("NORMAL", description="SQLite synchronous: NORMAL (process crash) or FULL (power)")
    closed_wait_s: float | None = Field(
        2.0, ge=0, description="pcap:/iface: sources write a closed TCP connection (FIN both ways and the last ACK, "
        "or RST) once it has been quiet this many seconds; 'off': the dataset meter's rule (at the next SYN on "
        "its 5-tuple or 120 s after its first packet)")
    bpf: str | None = Field(None, description="BPF filter (pcap-filter(7)) for pcap:/iface: sources, "
                            "e.g. 'not port 8000' to leave out the dashboard's own traffic")
    static_dir: Path | None = STATIC_DIR

    @field_validator("db_synchronous")
    @classmethod
    def _sync(cls, v: str) -> str:
        if v.upper() not in ("NORMAL", "FULL"):
            raise ValueError("must be NORMAL or FULL")
        return v.upper()

    @field_validator("bpf", mode="before")
    @classmethod
    def _no_filter(cls, v):
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("closed_wait_s", mode="before")
    @classmethod
    def _off(cls, v):
        if isinstance(v, str) and v.strip().lower() in ("off", "none", ""):
            return None
        return v

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def token(self) -> str | None:
        value = self.api_token.get_secret_value() if self.api_token is not None else None
        return value or None

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    def check_security(self) -> None:
        """Refuse a non-loopback bind without a token (raises ``ValueError`` saying what to do)."""
        if not self.loopback and not self.token:
            raise ValueError(
                f"--host {self.host} is reachable from other machines; set an API token in "
                "FLOWSENTINEL_API_TOKEN (clients send it as 'Authorization: Bearer TOKEN', the dashboard "
                "reads it from the page URL's #token=TOKEN) or bind 127.0.0.1")
