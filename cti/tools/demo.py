"""``hotline demo start | stop``: the server and the call simulator in the background.

Their logs and pid files live in ``var/demo/``. ``start`` waits until
/healthz says every component is up, then prints the URLs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cti.config.settings import Settings


def _demo_dir(settings: Settings) -> Path:
    d = settings.var_dir / "demo"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if process_running(pid) else None


def process_running(pid: int) -> bool:
    """Alive, and not a zombie waiting for a parent that does not reap (the
    demo's processes outlive the ``demo start`` that spawned them)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def _spawn(name: str, args: list[str], d: Path) -> int:
    with (d / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cti.tools.cli", *args], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    (d / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def _health(url: str) -> tuple[int, dict[str, object]] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


DEMO_USERS = (("supervisor", "王主管", "supervisor"), ("admin", "系统管理员", "admin"))


def passwords_file(settings: Settings) -> Path:
    return _demo_dir(settings) / "passwords.txt"


def demo_passwords(settings: Settings) -> Path:
    """The demo users' passwords (agents 8001..., a supervisor, an admin):
    generated once into a file only root can read (outside git), set in the
    database each start."""
    import asyncio
    import secrets

    from crm_bridge import db
    from crm_bridge.accounts import Accounts
    from crm_bridge.seed import AGENTS
    from cti.errors import DomainError
    from cti.roles import Role
    from cti.web.sessions import SessionService

    path = passwords_file(settings)
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            login, _, password = line.partition(" ")
            if login and password:
                known[login] = password
    logins = [code for code, _ in AGENTS] + [login for login, _, _ in DEMO_USERS]
    for login in logins:
        known.setdefault(login, secrets.token_urlsafe(9))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"{login} {known[login]}\n" for login in logins)

    async def apply() -> None:
        engine = db.make_engine(settings.effective_database_url)
        try:
            accounts = Accounts(engine)
            auth = SessionService(accounts)
            for login, name, role in DEMO_USERS:
                if await accounts.account(login) is None:
                    await accounts.add_user(login, name, Role(role))
            for login in logins:
                with contextlib.suppress(DomainError):  # not seeded: no account to set
                    await auth.set_password(login, known[login])
        finally:
            await engine.dispose()

    asyncio.run(apply())
    return path


def start(settings: Settings, calls_per_minute: float = 10.0) -> int:
    d = _demo_dir(settings)
    base = f"http://127.0.0.1:{settings.http_port}"
    if _alive(d / "serve.pid") is None:
        _spawn("serve", ["serve"], d)
    deadline = time.monotonic() + 40
    last: tuple[int, dict[str, object]] | None = None
    while time.monotonic() < deadline:
        last = _health(f"{base}/healthz")
        if last and last[0] == 200:
            break
        if _alive(d / "serve.pid") is None:
            break
        time.sleep(0.3)
    if not last or last[0] != 200:
        tail = (d / "serve.log").read_text(errors="replace").splitlines()[-15:]
        print("hotline: the server did not become healthy; last lines of "
              f"{d / 'serve.log'}:\n  " + "\n  ".join(tail), file=sys.stderr)
        stop(settings)
        return 1
    passwords = demo_passwords(settings)
    if _alive(d / "simulator.pid") is None:
        _spawn("simulator", ["simulate", "--agents", "6", "--calls-per-minute",
                             f"{calls_per_minute:g}", "--talk", "25"], d)
    print(f"""
  Hotline demo is running (Asterisk sandbox, CTI server, call simulator).

    Sign in         {base}/sign-in   (passwords in {passwords})
    Agent console   {base}/console   (as 8001 ... 8006: the simulated phones answer,
                    the cards pop)
    Supervisor      {base}/supervisor, {base}/wallboard, {base}/reports
                    (as supervisor or admin)
    Live calls      {base}/
    Health          {base}/healthz
    REST API        {base}/api/v1/live/calls
                    {base}/api/v1/queues   {base}/api/v1/agents
                    {base}/api/v1/stats/queues?window=today
    Event streams   ws://127.0.0.1:{settings.http_port}/api/v1/live/ws (calls)
                    ws://127.0.0.1:{settings.http_port}/api/v1/acd/ws (queues, agents)
    Logs            {d}/serve.log, {d}/simulator.log

  Stop everything with: make down
""")
    return 0


def stop(settings: Settings) -> int:
    d = _demo_dir(settings)
    for name in ("simulator", "serve"):
        pid = _alive(d / f"{name}.pid")
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if not process_running(pid):
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            print(f"stopped {name} (pid {pid})")
        with contextlib.suppress(FileNotFoundError):
            (d / f"{name}.pid").unlink()
    return 0
