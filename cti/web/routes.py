"""Routes with their access rule: every route is added through :class:`Routes`
with the :class:`Rule` that says who may use it (``PUBLIC``, ``SIGNED_IN``,
``DESK``, ``SUPERVISOR``, ``ADMIN``), declared beside the route in the
feature's http.py. cti/web/access.py enforces them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from cti.roles import Identity, Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Rule:
    """``role``: the least role that may use the route (None: anyone, no
    session). ``desk``: the user must take calls (have an agent number): the
    console. ``page``: an HTML page, so refusals are pages too."""

    role: Role | None
    desk: bool = False
    page: bool = False

    def as_page(self) -> Rule:
        return Rule(self.role, self.desk, True)

    def describe(self) -> str:
        if self.role is None:
            return "public"
        return f"{self.role.value}{' at a desk' if self.desk else ''}"


PUBLIC = Rule(None)
SIGNED_IN = Rule(Role.AGENT)  # any signed-in user; the handler scopes what an agent sees
DESK = Rule(Role.AGENT, desk=True)  # the signed-in user's own calls and ACD session
SUPERVISOR = Rule(Role.SUPERVISOR)
ADMIN = Rule(Role.ADMIN)

RULES: web.AppKey[dict[tuple[str, str], Rule]] = web.AppKey("access_rules")
AUDITED: web.AppKey[dict[tuple[str, str], str]] = web.AppKey("audited_routes")
USER: web.RequestKey[Identity] = web.RequestKey("user", Identity)


def _key(resource: str, method: str) -> tuple[str, str]:
    return resource, "GET" if method == "HEAD" else method


class Routes:
    """``app.router`` with a rule beside every route."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.rules = app[RULES]

    def add(self, method: str, path: str, handler: Handler, rule: Rule,
            audit: str | None = None) -> AbstractRoute:
        """``audit``: the action's name in the audit log (who did it, to whom:
        the path's ``{code}``, ``{login}`` or ``{call_id}``, with the body),
        written once the handler has succeeded."""
        route = self.app.router.add_route(method, path, handler)
        key = _key(route.resource.canonical if route.resource else path, method)
        self.rules[key] = rule
        if audit is not None:
            self.app[AUDITED][key] = audit
        return route

    def get(self, path: str, handler: Handler, rule: Rule) -> AbstractRoute:
        return self.add("GET", path, handler, rule)

    def post(self, path: str, handler: Handler, rule: Rule,
             audit: str | None = None) -> AbstractRoute:
        return self.add("POST", path, handler, rule, audit)

    def patch(self, path: str, handler: Handler, rule: Rule,
              audit: str | None = None) -> AbstractRoute:
        return self.add("PATCH", path, handler, rule, audit)

    def delete(self, path: str, handler: Handler, rule: Rule,
               audit: str | None = None) -> AbstractRoute:
        return self.add("DELETE", path, handler, rule, audit)

    def page(self, path: str, file: Path, rule: Rule) -> AbstractRoute:
        """An HTML page: the file itself holds no data, its API calls do."""
        async def handler(request: web.Request) -> web.FileResponse:
            return web.FileResponse(file, headers={"Cache-Control": "no-cache"})
        return self.get(path, handler, rule.as_page())

    def static(self, prefix: str, folder: Path) -> None:
        resource = self.app.router.add_static(prefix, folder, show_index=False)
        self.rules[_key(resource.canonical, "GET")] = PUBLIC


def route_key(request: web.Request) -> tuple[str, str] | None:
    resource = request.match_info.route.resource
    return None if resource is None else _key(resource.canonical, request.method)


def rule_of(app: web.Application, request: web.Request) -> Rule | None:
    key = route_key(request)
    if key is None:
        return PUBLIC  # aiohttp's own 404 / 405
    return app[RULES].get(key)


def declared(app: web.Application) -> Iterable[tuple[str, str, Rule | None]]:
    """Every (method, path, rule) the router holds; None: none declared."""
    for route in app.router.routes():
        if route.resource is None or route.method == "HEAD":
            continue
        path = route.resource.canonical
        yield route.method, path, app[RULES].get(_key(path, route.method))


def user(request: web.Request) -> Identity:
    """The signed-in user (set by the middleware for every non-public route)."""
    return request[USER]


def desk_agent(request: web.Request) -> str:
    """The signed-in user's agent number (a ``DESK`` route's user has one)."""
    agent = user(request).agent
    assert agent is not None, "a DESK route always has an agent"
    return agent


