"""The aiohttp application every route is added to.

The composition root (cti/server.py) makes one with :func:`new_app`, lets
each feature's ``http.py`` add its routes (each with its access rule,
cti/web/routes.py), and serves each feature's pages from its own ``static/``
folder under ``/static/<name>/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from aiohttp import web

from cti.web import access
from cti.web.errors import error_middleware
from cti.web.routes import Routes
from cti.web.streams import websocket_registry

App = web.Application
STATIC_ROOT = "/static"


def new_app(static: dict[str, Path], trusted_origins: Iterable[str] = (),
            audit: access.AuditLog | None = None) -> App:
    """An application with the JSON error middleware, the access checks,
    websockets closed on shutdown, and ``static``: name -> folder, served at
    /static/<name>/ to anyone (pages hold no data; their API calls do).
    ``audit``: where the audited routes' actions are written."""
    app = web.Application(middlewares=[error_middleware, access.access_middleware])
    access.install(app, trusted_origins, audit)
    websocket_registry(app)
    routes = Routes(app)
    for name, folder in static.items():
        routes.static(f"{STATIC_ROOT}/{name}/", folder)
    return app
