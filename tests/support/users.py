"""Users for tests: make one with a role, sign it in, and get an HTTP client
that carries its session.

``bearer`` clients send ``Authorization: Bearer`` (an API client: no origin
proof needed); ``browser`` clients hold the cookie and send this server's
``Origin`` on every request, as a browser's page would.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from crm_bridge.accounts import Accounts
from cti.roles import Role
from cti.web.sessions import SessionService

PASSWORD = "correct-horse-9"
FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
NAMES = {Role.AGENT: "坐席", Role.SUPERVISOR: "王主管", Role.ADMIN: "系统管理员"}


async def make_user(sessions: SessionService, accounts: Accounts, login: str, role: Role,
                    *, agent: str | None = None, name: str | None = None) -> None:
    """A user with ``PASSWORD`` (an agent's login is its agent number, which
    must exist)."""
    if await accounts.account(login) is None:
        await accounts.add_user(login, name or NAMES[role], role, agent)
    await sessions.set_password(login, PASSWORD)


async def token_for(sessions: SessionService, accounts: Accounts, login: str,
                    role: Role = Role.ADMIN, *, agent: str | None = None) -> str:
    await make_user(sessions, accounts, login, role, agent=agent)
    token, _ = await sessions.sign_in(login, PASSWORD, source=f"test-{login}")
    return token


async def bearer(server: TestServer, sessions: SessionService, accounts: Accounts,
                 login: str = "admin", role: Role = Role.ADMIN,
                 **kw: Any) -> TestClient[Any, Any]:
    """A started client signed in as ``login`` (made with ``role``)."""
    token = await token_for(sessions, accounts, login, role, **kw)
    client: TestClient[Any, Any] = TestClient(server,
                                              headers={"Authorization": f"Bearer {token}"})
    await client.start_server()
    return client


async def browser(server: TestServer, login: str | None = None,
                  password: str = PASSWORD) -> TestClient[Any, Any]:
    """A started client with a cookie jar that sends this server's Origin;
    signed in through the sign-in endpoint when ``login`` is given."""
    await server.start_server()
    origin = str(server.make_url("")).rstrip("/")
    client: TestClient[Any, Any] = TestClient(server, headers={"Origin": origin})
    await client.start_server()
    if login is not None:
        resp = await client.post("/api/v1/sign-in", json={"login": login, "password": password})
        assert resp.status == 200, await resp.text()
        assert "HttpOnly" in resp.headers["Set-Cookie"]
    return client
