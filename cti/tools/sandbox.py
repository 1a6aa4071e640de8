"""The Asterisk sandbox: a real Asterisk 22 for developers, tests and the demo.

``hotline asterisk up`` uses an ``asterisk`` >= 20 found on PATH. Otherwise it
builds, once, a Debian sid chroot (debootstrap) holding Debian's ``asterisk``
and ``asterisk-modules`` packages under the var dir, and runs Asterisk inside
it. The chroot shares the host's loopback, so AMI on 127.0.0.1 is reachable.

Every ``up`` installs the project's ``asterisk-conf/`` afresh and a generated
AMI secret (kept in ``var/asterisk/ami.json``, mode 0600, never committed).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cti.config import paths
from cti.config.credentials import AmiCredentials, load_credentials, save_credentials

MIN_HOST_MAJOR = 20
AMI_USERNAME = "hotline-cti"
AMI_HOST = "127.0.0.1"
AMI_PORT = 5038
DEBIAN_MIRROR = "http://deb.debian.org/debian"
CHROOT_READY_MARK = ".hotline-chroot-ready"
INNER_BASE = "/hotline"
MODULE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/asterisk/modules",
    "/usr/lib/aarch64-linux-gnu/asterisk/modules",
    "/usr/lib/asterisk/modules",
    "/usr/lib64/asterisk/modules",
)


class SandboxError(RuntimeError):
    """The sandbox could not be built, started or stopped; the message says why."""


class Progress:
    """Progress lines for long steps; rewrites one line on a terminal."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.t0 = time.monotonic()
        self._last_tick = 0.0

    def step(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[K")
        self.out.write(f"[sandbox {time.monotonic() - self.t0:5.1f}s] {text}\n")
        self.out.flush()

    def tick(self, text: str) -> None:
        now = time.monotonic()
        if self.tty:
            self.out.write(f"\r\x1b[K[sandbox {now - self.t0:5.1f}s]   {text[:100]}")
            self.out.flush()
        elif now - self._last_tick >= 5:
            self._last_tick = now
            self.out.write(f"[sandbox {now - self.t0:5.1f}s]   {text[:100]}\n")
            self.out.flush()


@dataclass(frozen=True)
class Layout:
    """How Asterisk runs: inside the chroot, or the host's own binary."""

    mode: str  # "chroot" or "host"
    prefix: tuple[str, ...]  # command prefix ("chroot", root) or ()
    inner_base: str  # the sandbox's own dir as Asterisk sees it
    host_base: Path  # the same dir as the host sees it
    moddir: str

    @property
    def conf_file(self) -> str:
        return f"{self.inner_base}/etc/asterisk.conf"

    def asterisk(self, *args: str) -> list[str]:
        return [*self.prefix, "asterisk", "-C", self.conf_file, *args]


class Sandbox:
    def __init__(self, base: Path | None = None, conf_src: Path | None = None,
                 progress: Progress | None = None) -> None:
        self.base = base or paths.sandbox_dir()
        self.conf_src = conf_src or paths.asterisk_conf_dir()
        self.progress = progress or Progress()
        self.chroot = self.base / "chroot"
        self.credentials_file = self.base / "ami.json"
        self._layout: Layout | None = None

    @property
    def pidfile(self) -> Path:
        return self.layout().host_base / "run" / "asterisk.pid"

    # ------------------------------------------------------------------ layout
    def _host_asterisk(self) -> str | None:
        exe = shutil.which("asterisk")
        if not exe:
            return None
        try:
            out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        m = re.search(r"Asterisk (\d+)", out)
        if m and int(m.group(1)) >= MIN_HOST_MAJOR:
            return exe
        return None

    def layout(self) -> Layout:
        if self._layout is None or (self._layout.mode == "chroot" and not self.chroot_ready()):
            self._layout = self._find_layout()
        return self._layout

    def _find_layout(self) -> Layout:
        if self._host_asterisk():
            moddir = next((d for d in MODULE_DIRS if Path(d, "app_queue.so").exists()),
                          MODULE_DIRS[0])
            host_base = self.base / "host"
            return Layout("host", (), str(host_base), host_base, moddir)
        moddir = next(
            (d for d in MODULE_DIRS if (self.chroot / d.lstrip("/") / "app_queue.so").exists()),
            MODULE_DIRS[0],
        )
        return Layout("chroot", ("chroot", str(self.chroot)), INNER_BASE,
                      self.chroot / INNER_BASE.lstrip("/"), moddir)

    # ------------------------------------------------------------------ build
    def chroot_ready(self) -> bool:
        return (self.chroot / CHROOT_READY_MARK).exists()

    def build_chroot(self) -> None:
        if os.geteuid() != 0:
            raise SandboxError(
                "building the Asterisk sandbox needs root (debootstrap and chroot); "
                "run 'hotline asterisk up' as root, or put asterisk >= 20 on PATH"
            )
        if not shutil.which("debootstrap"):
            raise SandboxError("debootstrap is not installed: apt-get install debootstrap")
        tmp = self.base / "chroot.building"
        self._unmount_under(tmp)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        self.progress.step("building the Asterisk sandbox (first run only): Debian sid chroot")
        self._run_streamed(
            ["debootstrap", "--variant=minbase", "sid", str(tmp), DEBIAN_MIRROR], "debootstrap"
        )
        (tmp / "etc/apt/apt.conf.d/99hotline").write_text(
            # the mirror is a frozen snapshot: sid's Release file reads as expired
            'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n'
        )
        policy = tmp / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        self.progress.step("installing asterisk and asterisk-modules from Debian sid")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        with self._proc_mounted(tmp):
            self._run_streamed(["chroot", str(tmp), "apt-get", "update"], "apt-get update", env=env)
            self._run_streamed(
                ["chroot", str(tmp), "apt-get", "install", "-y", "--no-install-recommends",
                 "asterisk", "asterisk-modules", "asterisk-core-sounds-en"],
                "apt-get install", env=env,
            )
            self._run_streamed(["chroot", str(tmp), "apt-get", "clean"], "apt-get clean", env=env)
        version = subprocess.run(["chroot", str(tmp), "asterisk", "-V"], capture_output=True,
                                 text=True, check=True).stdout.strip()
        (tmp / CHROOT_READY_MARK).write_text(version + "\n")
        if self.chroot.exists():
            self._unmount_under(self.chroot)
            shutil.rmtree(self.chroot)
        tmp.rename(self.chroot)
        self.progress.step(f"sandbox built: {version}")

    @contextlib.contextmanager
    def _proc_mounted(self, root: Path) -> Iterator[None]:
        target = root / "proc"
        target.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "proc", "proc", str(target)], check=True)
        try:
            yield
        finally:
            subprocess.run(["umount", "-l", str(target)], check=False)

    def _run_streamed(self, cmd: list[str], label: str, env: dict[str, str] | None = None) -> None:
        tail: list[str] = []
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=env, errors="replace") as proc:
            assert proc.stdout is not None
            for n, line in enumerate(proc.stdout, 1):
                line = line.rstrip()
                tail = [*tail, line][-20:]
                self.progress.tick(f"{label}: {n} lines; {line}")
            rc = proc.wait()
        if rc != 0:
            raise SandboxError(f"{label} failed (exit {rc}):\n" + "\n".join(tail))

    # ------------------------------------------------------------------ config
    def credentials(self) -> AmiCredentials:
        creds = load_credentials(self.credentials_file)
        if creds is None:
            creds = AmiCredentials(AMI_HOST, AMI_PORT, AMI_USERNAME, secrets.token_urlsafe(24))
            save_credentials(self.credentials_file, creds)
        return creds

    def install_config(self, layout: Layout, creds: AmiCredentials) -> None:
        base = layout.host_base
        etc = base / "etc"
        if etc.exists():
            shutil.rmtree(etc)
        shutil.copytree(self.conf_src, etc)
        for sub in ("run", "log", "spool", "spool/monitor/hotline", "lib", "data/sounds",
                    "data/moh", "etc/manager.d", "etc/queues.d", "etc/pjsip.d", "recordings"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        inner = layout.inner_base
        (etc / "asterisk.conf").write_text(
            "; written by 'hotline asterisk up'\n"
            "[directories]\n"
            f"astetcdir => {inner}/etc\n"
            f"astmoddir => {layout.moddir}\n"
            f"astvarlibdir => {inner}/lib\n"
            f"astdbdir => {inner}/lib\n"
            f"astkeydir => {inner}/lib\n"
            f"astdatadir => {inner}/data\n"
            f"astagidir => {inner}/lib/agi-bin\n"
            f"astspooldir => {inner}/spool\n"
            f"astrundir => {inner}/run\n"
            f"astlogdir => {inner}/log\n"
            "\n[options]\n"
            "verbose = 0\n"
            "debug = 0\n"
            "maxload = 0\n"
            "cache_media_frames = yes\n"
            "transmit_silence = yes\n"
            "defaultlanguage = en\n"
        )
        secret_file = etc / "manager.d" / "cti-user.conf"
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"; generated per sandbox; never committed\n"
                     f"[{creds.username}](hotline-cti-template)\nsecret = {creds.secret}\n")
        self._link_stock_data(layout)
        moh = base / "data" / "moh" / "hold-tone.wav"
        if not moh.exists():
            _write_hold_tone(moh)

    def _link_stock_data(self, layout: Layout) -> None:
        """Asterisk's own data dir (XML docs, keys, stock English sounds) linked into
        the sandbox's data dir, whose sounds/ and moh/ are the sandbox's own."""
        data = layout.host_base / "data"
        view = (lambda p: self.chroot / p.lstrip("/")) if layout.mode == "chroot" else Path
        stock = next((d for d in ("/usr/share/asterisk", "/var/lib/asterisk")
                      if view(d + "/documentation").is_dir()), None)
        if stock is None:
            raise SandboxError("Asterisk's data dir (with documentation/) was not found")
        for entry in view(stock).iterdir():
            if entry.name in ("sounds", "moh"):
                continue
            link = data / entry.name
            if not (link.exists() or link.is_symlink()):
                link.symlink_to(f"{stock}/{entry.name}")
        for voice in ("en_US_f_Allison", "en"):
            src = f"{stock}/sounds/{voice}"
            link = data / "sounds" / "en"
            if view(src).is_dir() and not (link.exists() or link.is_symlink()):
                link.symlink_to(src)

    # ------------------------------------------------------------------ run
    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not _alive(pid):
            return None
        try:
            if not os.readlink(f"/proc/{pid}/exe").endswith("asterisk"):
                return None
        except OSError:
            pass
        return pid

    def cli(self, command: str, timeout: float = 15.0, layout: Layout | None = None) -> str:
        layout = layout or self.layout()
        try:
            res = subprocess.run(layout.asterisk("-rx", command), capture_output=True, text=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"asterisk -rx {command!r} timed out after {timeout:.0f} s") from exc
        if res.returncode != 0:
            raise SandboxError(
                f"asterisk -rx {command!r} failed (exit {res.returncode}): "
                f"{(res.stderr or res.stdout).strip()}"
            )
        return res.stdout

    def up(self) -> AmiCredentials:
        self.base.mkdir(parents=True, exist_ok=True)
        with self._lock():
            layout = self.layout()
            if layout.mode == "chroot" and not self.chroot_ready():
                self.build_chroot()
                layout = self.layout()
            creds = self.credentials()
            self.install_config(layout, creds)
            if layout.mode == "chroot":
                self._hosts_file()
            if self.pid() is not None:
                self.cli("core reload", layout=layout)
                self._wait_ami(creds, deadline=time.monotonic() + 20)
                self.progress.step(f"Asterisk already running (pid {self.pid()}); config reloaded")
                return creds
            self._start(layout, creds)
            return creds

    def _hosts_file(self) -> None:
        """The chroot's own /etc/hosts naming this machine: without it every
        new RTP session asks DNS for the machine's name (and then for
        A.ROOT-SERVERS.NET) to find its own address, a blocking look-up and
        two log lines per SIP call."""
        name = socket.gethostname()
        hosts = self.chroot / "etc" / "hosts"
        text = f"# written by 'hotline asterisk up'\n127.0.0.1\tlocalhost {name}\n::1\tlocalhost\n"
        if not hosts.exists() or hosts.read_text() != text:
            hosts.write_text(text)

    def _start(self, layout: Layout, creds: AmiCredentials) -> None:
        if _port_open(creds.host, creds.port):
            raise SandboxError(
                f"something else already listens on {creds.host}:{creds.port} (AMI); "
                "stop it, or run 'hotline asterisk down'"
            )
        self.progress.step(f"starting Asterisk ({layout.mode})")
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()
        # Asterisk's Uniqueids (and so Linkedids) are "<start second>.<counter>":
        # two starts within one second would hand out the same ids again
        stamp = self.base / "last-start"
        with contextlib.suppress(FileNotFoundError, ValueError):
            last = float(stamp.read_text())
            if int(time.time()) <= int(last):
                time.sleep(int(last) + 1.05 - time.time())
        stamp.write_text(f"{time.time():.3f}\n")
        # Asterisk daemonizes itself: it is nobody's child, and outlives this command
        res = subprocess.run(layout.asterisk(), stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=30)
        if res.returncode != 0:
            raise SandboxError(f"Asterisk did not start (exit {res.returncode}): "
                               f"{(res.stderr or res.stdout).strip()[:500]}")
        started = time.monotonic()
        deadline = started + 45
        while True:
            # the daemon writes its pid file within moments; none after 5 s means it died
            if self.pid() is None and time.monotonic() - started > 5:
                raise SandboxError(
                    "Asterisk exited at start; see "
                    f"{layout.host_base / 'log' / 'messages.log'}"
                )
            try:
                out = self.cli("core waitfullybooted", timeout=10, layout=layout)
                if "fully booted" in out.lower():
                    break
            except SandboxError:
                pass
            if time.monotonic() > deadline:
                raise SandboxError("Asterisk did not finish booting within 45 s")
            time.sleep(0.2)
        self._wait_ami(creds, deadline)
        version = self.cli("core show version", layout=layout).strip()
        self.progress.step(f"Asterisk up (pid {self.pid()}): {version}; "
                           f"AMI on {creds.host}:{creds.port}")

    def _wait_ami(self, creds: AmiCredentials, deadline: float) -> None:
        while not _port_open(creds.host, creds.port):
            if time.monotonic() > deadline:
                raise SandboxError(f"AMI did not open on {creds.host}:{creds.port}")
            time.sleep(0.1)

    def down(self) -> None:
        pids = set(self._sandbox_pids())
        pid = self.pid()
        if pid:
            pids.add(pid)
        pids = _signal_and_wait(pids, signal.SIGTERM, 10)
        pids = _signal_and_wait(pids, signal.SIGKILL, 5)
        if pids:
            raise SandboxError(f"Asterisk processes would not stop: {sorted(pids)}")
        self._unmount_under(self.chroot)
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()

    def kill(self) -> None:
        """SIGKILL Asterisk, as a crash would (tests of reconnection use it)."""
        pid = self.pid()
        if pid is None:
            raise SandboxError("Asterisk is not running")
        _signal_and_wait({pid}, signal.SIGKILL, 5)
        # the AMI socket can outlive the pid by a moment: 'up' right after a
        # kill would otherwise find the port taken
        creds = load_credentials(self.credentials_file)
        deadline = time.monotonic() + 5
        while creds and _port_open(creds.host, creds.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def status(self) -> dict[str, object]:
        layout = self.layout()
        pid = self.pid()
        creds = load_credentials(self.credentials_file)
        out: dict[str, object] = {
            "mode": layout.mode,
            "built": layout.mode == "host" or self.chroot_ready(),
            "running": pid is not None,
            "pid": pid,
            "ami": f"{creds.host}:{creds.port}" if creds else None,
            "ami_listening": bool(creds and _port_open(creds.host, creds.port)),
        }
        if pid is not None:
            with contextlib.suppress(SandboxError):
                out["version"] = self.cli("core show version", timeout=5, layout=layout).strip()
                uptime = self.cli("core show uptime seconds", timeout=5, layout=layout)
                m = re.search(r"System uptime:\s*(\d+)", uptime)
                if m:
                    out["uptime_s"] = int(m.group(1))
        return out

    # ------------------------------------------------------------------ helpers
    def _sandbox_pids(self) -> Iterator[int]:
        """Every process whose root is our chroot (nothing may be left behind)."""
        if not self.chroot.exists():
            return
        root = str(self.chroot.resolve())
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "root") == root:
                    yield int(entry.name)
            except OSError:
                continue

    def _unmount_under(self, root: Path) -> None:
        prefix = str(root.resolve()) + "/"
        try:
            mounts = Path("/proc/mounts").read_text().splitlines()
        except OSError:
            return
        targets = [m.split()[1] for m in mounts if len(m.split()) > 1]
        for t in sorted((t for t in targets if t.startswith(prefix)), key=len, reverse=True):
            subprocess.run(["umount", "-l", t], check=False)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.base / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _signal_and_wait(pids: set[int], sig: signal.Signals, timeout: float) -> set[int]:
    """Send ``sig`` to each process; return those still alive after ``timeout``."""
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if _alive(p)}
        if pids:
            time.sleep(0.02)
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is as good as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _write_hold_tone(path: Path) -> None:
    """A soft two-tone chime, 8 kHz mono, as the default hold music."""
    rate = 8000
    frames = bytearray()
    for note in (523.25, 659.25, 783.99, 659.25):
        for i in range(rate // 2):
            env = min(1.0, i / 400) * max(0.0, 1 - i / (rate / 2))
            frames += struct.pack("<h", int(6000 * env * math.sin(2 * math.pi * note * i / rate)))
        frames += b"\x00\x00" * (rate // 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
