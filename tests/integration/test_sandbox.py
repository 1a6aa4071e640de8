"""`hotline asterisk up | down | status | cli` on the real sandbox."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from cti.config import paths
from cti.tools.sandbox import Sandbox, _port_open


def hotline(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cti.tools.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_status_and_cli_talk_to_the_running_asterisk(sandbox: Sandbox) -> None:
    res = hotline("asterisk", "status")
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)
    assert st["running"] and st["ami_listening"] and st["version"].startswith("Asterisk 2")
    res = hotline("asterisk", "cli", "queue show general-service")
    assert res.returncode == 0 and "general-service has" in res.stdout


def test_the_ami_secret_is_generated_private_and_not_in_the_repository(sandbox: Sandbox) -> None:
    creds = sandbox.credentials()
    f = sandbox.credentials_file
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert len(creds.secret) >= 24
    tracked = subprocess.run(["git", "grep", "-l", creds.secret], cwd=paths.PROJECT_ROOT,
                             capture_output=True, text=True)
    assert tracked.stdout == ""
    manager = sandbox.layout().host_base / "etc" / "manager.conf"
    assert "bindaddr = 127.0.0.1" in manager.read_text()


def test_down_leaves_no_process_and_no_mount_and_up_comes_back_warm(sandbox: Sandbox) -> None:
    res = hotline("asterisk", "down")
    assert res.returncode == 0, res.stderr
    root = str(sandbox.chroot.resolve())
    procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    in_chroot = []
    for p in procs:
        try:
            if os.readlink(p / "root") == root:
                in_chroot.append(p.name)
        except OSError:
            continue
    assert in_chroot == []
    mounts = Path("/proc/mounts").read_text()
    assert root not in mounts
    assert not _port_open("127.0.0.1", 5038)
    assert hotline("asterisk", "status").returncode == 1

    t0 = time.monotonic()
    res = hotline("asterisk", "up")
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert took < 60
    assert "starting Asterisk" in res.stderr
    # a second up is a no-op that says so
    res = hotline("asterisk", "up")
    assert res.returncode == 0 and "already running" in res.stderr


def test_cli_without_a_command_is_an_error() -> None:
    res = hotline("asterisk", "cli")
    assert res.returncode == 2
    assert res.stderr.strip() == "hotline: asterisk cli: give the Asterisk CLI command to run"
