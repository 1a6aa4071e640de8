"""`hotline serve` as a user runs it: a process, settings from the environment."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cti.config.credentials import AmiCredentials
from tests.support.postgres import ThrowawayPostgres, free_port


def get_json(url: str, cookie: str | None = None, data: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    if data is not None:
        req.data = json.dumps(data).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            body = json.loads(resp.read())
            return resp.status, body if cookie or data is None else (
                body, resp.headers.get("Set-Cookie", "").split(";")[0])
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def add_supervisor(database_url: str) -> None:
    """As an admin would: ``hotline user add`` on the server's database."""
    env = {**os.environ, "HOTLINE_DATABASE_URL": database_url,
           "HOTLINE_PASSWORD": "watch the floor"}
    proc = subprocess.run([sys.executable, "-m", "cti.tools.cli", "user", "add", "wang",
                           "--name", "王主管", "--role", "supervisor"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def start_serve(env_extra: dict[str, str], tmp_path: Path,
                log_name: str = "serve.log") -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = {**os.environ, "HOTLINE_HTTP_PORT": str(port), "HOTLINE_AGI_PORT": str(free_port()),
           "HOTLINE_LOG_FORMAT": "json", **env_extra}
    with (tmp_path / log_name).open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cti.tools.cli", "serve"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
    return proc, port


def wait_health(port: int, want: int, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            status, body = get_json(f"http://127.0.0.1:{port}/healthz")
            last = (status, body)
            if status == want:
                return dict(body)
        except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"/healthz never answered {want}; last: {last}")


def test_serve_with_postgres_is_healthy_and_stops_cleanly(
    creds: AmiCredentials, postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    add_supervisor(postgres.url)
    proc, port = start_serve({"HOTLINE_DATABASE_URL": postgres.url}, tmp_path)
    try:
        body = wait_health(port, 200)
        assert body["status"] == "ok"
        assert {k: v["status"] for k, v in body["components"].items()} == {
            "ami": "up", "loop": "up", "database": "up", "agi": "up"}
        assert "postgresql" not in json.dumps(body)  # anyone learns up or down, no more
        base = f"http://127.0.0.1:{port}"
        status, err = get_json(f"{base}/api/v1/status?since=0")  # no session
        assert status == 401 and err["error"]["id"] == "not-signed-in"
        status, (who, cookie) = get_json(f"{base}/api/v1/sign-in",
                                         data={"login": "wang", "password": "watch the floor"})
        assert status == 200 and who["user"]["home"] == "/supervisor"
        status, st = get_json(f"{base}/api/v1/status?since=0", cookie)
        assert status == 200 and st["loop"]["lag_ms"]["n"] > 0
        # the components' details are the supervisor's: which database, the lags
        assert st["components"]["database"]["url"].startswith("postgresql+asyncpg://")
        assert st["components"]["loop"]["lag_ms"]["p99"] < 1000
        # the tests run as root: the loop's thread got its real-time policy
        assert st["loop"]["scheduling"] == "realtime"
        assert st["ami"]["event_lag_ms"]["n"] > 0  # FullyBooted at least
        # nothing waits to be handled; the record writer's queue and others exist
        assert st["ami"]["buffered"] == 0 and st["ami"]["read_pauses"] == 0
        assert st["bus"]["queues"] >= 1 and st["bus"]["dropped"] == 0
        status, err = get_json(f"{base}/api/v1/status?since=yesterday", cookie)
        assert status == 422 and err["error"]["details"]["fields"][0]["field"] == "since"
        status, calls = get_json(f"{base}/api/v1/live/calls", cookie)
        assert status == 200 and calls == {"calls": [], "count": 0}
        status, err = get_json(f"{base}/api/v1/live/calls/nope", cookie)
        assert status == 404 and err["error"]["id"] == "call-not-found"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    log = (tmp_path / "serve.log").read_text()
    assert creds.secret not in log


def test_healthz_is_503_and_names_the_database_when_it_is_down(
    creds: AmiCredentials, tmp_path: Path
) -> None:
    dead = f"postgresql+asyncpg://hotline@127.0.0.1:{free_port()}/hotline"
    proc, port = start_serve({"HOTLINE_DATABASE_URL": dead}, tmp_path)
    try:
        body = wait_health(port, 503)
        # the first answer may come before the AMI session's first resync
        deadline = time.monotonic() + 10
        while body["components"]["ami"]["status"] != "up" and time.monotonic() < deadline:
            time.sleep(0.2)
            _, body = get_json(f"http://127.0.0.1:{port}/healthz")
        assert body["status"] == "degraded"
        assert body["components"]["ami"]["status"] == "up"
        assert body["components"]["agi"]["status"] == "up"
        assert body["components"]["database"]["status"] == "down"
        # anyone may ask: up or down only, never the database's address
        assert body["components"]["database"] == {"status": "down"}
        assert "127.0.0.1" not in json.dumps(body) and "hotline@" not in json.dumps(body)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_bad_setting_fails_at_start_naming_the_key(tmp_path: Path) -> None:
    env = dict(os.environ, HOTLINE_AMI_PORT="not-a-port")
    proc = subprocess.run([sys.executable, "-m", "cti.tools.cli", "serve"], env=env,
                          capture_output=True, text=True, timeout=15)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        proc.stderr.strip().splitlines()[0]]  # one line
    assert "environment variable HOTLINE_AMI_PORT" in proc.stderr

    cfg = tmp_path / "hotline.toml"
    cfg.write_text("http_port = -4\n")
    proc = subprocess.run([sys.executable, "-m", "cti.tools.cli", "serve", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=15)
    assert proc.returncode == 2
    assert f"config file {cfg}: key 'http_port'" in proc.stderr


def test_an_invalid_menu_file_stops_the_start_with_file_line_and_field(tmp_path: Path) -> None:
    menus = tmp_path / "menus.yaml"
    text = (Path(__file__).parents[2] / "ivr" / "menus.yaml").read_text(encoding="utf-8")
    menus.write_text(text.replace('"3": {queue: {zh: complaints', '"3": {queue: {zh: complaint'),
                     encoding="utf-8")
    env = dict(os.environ, HOTLINE_IVR_MENUS=str(menus), HOTLINE_HTTP_PORT=str(free_port()))
    proc = subprocess.run([sys.executable, "-m", "cti.tools.cli", "serve"], env=env,
                          capture_output=True, text=True, timeout=15)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert re.search(rf"{re.escape(str(menus))}:\d+: menus.main.keys.3.queue.zh: "
                     r"no queue 'complaint' in the ACD config", lines[0]), lines[0]
