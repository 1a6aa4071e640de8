"""``hotline``: the one console script.

    hotline serve [--config FILE]
    hotline asterisk up | down | status | cli "<command>"
    hotline simulate [--agents N] [--calls-per-minute R] [--duration S]
    hotline db upgrade | seed --demo
    hotline demo start | stop

Errors end with an exit code and one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cti.config import paths

if TYPE_CHECKING:
    from cti.config.settings import Settings

EXIT_CONFIG = 2
EXIT_AMI_AUTH = 3
EXIT_RUNTIME = 4
EXIT_SANDBOX = 5


def _fail(code: int, message: str) -> int:
    print(f"hotline: {message}", file=sys.stderr)
    return code


# ---------------------------------------------------------------------- serve
async def _serve(settings: Settings) -> None:
    import structlog
    from aiohttp import web

    from cti.config import scheduling
    from cti.server import build_app

    # first, from the loop's thread, before any other thread is started (said
    # once the server runs: a start that fails prints its one line only)
    policy, why = scheduling.apply(settings.loop_scheduling)
    app = build_app(settings)  # ConfigError if there is no AMI secret
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()  # starts the core: may raise AmiAuthError
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        host = settings.http_host if settings.http_host not in ("0.0.0.0", "::") else "127.0.0.1"
        port = runner.addresses[0][1] if runner.addresses else settings.http_port
        log = structlog.get_logger("cti.server")
        if why:
            log.warning("loop_scheduling", policy=policy, wanted=settings.loop_scheduling,
                        reason=why)
        else:
            log.info("loop_scheduling", policy=policy)
        print(f"hotline: serving on http://{host}:{port}/  (health: http://{host}:{port}/healthz)",
              file=sys.stderr, flush=True)
        # what start-up built (modules, settings, menus ...) lives as long as
        # the process: out of the garbage collector's way, so its full
        # collections walk only the objects of calls (they took 100-300 ms
        # under load, a pause for every call on the loop)
        gc.collect()
        gc.freeze()
        await stop.wait()
    finally:
        await runner.cleanup()


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop (libuv) where it is installed: the same asyncio, with
    less of each call's CPU spent in the loop itself; else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def cmd_serve(args: argparse.Namespace) -> int:
    from cti.ami import AmiAuthError
    from cti.config.logs import configure_logging
    from cti.config.settings import load_settings

    settings = load_settings(args.config)
    configure_logging(settings.log_level, settings.log_format)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(_serve(settings))
    except AmiAuthError as exc:
        return _fail(EXIT_AMI_AUTH, str(exc))
    except OSError as exc:
        return _fail(EXIT_RUNTIME, f"cannot start: {exc}")
    return 0


# ---------------------------------------------------------------------- asterisk
def cmd_asterisk(args: argparse.Namespace) -> int:
    from cti.tools.sandbox import Sandbox, SandboxError

    box = Sandbox()
    try:
        if args.action == "up":
            creds = box.up()
            print(f"Asterisk sandbox up; AMI {creds.username}@{creds.host}:{creds.port} "
                  f"(secret in {box.credentials_file})")
        elif args.action == "down":
            box.down()
            print("Asterisk sandbox stopped")
        elif args.action == "status":
            st = box.status()
            print(json.dumps(st, indent=2))
            return 0 if st["running"] else 1
        elif args.action == "cli":
            if box.pid() is None:
                return _fail(EXIT_SANDBOX, "the Asterisk sandbox is not running "
                                           "(hotline asterisk up)")
            sys.stdout.write(box.cli(" ".join(args.command)))
        elif args.action == "kill":
            box.kill()
    except SandboxError as exc:
        return _fail(EXIT_SANDBOX, str(exc).splitlines()[0] if not args.verbose else str(exc))
    return 0


# ---------------------------------------------------------------------- simulate
def cmd_simulate(args: argparse.Namespace) -> int:
    from cti.ami import AmiAuthError, AmiError
    from cti.config.logs import configure_logging
    from cti.config.settings import load_settings
    from cti.tools.demo import passwords_file
    from cti.tools.simulator import read_passwords, run_simulator

    settings = load_settings(args.config)
    configure_logging(settings.log_level, settings.log_format)
    path = args.passwords or passwords_file(settings)
    try:
        passwords = read_passwords(path)
    except OSError as exc:
        return _fail(EXIT_CONFIG, f"simulator: the agents' passwords ({path}): {exc.strerror}; "
                     "`hotline demo start` makes them")
    async def simulate() -> None:
        # SIGTERM (`hotline demo stop`) ends it like ^C: its agents log out and
        # the simulated phones' settings go back to Asterisk's defaults
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await run_simulator(settings, agents=args.agents, rate=args.calls_per_minute,
                                duration=args.duration, talk=args.talk, passwords=passwords,
                                ring=args.ring, no_answer=args.no_answer)

    try:
        asyncio.run(simulate())
    except AmiAuthError as exc:
        return _fail(EXIT_AMI_AUTH, str(exc))
    except AmiError as exc:
        return _fail(EXIT_RUNTIME, f"simulator: {exc}")
    except KeyboardInterrupt:
        pass
    return 0


# ---------------------------------------------------------------------- db
def cmd_db(args: argparse.Namespace) -> int:
    from crm_bridge import db
    from crm_bridge.migrate import upgrade
    from cti.config.settings import load_settings

    settings = load_settings(args.config)
    url = settings.effective_database_url
    try:
        upgrade(url)
    except Exception as exc:  # the driver's own error, in one line
        return _fail(EXIT_RUNTIME, f"database {db.describe(url)}: {type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''}")
    if args.action == "upgrade":
        print(f"database {db.describe(url)} is at the current schema")
        return 0
    if not args.demo:
        return _fail(EXIT_CONFIG, "db seed: say --demo (the only data set there is)")
    from crm_bridge.seed import seed_demo

    async def go() -> int:
        engine = db.make_engine(url)
        try:
            result = await seed_demo(engine, customers=args.customers)
        except ValueError as exc:
            if args.if_empty:
                print(f"database {db.describe(url)}: {exc}; left as it is")
                return 0
            return _fail(EXIT_CONFIG, f"db seed: {exc}")
        finally:
            await engine.dispose()
        print(f"seeded {db.describe(url)}: {result.customers} customers, {result.phones} "
              f"phone numbers, {result.appliances} appliances, {result.outlets} service "
              f"outlets, {result.tickets} tickets, {result.agents} agents")
        return 0

    return asyncio.run(go())


# ---------------------------------------------------------------------- users
def _read_password(what: str) -> str | None:
    """From HOTLINE_PASSWORD (or the older HOTLINE_AGENT_PASSWORD), else asked
    for twice on a terminal, else one line of stdin. Never an argument (it
    would sit in the shell history and the process list). None: the two
    typed differ."""
    import getpass
    import os

    password = os.environ.get("HOTLINE_PASSWORD", os.environ.get("HOTLINE_AGENT_PASSWORD"))
    if password is None and sys.stdin.isatty():
        password = getpass.getpass(f"new password for {what}: ")
        if getpass.getpass("again: ") != password:
            return None
    elif password is None:
        password = sys.stdin.readline().rstrip("\n")
    return password


def _with_accounts(config: Path | None, job: Callable[[Any], Awaitable[str]],
                   what: str) -> int:
    """Run ``job(accounts)`` on the service database (migrated first); print
    what it says, or the refusal on one line of stderr."""
    from crm_bridge import db
    from crm_bridge.accounts import Accounts
    from crm_bridge.migrate import upgrade
    from cti.config.settings import load_settings
    from cti.errors import DomainError

    settings = load_settings(config)
    url = settings.effective_database_url
    upgrade(url)

    async def go() -> int:
        engine = db.make_engine(url)
        try:
            print(await job(Accounts(engine)))
        except DomainError as exc:
            return _fail(EXIT_CONFIG, f"{what}: {exc}")
        finally:
            await engine.dispose()
        return 0

    return asyncio.run(go())


def _set_password(login: str, what: str, config: Path | None,
                  password: str | None = None) -> int:
    from cti.web.sessions import SessionService

    password = password if password is not None else _read_password(f"{what} {login}")
    if password is None:
        return _fail(EXIT_CONFIG, f"{what} password: the two passwords differ")

    async def job(accounts: Any) -> str:
        await SessionService(accounts).set_password(login, password)
        return f"{what} {login}: password set; their open sessions are signed out"

    return _with_accounts(config, job, f"{what} password")


def cmd_agent(args: argparse.Namespace) -> int:
    """Set an agent's console password (makes the agent's user if needed)."""
    return _set_password(args.code, "agent", args.config)


def cmd_user(args: argparse.Namespace) -> int:
    """``user add LOGIN --name N --role R [--agent CODE]`` (then asks for the
    password), ``user password LOGIN``, ``user role LOGIN ROLE``,
    ``user deactivate LOGIN``, ``user list``."""
    from cti.roles import Role

    if args.action in ("add", "password", "role", "deactivate") and not args.login:
        return _fail(EXIT_CONFIG, f"user {args.action}: give the login")
    if args.action == "add":
        if not args.role or not args.name:
            return _fail(EXIT_CONFIG, "user add: give --name and --role")
        from cti.web.sessions import MIN_PASSWORD

        password = None
        if not args.no_password:  # asked first: a refused password adds nobody
            password = _read_password(f"user {args.login}")
            if password is None:
                return _fail(EXIT_CONFIG, "user add: the two passwords differ")
            if len(password) < MIN_PASSWORD:
                return _fail(EXIT_CONFIG, f"user add: password: at least {MIN_PASSWORD} "
                             "characters")

        async def add(accounts: Any) -> str:
            user = await accounts.add_user(args.login, args.name, Role(args.role), args.agent)
            agent = f", takes calls as agent {user['agent']}" if user["agent"] else ""
            return f"user {args.login} added: {args.role}{agent}"

        code = _with_accounts(args.config, add, "user add")
        if code != 0 or password is None:
            return code
        return _set_password(args.login, "user", args.config, password)
    if args.action == "password":
        return _set_password(args.login, "user", args.config)
    if args.action == "role":
        if args.value not in [r.value for r in Role]:
            return _fail(EXIT_CONFIG, f"user role: {args.value!r} is not one of "
                         f"{', '.join(r.value for r in Role)}")

        async def role(accounts: Any) -> str:
            await accounts.update_user(args.login, role=Role(args.value))
            return f"user {args.login}: now {args.value}; their open sessions are signed out"

        return _with_accounts(args.config, role, "user role")
    if args.action == "deactivate":
        async def deactivate(accounts: Any) -> str:
            await accounts.update_user(args.login, active=False)
            return f"user {args.login}: deactivated; their open sessions are signed out"

        return _with_accounts(args.config, deactivate, "user deactivate")

    async def listing(accounts: Any) -> str:
        rows = await accounts.users()
        return "\n".join(f"{u['login']:<16} {u['role']:<11} {u['name']}"
                         f"{'  agent ' + u['agent'] if u['agent'] else ''}"
                         f"{'' if u['active'] else '  (inactive)'}"
                         f"{'' if u['has_password'] else '  (no password)'}"
                         for u in rows) or "no users"

    return _with_accounts(args.config, listing, "user list")


# ---------------------------------------------------------------------- acd
def cmd_acd(args: argparse.Namespace) -> int:
    """Render Asterisk's queues and penalty rules from the ACD config (or,
    with --check, say whether the files on disk are what it renders)."""
    from acd.config import load_config, rendered_files
    from cti.config.settings import load_settings

    settings = load_settings(args.config)
    cfg = load_config(settings.acd_config)
    target = args.conf_dir
    stale = []
    for rel, text in rendered_files(cfg).items():
        path = target / rel
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(str(path))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        return _fail(EXIT_CONFIG, f"acd render --check: not what {settings.acd_config} "
                                  f"renders: {', '.join(stale)} (run 'hotline acd render')")
    if not stale:
        print(f"{target}: queues and rules are what {settings.acd_config} renders")
    return 0


# ---------------------------------------------------------------------- prompts
def cmd_prompts(args: argparse.Namespace) -> int:
    """Build the prompt sound files, or check that none is missing."""
    from cti.config.settings import load_settings
    from cti.tools.sandbox import Sandbox
    from ivr.prompts import PromptError, build, check, load_catalogue

    settings = load_settings(args.config)
    sounds = args.sounds_dir or settings.sounds_dir or \
        Sandbox(settings.var_dir / "asterisk").layout().host_base / "data" / "sounds"
    catalogue = load_catalogue()
    if args.action == "check":
        from ivr.menus import load_menus

        menus = load_menus(settings.ivr_menus)
        problems = check(catalogue, sounds, menus.prompts_used(), menus.longest_prompt)
        for line in problems[:10]:
            print(line, file=sys.stderr)
        if len(problems) > 10:
            print(f"... and {len(problems) - 10} more", file=sys.stderr)
        if problems:
            return _fail(EXIT_CONFIG, f"prompts check: {len(problems)} problems "
                                      f"(missing ones: run 'hotline prompts build')")
        print(f"{sounds}: all {len(catalogue.prompts)} prompts built in "
              f"{', '.join(catalogue.languages)}; every prompt the menus use is there, none "
              f"longer than {menus.longest_prompt:.0f} s")
        return 0

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\rprompts   [{'#' * (done * 30 // total):<30}] {done}/{total}")
            if done == total:
                sys.stderr.write("\n")
        elif done == total or done % 25 == 0:
            sys.stderr.write(f"prompts: {done}/{total}\n")

    try:
        result = build(catalogue, sounds, force=args.force, progress=progress)
    except PromptError as exc:
        return _fail(EXIT_RUNTIME, f"prompts build: {exc}")
    print(f"{sounds}: {result.rendered} rendered, {result.recorded} from recordings, "
          f"{result.unchanged} unchanged ({result.total} sound files)")
    return 0


# ---------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from cti.config.settings import load_settings
    from cti.tools import demo

    settings = load_settings(args.config)
    if args.action == "start":
        return demo.start(settings, calls_per_minute=args.calls_per_minute)
    return demo.stop(settings)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description="After-sales hotline CTI server")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="run the CTI server against the configured Asterisk")
    s.add_argument("--config", type=Path, help="TOML settings file (HOTLINE_* env overrides it)")
    s.set_defaults(func=cmd_serve)

    a = sub.add_parser("asterisk", help="the Asterisk sandbox")
    a.add_argument("action", choices=["up", "down", "status", "cli", "kill"])
    a.add_argument("command", nargs="*", help="for 'cli': the Asterisk CLI command")
    a.add_argument("-v", "--verbose", action="store_true")
    a.set_defaults(func=cmd_asterisk)

    m = sub.add_parser("simulate", help="simulated agents and callers against the sandbox")
    m.add_argument("--config", type=Path)
    m.add_argument("--agents", type=int, default=6, help="the demo agents 8001... to log in")
    m.add_argument("--calls-per-minute", type=float, default=6.0)
    m.add_argument("--duration", type=float, default=0.0, help="seconds; 0 runs until stopped")
    m.add_argument("--talk", type=float, default=20.0, help="seconds each simulated agent talks")
    m.add_argument("--ring", type=float, default=4.0,
                   help="seconds a simulated agent's phone rings before it answers")
    m.add_argument("--no-answer", type=int, default=10, choices=range(0, 101),
                   metavar="PERCENT", help="rings nobody picks up (re-offered to the next)")
    m.add_argument("--passwords", type=Path,
                   help="'login password' lines for the agents (default: the demo's)")
    m.set_defaults(func=cmd_simulate)
    b = sub.add_parser("db", help="the service database")
    b.add_argument("action", choices=["upgrade", "seed"])
    b.add_argument("--demo", action="store_true", help="seed: the demo data set")
    b.add_argument("--customers", type=int, default=300)
    b.add_argument("--if-empty", action="store_true", help="seed: do nothing if not empty")
    b.add_argument("--config", type=Path)
    b.set_defaults(func=cmd_db)

    u = sub.add_parser("user", help="users who sign in: agents, supervisors, admins")
    u.add_argument("action", choices=["add", "password", "role", "deactivate", "list"])
    u.add_argument("login", nargs="?", help="the user's login (an agent's is the agent number)")
    u.add_argument("value", nargs="?", help="role: agent, supervisor or admin")
    u.add_argument("--name", help="add: the name shown on the pages")
    u.add_argument("--role", choices=["agent", "supervisor", "admin"], help="add: the role")
    u.add_argument("--agent", help="add: the agent number this user takes calls as")
    u.add_argument("--no-password", action="store_true", help="add: set the password later")
    u.add_argument("--config", type=Path)
    u.set_defaults(func=cmd_user)

    g = sub.add_parser("agent", help="agents' console accounts")
    g.add_argument("action", choices=["password"])
    g.add_argument("code", help="the agent number, e.g. 8001")
    g.add_argument("--config", type=Path)
    g.set_defaults(func=cmd_agent)

    q = sub.add_parser("acd", help="queues and skills")
    q.add_argument("action", choices=["render"])
    q.add_argument("--check", action="store_true",
                   help="do not write; exit 2 if the files differ from the config")
    q.add_argument("--conf-dir", type=Path, default=paths.asterisk_conf_dir(),
                   help="the Asterisk config dir to write into (default: asterisk-conf/)")
    q.add_argument("--config", type=Path)
    q.set_defaults(func=cmd_acd)

    r = sub.add_parser("prompts", help="the IVR's prompts: build sound files, or check")
    r.add_argument("action", choices=["build", "check"])
    r.add_argument("--force", action="store_true", help="build: render every prompt again")
    r.add_argument("--sounds-dir", type=Path, help="default: the setting, else the sandbox's")
    r.add_argument("--config", type=Path)
    r.set_defaults(func=cmd_prompts)

    d = sub.add_parser("demo", help="run the server and the simulator in the background")
    d.add_argument("action", choices=["start", "stop"])
    d.add_argument("--calls-per-minute", type=float, default=10.0,
                   help="start: how busy the simulated hotline is")
    d.add_argument("--config", type=Path)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "asterisk" and args.action == "cli" and not args.command:
        return _fail(EXIT_CONFIG, "asterisk cli: give the Asterisk CLI command to run")
    from cti.config.settings import ConfigError
    from cti.config.yamlconf import YamlConfigError

    try:
        code: int = args.func(args)
    except (ConfigError, YamlConfigError) as exc:  # a bad setting, from any command
        return _fail(EXIT_CONFIG, f"config error: {exc}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
