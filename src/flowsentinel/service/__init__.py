"""Service: the FastAPI app (REST, WebSocket, Prometheus) over the live pipeline, and the dashboard's static files.

``create_app(settings)`` builds the app; ``flowsentinel serve`` runs it with
uvicorn (:func:`flowsentinel.service.server.serve`).  The JSON shapes are
those of ``docs/live.md``.
"""

from flowsentinel.service.app import create_app
from flowsentinel.service.settings import Settings

__all__ = ["Settings", "create_app"]
