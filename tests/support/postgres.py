"""A throwaway PostgreSQL for tests: initdb into a temp dir, pg_ctl on a free
loopback port, removed afterwards. Runs as the 'postgres' user when root."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


class PostgresError(RuntimeError):
    pass


def _bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if dirs:
        return Path(dirs[0])
    raise PostgresError("PostgreSQL server binaries not found (apt-get install postgresql)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayPostgres:
    def __init__(self, database: str = "hotline", user: str = "hotline", *,
                 durable: bool = False) -> None:
        """``durable=False`` (tests) turns fsync and synchronous commit off;
        benchmarks use ``durable=True``, PostgreSQL's production defaults."""
        self.bindir = _bindir()
        self.durable = durable
        self.database, self.user = database, user
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.datadir = self.base / "data"
        self.sockdir = self.base / "sock"
        self._run_as: str | None = None
        if os.geteuid() == 0:
            self._run_as = "postgres"
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresError("running as root needs a 'postgres' user") from exc
            self.sockdir.mkdir()
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            os.chown(self.sockdir, pw.pw_uid, pw.pw_gid)
        else:
            self.sockdir.mkdir()

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([str(self.bindir / args[0]), *args[1:]], capture_output=True,
                             text=True, user=self._run_as, cwd=self.base, timeout=120)
        if check and res.returncode != 0:
            raise PostgresError(f"{args[0]} failed: {(res.stderr or res.stdout).strip()}")
        return res

    def start(self) -> ThrowawayPostgres:
        if not self.datadir.exists():
            self._run("initdb", "-D", str(self.datadir), "-U", self.user, "-A", "trust",
                      "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.start_server()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                  self.database)
        return self

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.url_for(name)

    def start_server(self) -> None:
        opts = (f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 "
                "-c max_connections=100")
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.datadir), "-o", opts, "-l",
                  str(self.base / "server.log"), "-w", "-t", "60", "start")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.datadir), "status", check=False).returncode == 0

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """Stopped inside the block (stop it with stop_server); running again
        after it, whatever happened, so the tests that follow have their
        database."""
        try:
            yield
        finally:
            if not self.running():
                self.start_server()

    def stop_server(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop", check=False)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.stop_server()
        shutil.rmtree(self.base, ignore_errors=True)
