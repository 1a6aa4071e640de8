"""Agents' console accounts on both databases: argon2id hashes, sessions
stored only as hashes, expiry, sign-out, a new password ending sessions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.accounts import Accounts
from crm_bridge.models import Agent, AgentSession
from cti.errors import FieldError
from cti.web.sessions import NotSignedIn, SessionService, SignInFailed, token_hash

FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


@pytest.fixture
async def auth(engine: AsyncEngine) -> SessionService:
    async with engine.begin() as conn:
        await conn.execute(insert(Agent).values(code="8001", name="林晓", active=True))
        await conn.execute(insert(Agent).values(code="8002", name="赵敏", active=True))
    return SessionService(Accounts(engine), hasher=FAST)


async def test_the_password_is_stored_as_an_argon2id_hash_and_signs_in(
    auth: SessionService, engine: AsyncEngine
) -> None:
    await auth.set_password("8001", "correct horse")
    async with engine.connect() as conn:
        stored = (await conn.execute(select(Agent.password_hash).where(
            Agent.code == "8001"))).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    token, who = await auth.sign_in("8001", "correct horse")
    assert (who.code, who.name) == ("8001", "林晓")
    async with engine.connect() as conn:
        kept = (await conn.execute(select(AgentSession.token_hash))).scalars().all()
    assert kept == [token_hash(token)]  # the token itself is nowhere in the database
    assert (await auth.identify(token)).code == "8001"


async def test_wrong_password_unknown_agent_and_no_password_yet_all_fail_alike(
    auth: SessionService
) -> None:
    await auth.set_password("8001", "correct horse")
    messages = set()
    for code, password in (("8001", "wrong horse"), ("9999", "correct horse"),
                           ("8002", "correct horse")):
        with pytest.raises(SignInFailed) as exc:
            await auth.sign_in(code, password)
        messages.add(str(exc.value))
    assert len(messages) == 1


async def test_a_short_password_or_an_unknown_agent_is_refused_by_field(
    auth: SessionService
) -> None:
    with pytest.raises(FieldError, match="password"):
        await auth.set_password("8001", "short")
    with pytest.raises(FieldError, match="code"):
        await auth.set_password("9999", "long enough")


async def test_sessions_end_at_sign_out_at_expiry_and_with_a_new_password(
    auth: SessionService, engine: AsyncEngine
) -> None:
    await auth.set_password("8001", "correct horse")
    first, _ = await auth.sign_in("8001", "correct horse")
    second, _ = await auth.sign_in("8001", "correct horse")
    await auth.sign_out(first)
    with pytest.raises(NotSignedIn):
        await auth.identify(first)
    assert (await auth.identify(second)).code == "8001"

    async with engine.begin() as conn:
        await conn.execute(update(AgentSession).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    with pytest.raises(NotSignedIn):
        await auth.identify(second)

    third, _ = await auth.sign_in("8001", "correct horse")
    await auth.set_password("8001", "a new horse")
    with pytest.raises(NotSignedIn):
        await auth.identify(third)
    with pytest.raises(SignInFailed):
        await auth.sign_in("8001", "correct horse")
    assert (await auth.sign_in("8001", "a new horse"))[1].code == "8001"


async def test_a_deactivated_agent_cannot_sign_in_or_use_an_open_session(
    auth: SessionService, engine: AsyncEngine
) -> None:
    await auth.set_password("8001", "correct horse")
    token, _ = await auth.sign_in("8001", "correct horse")
    async with engine.begin() as conn:
        await conn.execute(update(Agent).where(Agent.code == "8001").values(active=False))
    with pytest.raises(NotSignedIn):
        await auth.identify(token)
    with pytest.raises(SignInFailed):
        await auth.sign_in("8001", "correct horse")


def test_the_password_command_sets_it_and_names_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from crm_bridge import db
    from crm_bridge.migrate import upgrade
    from cti.tools.cli import main

    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    upgrade(url)

    async def add_agent() -> None:
        engine = db.make_engine(url)
        async with engine.begin() as conn:
            await conn.execute(insert(Agent).values(code="8001", name="林晓", active=True))
        await engine.dispose()

    asyncio.run(add_agent())
    monkeypatch.setenv("HOTLINE_AGENT_PASSWORD", "short")
    assert main(["agent", "password", "8001"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "password" in err[0] and "8 characters" in err[0]
    monkeypatch.setenv("HOTLINE_AGENT_PASSWORD", "long enough now")
    assert main(["agent", "password", "9999"]) == 2
    assert "no agent 9999" in capsys.readouterr().err
    assert main(["agent", "password", "8001"]) == 0
    assert "long enough now" not in capsys.readouterr().out
