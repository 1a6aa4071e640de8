"""Hostile values at every route of the whole application: path ids in other
scripts' digits or beyond the database's integers, CR/LF where a value could
reach an AMI header, JSON nested 100,000 deep, dates at the ends of the
calendar, huge numbers in the query. Each is refused with a 4xx and a JSON
body naming what was wrong; none is a 500."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert

from crm_bridge.models import Agent
from cti.config.paths import PROJECT_ROOT
from cti.config.settings import load_settings
from cti.roles import Role
from cti.server import Core, build_core, web_app
from cti.web.routes import declared
from tests.support.users import FAST, bearer

PATH_VALUES = ["²", "１２", "99999999999999999999", "2147483648", "0", "-1", "1e3",
               "a\r\nAction: Command", "x" * 3000]
QUERY = {"from": "0001-01-01", "to": "9999-12-31", "limit": "99999999999999999999",
         "offset": "-1", "customer_id": "99999999999", "outlet_id": "2147483648",
         "status": "\x00", "q": "\r\n", "agent": "8001\r\nAction: Logoff", "number": "²"}
HOSTILE_BODY: dict[str, Any] = {
    "number": "138\r\n0013", "device": "PJSIP/1\r\nAction: Originate", "target": "1\r\n2",
    "agent": "8001\r\nX: y", "mode": "listen", "reason": "break", "to": "number",
    "customer_id": 10**30, "appliance_id": 2**31, "outlet_id": 2**63, "ticket_id": -5,
    "kind": "repair", "summary": "\x00", "name": "a" * 100_000, "queue": "tv-zh\r\n",
    "status": "running", "outcome": "answered", "answers": {"q1": 10**40},
    "start": "9999-12-31T23:59:59", "end": "0001-01-01T00:00:00", "date": "0000-00-00"}
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Core, TestClient[Any, Any]]]:
    settings = load_settings(ami_secret="not-used", database_url=db_url, var_dir=tmp_path)
    core = build_core(settings)
    core.sessions.hasher = FAST
    async with core.engine.begin() as conn:
        await conn.execute(insert(Agent).values(code="8001", name="林晓", active=True))
    c = await bearer(TestServer(web_app(core)), core.sessions, core.accounts, "root",
                     Role.ADMIN, agent="8001")
    try:
        yield core, c
    finally:
        await c.close()
        core.writer.close()
        await core.database.close()


def routes(core: Core) -> list[tuple[str, str]]:
    return [(m, p) for m, p, rule in declared(web_app(core))
            if not p.startswith("/static/") and rule is not None and not rule.page
            and not p.endswith("/ws")
            and p not in ("/api/v1/sign-out", "/healthz", "/api/v1/status")]


def problems(status: int, text: str) -> str | None:
    if status >= 500:
        return f"{status}: {text[:200]}"
    if status >= 400:
        try:
            error = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            return f"{status} without a JSON error: {text[:200]}"
        if not error.get("id"):
            return f"{status} without an error id: {text[:200]}"
    return None


async def test_hostile_path_ids_query_values_and_bodies_are_refused_never_a_500(
    client: tuple[Core, TestClient[Any, Any]]
) -> None:
    core, c = client
    found: list[str] = []
    tried = 0
    for method, path in routes(core):
        params = re.findall(r"\{(\w+)", path)
        for value in PATH_VALUES if params else [None]:
            concrete = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m, v=value: str(v), path)
            kw: dict[str, Any] = {"params": QUERY} if method == "GET" else {"json": HOSTILE_BODY}
            resp = await c.request(method, concrete, **kw)
            tried += 1
            bad = problems(resp.status, await resp.text())
            if bad:
                found.append(f"{method} {path} [{value!r}]: {bad}")
        if method in ("POST", "PATCH", "PUT"):
            concrete = re.sub(r"\{(\w+)(:[^}]*)?\}", "1", path)
            resp = await c.request(method, concrete, data=DEEP,
                                   headers={"Content-Type": "application/json"})
            tried += 1
            bad = problems(resp.status, await resp.text())
            if bad:
                found.append(f"{method} {path} [deep JSON]: {bad}")
    assert tried > 300
    assert found == [], "\n".join(found)


TARGETED: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None, str]] = [
    # CR/LF where the value would reach an AMI header
    ("POST", "/api/v1/console/acd/login", {"device": "PJSIP/1\r\nAction: Originate"}, None,
     "device"),
    ("POST", "/api/v1/agents/8001/login", {"device": "Local/1@x\nAction: Command"}, None,
     "device"),
    ("POST", "/api/v1/supervisor/spy", {"agent": "8001", "mode": "listen",
                                        "device": "PJSIP/9\r\nX: y"}, None, "device"),
    ("POST", "/api/v1/console/call/transfer", {"to": "number", "target": "1390000\r\n0001"},
     None, "target"),
    ("POST", "/api/v1/console/call/consult", {"to": "number", "target": "1\n2"}, None,
     "target"),
    # ids beyond the database's integers, in the query and in a body
    ("GET", "/api/v1/tickets", None, {"customer_id": "99999999999"}, "customer_id"),
    ("GET", "/api/v1/tickets", None, {"outlet_id": "2147483648"}, "outlet_id"),
    ("GET", "/api/v1/calls", None, {"limit": "99999999999999999999"}, "limit"),
    ("POST", "/api/v1/tickets", {"kind": "repair", "customer_id": 2**40, "summary": "x"},
     None, "customer_id"),
    ("PATCH", "/api/v1/tickets/1", {"appliance_id": 2**63}, None, "appliance_id"),
    # dates at the ends of the calendar
    ("GET", "/api/v1/reports/queues", None, {"from": "0001-01-01", "to": "9999-12-31"}, ""),
    ("GET", "/api/v1/reports/agents", None, {"from": "9999-12-31", "to": "9999-12-31"}, ""),
    ("GET", "/api/v1/reports/ivr", None, {"from": "0001-01-01", "to": "0001-01-01"}, ""),
    ("GET", "/api/v1/reports/satisfaction", None, {"from": "0001-01-01", "to": "9999-12-31"},
     ""),
    ("GET", "/api/v1/calls", None, {"from": "0001-01-01", "to": "9999-12-31"}, ""),
    ("GET", "/api/v1/audit", None, {"from": "9999-12-31"}, ""),
]


@pytest.mark.parametrize(("method", "path", "json_body", "query", "field"), TARGETED,
                         ids=[f"{m} {p} {f or 'dates'}" for m, p, _, _, f in TARGETED])
async def test_each_hostile_class_is_a_4xx_naming_the_field(
    client: tuple[Core, TestClient[Any, Any]], method: str, path: str,
    json_body: dict[str, Any] | None, query: dict[str, str] | None, field: str
) -> None:
    _, c = client
    resp = await c.request(method, path, json=json_body, params=query)
    text = await resp.text()
    assert 400 <= resp.status < 500, (resp.status, text[:300])
    error = json.loads(text)["error"]
    assert error["id"]
    if field:
        named = [f["field"] for f in error.get("details", {}).get("fields", [])]
        assert any(n == field or n.startswith(f"{field}.") for n in named), (field, error)


async def test_a_link_with_script_in_it_is_never_run_by_the_sign_in_redirect(
    client: tuple[Core, TestClient[Any, Any]]
) -> None:
    """The page that sends a browser to sign in quotes the path it came from:
    a crafted link cannot close the script or the attribute."""
    _, c = client
    hostile = '/console?x=</script><script>alert(1)</script>&y="><img src=x onerror=alert(2)>'
    async with aiohttp.ClientSession() as anonymous, \
            anonymous.get(c.make_url(hostile)) as resp:
        text = await resp.text()
    assert resp.status == 401
    assert "alert(" not in text and "<img" not in text and text.count("<script>") == 1
    assert "/sign-in?next=%2Fconsole%3Fx%3D%3C%2Fscript%3E" in text


def test_no_page_writes_html_from_data() -> None:
    """Every page builds its DOM with textContent (common.js: el), so a name a
    caller sets (CallerID) or a note an agent types is shown, never run."""
    pages = [js for package in ("cti", "acd", "ivr", "crm_bridge")
             for js in (PROJECT_ROOT / package).rglob("static/*.js") if "vendor" not in js.parts]
    assert len(pages) >= 7
    for js in pages:
        text = js.read_text("utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in text, f"{js}: {sink}"
