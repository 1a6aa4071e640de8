"""An agent's console as a browser holds it, for the benchmarks."""

from __future__ import annotations

import aiohttp


async def signed_in_console(base: str, code: str, password: str,
                            sessions: list[aiohttp.ClientSession],
                            ) -> aiohttp.ClientWebSocketResponse:
    """Agent ``code`` signed in, logged in to the ACD on their simulated
    phone, with the console's websocket open (the session is added to
    ``sessions`` for the caller to close)."""
    s = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True),
                              headers={"Origin": base.rstrip("/")})  # as the page sends it
    sessions.append(s)
    async with s.post("/api/v1/sign-in", json={"login": code, "password": password}) as r:
        assert r.status == 200, await r.text()
    async with s.post("/api/v1/console/acd/login",
                      json={"device": f"Local/{code}@sim-agent-phone/n"}) as r:
        assert r.status == 200, await r.text()
    return await s.ws_connect("/api/v1/console/ws")
