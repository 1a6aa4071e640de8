"""The aiohttp application every route is added to.

The composition root (cti/server.py) makes one with :func:`new_app`, lets
each feature's ``http.py`` add its routes, and serves each feature's pages
from its own ``static/`` folder under ``/static/<name>/``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from cti.web.errors import error_middleware
from cti.web.streams import websocket_registry

App = web.Application
STATIC_ROOT = "/static"


def new_app(static: dict[str, Path]) -> App:
    """An application with the JSON error middleware, websockets closed on
    shutdown, and ``static``: name -> folder, served at /static/<name>/."""
    app = web.Application(middlewares=[error_middleware])
    websocket_registry(app)
    for name, folder in static.items():
        app.router.add_static(f"{STATIC_ROOT}/{name}/", folder, show_index=False)
    return app

