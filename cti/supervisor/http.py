"""The supervisor's pages: the wallboard (``/wallboard``), for a TV across the
room, and the agent board (``/supervisor``). Their data comes over the ACD's
websockets (acd/http.py: ``/api/v1/wallboard/ws``, ``/api/v1/acd/ws``); the
board's actions are the ACD's audited agent routes."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from cti.web.routes import SUPERVISOR, Routes

STATIC = Path(__file__).with_name("static")


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.page("/wallboard", STATIC / "wallboard.html", SUPERVISOR)
    r.page("/supervisor", STATIC / "supervisor.html", SUPERVISOR)
