"""Users on both databases: argon2id hashes, sessions stored only as hashes,
expiry, sign-out, a new password or role ending sessions, throttling by
source and account together, the ``hotline user`` command."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.accounts import Accounts
from crm_bridge.models import Agent, User, UserSession
from cti.errors import FieldError
from cti.roles import Role
from cti.web.sessions import (
    MAX_FAILURES,
    NotSignedIn,
    SessionService,
    SignInFailed,
    TooManyAttempts,
    token_hash,
)

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
        stored = (await conn.execute(select(User.password_hash).where(
            User.login == "8001"))).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    token, who = await auth.sign_in("8001", "correct horse")
    assert (who.login, who.name, who.role, who.agent) == ("8001", "林晓", Role.AGENT, "8001")
    assert who.home == "/console"
    async with engine.connect() as conn:
        kept = (await conn.execute(select(UserSession.token_hash))).scalars().all()
    assert kept == [token_hash(token)]  # the token itself is nowhere in the database
    assert (await auth.identify(token)).login == "8001"


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
    with pytest.raises(FieldError, match="login"):
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
    assert (await auth.identify(second)).login == "8001"

    async with engine.begin() as conn:
        await conn.execute(update(UserSession).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    with pytest.raises(NotSignedIn):
        await auth.identify(second)

    third, _ = await auth.sign_in("8001", "correct horse")
    await auth.set_password("8001", "a new horse")
    with pytest.raises(NotSignedIn):
        await auth.identify(third)
    with pytest.raises(SignInFailed):
        await auth.sign_in("8001", "correct horse")
    assert (await auth.sign_in("8001", "a new horse"))[1].login == "8001"


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


async def test_failures_from_one_source_do_not_lock_the_account_for_others(
    auth: SessionService
) -> None:
    """Anyone on the office network could otherwise lock any agent out."""
    await auth.set_password("8001", "correct horse")
    for _ in range(MAX_FAILURES):
        with pytest.raises(SignInFailed):
            await auth.sign_in("8001", "guess", source="10.0.0.66")
    with pytest.raises(TooManyAttempts):  # the guesser is stopped, even with the password
        await auth.sign_in("8001", "correct horse", source="10.0.0.66")
    token, who = await auth.sign_in("8001", "correct horse", source="10.0.0.21")
    assert who.login == "8001" and token
    # the guesser may still sign in as someone else, until they spray too widely
    await auth.set_password("8002", "other horse")
    assert (await auth.sign_in("8002", "other horse", source="10.0.0.66"))[1].login == "8002"


async def test_roles_homes_and_a_changed_role_ends_the_sessions(
    auth: SessionService, engine: AsyncEngine
) -> None:
    accounts = auth.store
    assert isinstance(accounts, Accounts)
    await accounts.add_user("wang", "王主管", Role.SUPERVISOR)
    await accounts.add_user("li", "李组长", Role.SUPERVISOR, agent="8002")  # also takes calls
    await auth.set_password("wang", "watch the floor")
    await auth.set_password("li", "lead the team")
    token, who = await auth.sign_in("wang", "watch the floor")
    assert (who.role, who.agent, who.home) == (Role.SUPERVISOR, None, "/supervisor")
    assert (await auth.sign_in("li", "lead the team"))[1].agent == "8002"
    await accounts.update_user("wang", role=Role.ADMIN)
    with pytest.raises(NotSignedIn):
        await auth.identify(token)
    assert (await auth.sign_in("wang", "watch the floor"))[1].role == Role.ADMIN
    await accounts.update_user("wang", active=False)
    with pytest.raises(SignInFailed):
        await auth.sign_in("wang", "watch the floor")


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
    assert "no user or agent 9999" in capsys.readouterr().err
    assert main(["agent", "password", "8001"]) == 0
    assert "long enough now" not in capsys.readouterr().out

    # users: add (refused as a whole when the password is), role, list
    monkeypatch.setenv("HOTLINE_PASSWORD", "short")
    assert main(["user", "add", "wang", "--name", "王主管", "--role", "supervisor"]) == 2
    assert "8 characters" in capsys.readouterr().err
    monkeypatch.setenv("HOTLINE_PASSWORD", "watch the floor")
    assert main(["user", "add", "wang", "--name", "王主管", "--role", "supervisor"]) == 0
    capsys.readouterr()
    assert main(["user", "add", "wang", "--name", "again", "--role", "admin"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0]
    assert main(["user", "role", "wang", "wizard"]) == 2
    assert "not one of agent, supervisor, admin" in capsys.readouterr().err
    assert main(["user", "role", "wang", "admin"]) == 0
    assert main(["user", "add", "zhou", "--name", "周", "--role", "agent"]) == 2
    assert "no agent zhou" in capsys.readouterr().err
    assert main(["user", "list"]) == 0
    listing = capsys.readouterr().out
    assert "wang" in listing and "admin" in listing and "8001" in listing
    assert "watch the floor" not in listing


def test_the_agents_passwords_and_open_consoles_move_to_their_users(tmp_path: Path) -> None:
    """Upgrading signs nobody out and loses no password; downgrading gives them back."""
    import sqlite3

    from alembic import command

    from crm_bridge.migrate import alembic_config, upgrade

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0004")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO agents (id, code, name, active, created_at, paused, password_hash)"
                   " VALUES (1, '8001', '林晓', 1, '2026-11-01 00:00:00', 0, '$argon2id$x'),"
                   " (2, '8002', '赵敏', 1, '2026-11-01 00:00:00', 0, NULL)")
        db.execute("INSERT INTO agent_sessions VALUES ('abc', 1, '2026-11-30 00:00:00',"
                   " '2026-12-30 00:00:00')")
    upgrade(url)
    with sqlite3.connect(path) as db:
        users = db.execute("SELECT login, role, password_hash, agent_id FROM users").fetchall()
        sessions = db.execute("SELECT token_hash, user_id FROM user_sessions").fetchall()
    assert users == [("8001", "agent", "$argon2id$x", 1)]  # 8002 had no password: no user yet
    assert sessions == [("abc", 1)]
    command.downgrade(alembic_config(url), "0004")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT code, password_hash FROM agents ORDER BY code").fetchall() \
            == [("8001", "$argon2id$x"), ("8002", None)]
