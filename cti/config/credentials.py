"""The generated AMI connection details a local Asterisk (the sandbox) leaves
in ``var/asterisk/ami.json`` (mode 0600, never committed): written by
``hotline asterisk up`` (cti/tools/sandbox.py), read by the server when no
``ami_secret`` is set."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cti.config import paths


@dataclass(frozen=True)
class AmiCredentials:
    host: str
    port: int
    username: str
    secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"AmiCredentials(host={self.host!r}, port={self.port}, username={self.username!r})"


def load_credentials(path: Path | None = None) -> AmiCredentials | None:
    path = path or paths.sandbox_credentials_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return AmiCredentials(
        host=data["host"], port=int(data["port"]), username=data["username"], secret=data["secret"]
    )


def save_credentials(path: Path, creds: AmiCredentials) -> None:
    """Written readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"host": creds.host, "port": creds.port, "username": creds.username,
                   "secret": creds.secret}, fh)
