"""Who may use each route, checked before any handler runs.

A feature adds its routes through :class:`cti.web.routes.Routes`, each with
its :class:`~cti.web.routes.Rule`. :func:`access_middleware` finds the
matched route's rule, checks the session (401 ``not-signed-in``), the role
(403 ``forbidden``, naming the role needed) and the origin, and leaves the
user on the request for the handler (``cti.web.routes.user``,
``desk_agent``). A route added without a rule is refused to everyone (403
``no-access-rule``) and logged: forgetting to declare one never opens a
route. Routes declared with an audit action are written to the audit log
(who, to whom, what, when) once they succeed.

Cross-site requests: a browser sends the session cookie by itself, so a
state-changing request (POST, PUT, PATCH, DELETE) or a websocket that comes
with the cookie must say it comes from this server (its ``Origin``, or else
its ``Referer``, naming this host or a trusted origin); one that names
another origin is refused whatever its credentials. A bearer token is never
sent by a browser on its own, so it needs no such proof.
"""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

import structlog
from aiohttp import hdrs, web

from cti.errors import DomainError
from cti.roles import Identity
from cti.web.routes import AUDITED, RULES, USER, Handler, route_key, rule_of
from cti.web.sessions import SESSIONS, token_of

log = structlog.get_logger("cti.web.access")

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Forbidden(DomainError):
    status = 403
    error_id = "forbidden"


class ForeignOrigin(DomainError):
    status = 403
    error_id = "foreign-origin"


class NoAccessRule(DomainError):
    status = 403
    error_id = "no-access-rule"


# ---------------------------------------------------------------- the checks
def _names_this_server(request: web.Request, value: str, trusted: frozenset[str]) -> bool:
    parts = urlsplit(value)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return parts.netloc.lower() == request.host.lower() or origin in trusted


def check_origin(request: web.Request, *, cookie: bool, trusted: frozenset[str]) -> None:
    """Only what can change state is checked: a page opened from a link on
    another site is a plain GET and fine."""
    websocket = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
    if request.method not in UNSAFE and not websocket:
        return
    origin = request.headers.get(hdrs.ORIGIN)
    referer = request.headers.get(hdrs.REFERER)
    claimed = origin if origin is not None else referer
    if claimed is not None:
        if claimed == "null" or not _names_this_server(request, claimed, trusted):
            raise ForeignOrigin(f"refused: the request comes from {claimed}, not this server",
                                details={"origin": claimed})
    elif cookie:
        raise ForeignOrigin("refused: a request signed in by cookie must carry its Origin",
                            details={"origin": None})


TRUSTED: web.AppKey[frozenset[str]] = web.AppKey("trusted_origins")

_REFUSED_PAGE = """<!doctype html><meta charset="utf-8"><title>{title}</title>
<style>body{{font:18px system-ui,sans-serif;margin:4em auto;max-width:36em}}</style>
<h1>{title}</h1><p>{text}</p><p><a href="/sign-in?next={next}">登录 Sign in</a></p>
{script}"""


def _page_refusal(request: web.Request, exc: DomainError) -> web.Response:
    """The page that says so, and (401) sends the browser to sign in and back.
    The path comes from whoever made the link: it is only ever quoted into
    the URL and escaped into the script (no HTML or script of theirs runs)."""
    nxt = urllib.parse.quote(request.rel_url.path_qs, safe="")
    if exc.status == 401:
        title = "请先登录 · Please sign in"
        text = "这个页面需要登录。This page needs you to sign in."
        target = json.dumps(f"/sign-in?next={nxt}").replace("<", "\\u003c")
        script = f"<script>location.replace({target})</script>"
    else:
        title, text, script = "无权访问 · Not allowed", html.escape(str(exc)), ""
    return web.Response(status=exc.status, content_type="text/html", charset="utf-8",
                        text=_REFUSED_PAGE.format(title=title, text=text, next=nxt,
                                                  script=script))


class AuditLog(Protocol):
    async def audit(self, actor: str, action: str, target: str,
                    details: dict[str, Any] | None = None) -> None: ...


AUDIT: web.AppKey[AuditLog | None] = web.AppKey("audit_log")
TARGETS = ("code", "login", "call_id", "name")  # whom or what, from the path
SECRET_FIELDS = frozenset({"password", "secret", "token"})


async def _audit(request: web.Request, who: Identity, action: str, status: int) -> None:
    log_ = request.app[AUDIT]
    if log_ is None:
        return
    target = next((request.match_info[k] for k in TARGETS if k in request.match_info), "")
    details: dict[str, Any] = {"role": who.role.value, "status": status,
                               "path": request.path}
    if request.can_read_body or request.body_exists:
        try:
            sent = json.loads(await request.text() or "null")
        except (ValueError, UnicodeDecodeError):
            sent = None
        if isinstance(sent, dict):
            details["request"] = {k: v for k, v in sent.items() if k not in SECRET_FIELDS}
            if not target:  # made by this request: named in the body
                target = str(next((sent[k] for k in TARGETS if k in sent), ""))[:80]
    try:
        await log_.audit(who.login, action, target, details)
    except Exception:  # the action is done; a lost audit line is said loudly
        log.exception("audit_write_failed", actor=who.login, action=action, target=target)


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    app = request.app
    rule = rule_of(app, request)
    if rule is None:
        log.error("route_without_access_rule", method=request.method, path=request.path)
        raise NoAccessRule(f"{request.method} {request.path} declares no access rule")
    token, by_cookie = token_of(request)
    check_origin(request, cookie=by_cookie, trusted=app[TRUSTED])
    if rule.role is None:
        return await handler(request)
    try:
        who = await app[SESSIONS].identify(token)
        if not who.role.allows(rule.role):
            raise Forbidden(f"needs the {rule.role.value} role; you are {who.role.value}",
                            details={"needed": rule.role.value, "role": who.role.value})
        if rule.desk and who.agent is None:
            raise Forbidden("needs an agent number: this user takes no calls",
                            details={"needed": "agent number", "role": who.role.value})
    except DomainError as exc:
        if rule.page:
            return _page_refusal(request, exc)
        raise
    request[USER] = who
    response = await handler(request)
    action = app[AUDITED].get(route_key(request) or ("", ""))
    if action is not None and response.status < 400:
        await _audit(request, who, action, response.status)
    return response


def install(app: web.Application, trusted_origins: Iterable[str] = (),
            audit: AuditLog | None = None) -> None:
    app[RULES] = {}
    app[AUDITED] = {}
    app[AUDIT] = audit
    app[TRUSTED] = frozenset(o.rstrip("/").lower() for o in trusted_origins)
