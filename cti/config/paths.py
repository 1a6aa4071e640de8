"""Where the project's files live: the source tree and the var dir.

The var dir holds everything a run generates (the Asterisk sandbox, its
AMI secret, the embedded database, the call-record spool). It is never
committed. ``HOTLINE_VAR_DIR`` moves it.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def var_dir() -> Path:
    override = os.environ.get("HOTLINE_VAR_DIR")
    if override:
        return Path(override).resolve()
    if (PROJECT_ROOT / "asterisk-conf").is_dir():
        return PROJECT_ROOT / "var"
    return Path.cwd() / "var"


def asterisk_conf_dir() -> Path:
    return PROJECT_ROOT / "asterisk-conf"


def sandbox_dir() -> Path:
    return var_dir() / "asterisk"


def sandbox_credentials_file() -> Path:
    """The generated AMI connection details of the sandbox (mode 0600)."""
    return sandbox_dir() / "ami.json"


def sandbox_spool(var: Path) -> Path:
    """The sandbox Asterisk's spool dir as this host sees it (in its chroot,
    or beside it when the host's own Asterisk runs the sandbox)."""
    chrooted = var / "asterisk" / "chroot" / "hotline"
    return (chrooted if chrooted.exists() else var / "asterisk" / "host") / "spool"
