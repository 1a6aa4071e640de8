"""The composition root: every long-lived object is built here and passed in.

``build_app(settings)`` returns the aiohttp application. Its cleanup context
owns the FastAGI server, the AMI connection, the event pump and the
database engine: they start with the app and stop with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.board import Board
from acd.config import AcdConfig, load_config
from acd.intervals import IntervalWriter
from acd.kpi import KpiService
from acd.routing import Router
from acd.service import AcdService
from crm_bridge import db
from crm_bridge.migrate import upgrade_async
from crm_bridge.services import CrmService
from crm_bridge.tickets import TicketService
from crm_bridge.wrapups import WrapUpStore
from crm_bridge.writer import CallRecordWriter
from cti import ledger, paths, sandbox
from cti.ami import AmiActions, AmiConnection
from cti.api_acd import add_acd_routes
from cti.api_console import add_console_routes
from cti.api_crm import add_crm_routes
from cti.auth import AuthService
from cti.bus import EventBus
from cti.calls import CallTracker
from cti.console import ScreenPops
from cti.controls import CallControls
from cti.core import EventPump
from cti.livestore import LiveCallStore
from cti.settings import ConfigError, Settings
from cti.web import CORE, add_routes, error_middleware
from cti.webhook import WebhookSender
from ivr.agi import AgiServer, hotline_entry, ping
from ivr.menus import load_menus
from ivr.prompts import load_catalogue

log = structlog.get_logger("cti.app")

STATIC_DIR = paths.PROJECT_ROOT / "cti" / "static"


@dataclass
class Core:
    settings: Settings
    bus: EventBus
    tracker: CallTracker
    conn: AmiConnection
    actions: AmiActions
    pump: EventPump
    agi: AgiServer
    engine: AsyncEngine
    database_url: str
    writer: CallRecordWriter
    crm: CrmService
    tickets: TicketService
    live_store: LiveCallStore
    acd_config: AcdConfig
    board: Board
    acd: AcdService
    intervals: IntervalWriter
    kpi: KpiService
    auth: AuthService
    pops: ScreenPops
    webhook: WebhookSender | None = None
    schema_ready: bool = False
    static_dir: Path = STATIC_DIR
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def ami_secret(settings: Settings) -> str:
    """The AMI secret: from the settings, else the sandbox's generated one."""
    if settings.ami_secret is not None:
        return settings.ami_secret.get_secret_value()
    creds = sandbox.load_credentials(settings.var_dir / "asterisk" / "ami.json")
    if creds is None:
        raise ConfigError(
            "setting 'ami_secret': not set; set HOTLINE_AMI_SECRET, or start the "
            "sandbox with 'hotline asterisk up' (it generates one)"
        )
    return creds.secret


def build_core(settings: Settings) -> Core:
    bus = EventBus()
    tracker = CallTracker(bus)
    conn = AmiConnection(
        settings.ami_host, settings.ami_port, settings.ami_username, ami_secret(settings),
        action_timeout=settings.ami_action_timeout,
        connect_timeout=settings.ami_connect_timeout,
        ping_interval=settings.ami_ping_interval,
    )
    actions = AmiActions(conn)
    pump = EventPump(conn, actions, tracker, bus)
    acd_config = load_config(settings.acd_config)  # a bad file stops the start here
    menus = load_menus(settings.ivr_menus, queues=set(acd_config.queues),
                       prompts=set(load_catalogue().prompts))
    url = settings.effective_database_url
    engine = db.make_engine(url)
    crm = CrmService(engine, local_area_code=settings.local_area_code)
    agi = AgiServer(settings.agi_host, settings.agi_port)
    tickets = TicketService(engine, zone=settings.site_timezone)
    agi.add_route("hotline", hotline_entry(Router(acd_config, crm), menus, crm,
                                           tickets.find, zone=settings.site_timezone,
                                           on_step=tracker.note_ivr,
                                           booker=tickets.book_installation))
    agi.add_route("ping", ping)
    writer = CallRecordWriter(engine, settings.var_dir / "spool", bus,
                              local_area_code=settings.local_area_code)
    live_store = LiveCallStore(settings.var_dir / "live-calls.json")
    board = Board(acd_config, bus, zone=settings.site_timezone, calls=tracker)
    acd = AcdService(engine, actions, board, acd_config)
    intervals = IntervalWriter(engine, bus)
    kpi = KpiService(engine, zone=settings.site_timezone, thresholds={
        name: q.service_level_seconds for name, q in acd_config.all_queues().items()},
        default_threshold=acd_config.defaults.service_level_seconds)
    webhook = None
    if settings.crm_webhook_url and settings.crm_webhook_secret:
        webhook = WebhookSender(settings.crm_webhook_url,
                                settings.crm_webhook_secret.get_secret_value())
    pops = ScreenPops(bus, tracker, crm, webhook)
    return Core(settings, bus, tracker, conn, actions, pump, agi, engine, url, writer, crm,
                tickets, live_store, acd_config, board, acd, intervals, kpi,
                AuthService(engine), pops, webhook)


async def ensure_schema(core: Core) -> None:
    """Migrate the database to the current schema, retrying while it is down.
    Call records wait in the spool meanwhile."""
    delay = 1.0
    while True:
        try:
            await upgrade_async(core.database_url)
        except Exception as exc:  # any driver error: the database is not there yet
            log.warning("database_upgrade_failed", error=f"{type(exc).__name__}: {exc}"[:300],
                        retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            continue
        core.schema_ready = True
        log.info("database_ready", url=db.describe(core.database_url))
        try:
            core.board.seed_calls_today(await core.acd.calls_today(core.settings.site_timezone))
        except Exception as exc:  # a count for the wallboard: not worth failing over
            log.warning("calls_today_not_read", error=f"{type(exc).__name__}: {exc}"[:200])
        return


def unhandled_resync(core: Core, seen: int) -> int:
    """The AMI session of a resync newer than ``seen``, once the core is in
    sync with Asterisk and the database is ready; else 0."""
    session = core.pump.resynced_session
    return session if session != seen and core.pump.in_sync and core.schema_ready else 0


async def acd_upkeep(core: Core, interval: float = 0.5) -> None:
    """Wrap-ups end on time; after each resync, members Asterisk lost (it
    restarted) are put back as the database remembers them."""
    seen_resync = 0
    while True:
        await asyncio.sleep(interval)
        core.board.tick()
        if session := unhandled_resync(core, seen_resync):
            seen_resync = session
            try:
                await core.acd.reconcile()
            except Exception as exc:  # AMI or database gone again: next resync retries
                log.warning("acd_reconcile_failed", error=f"{type(exc).__name__}: {exc}"[:200])
                seen_resync = 0


async def ledger_upkeep(core: Core, every: float = 60.0) -> None:
    """After each resync, and every ``every`` s: the calls Asterisk's ledger
    has that nobody recorded (see cti.ledger)."""
    seen_resync, last = 0, 0.0
    while True:
        await asyncio.sleep(0.5)
        session = unhandled_resync(core, seen_resync)
        periodic = seen_resync and core.pump.in_sync and time.monotonic() - last >= every
        if not (session or periodic):
            continue
        seen_resync, last = session or seen_resync, time.monotonic()
        resync = core.pump.last_resync or {"at": 0.0}  # set by the resync seen
        resynced_at = float(resync["at"])  # type: ignore[arg-type]
        try:
            done = await ledger.sweep(core.actions, core.tracker, core.bus, core.writer,
                                      core.engine, resynced_at)
        except Exception as exc:  # AMI gone again: the next resync sweeps
            log.warning("ledger_sweep_failed", error=f"{type(exc).__name__}: {exc}"[:200])
            continue
        if done["backfilled"] or done["bad"]:
            log.info("ledger_swept", **done)


async def keep_live_calls(core: Core, interval: float = 0.5) -> None:
    """Save the live calls when they changed, at most every ``interval`` s,
    after spooling the ones that ended (see cti.livestore)."""
    last: tuple[int, int, int] | None = None
    while True:
        await asyncio.sleep(interval)
        mark = (core.pump.events_seen, len(core.tracker.calls), core.tracker.ended_count)
        if mark != last:
            save_live_calls(core)
            last = mark


def save_live_calls(core: Core) -> None:
    try:
        core.writer.spool_pending()
        core.live_store.save(core.tracker.calls.values())
    except OSError as exc:
        log.error("live_calls_not_saved", file=str(core.live_store.path), error=str(exc))


@contextlib.asynccontextmanager
async def running(core: Core) -> AsyncIterator[Core]:
    """Start the FastAGI server, the AMI connection and the background tasks;
    stop them all on the way out, also after a failed start."""
    try:
        restored = core.tracker.restore(core.live_store.load())
        await core.agi.start()
        await core.conn.start()  # raises AmiAuthError on a refused login
        core.tasks.append(asyncio.create_task(core.pump.run(), name="ami-event-pump"))
        core.tasks.append(asyncio.create_task(ensure_schema(core), name="database-schema"))
        core.tasks.append(asyncio.create_task(core.writer.run(), name="call-record-writer"))
        core.tasks.append(asyncio.create_task(keep_live_calls(core), name="live-call-store"))
        core.tasks.append(asyncio.create_task(core.intervals.run(), name="agent-intervals"))
        core.tasks.append(asyncio.create_task(acd_upkeep(core), name="acd-upkeep"))
        core.tasks.append(asyncio.create_task(ledger_upkeep(core), name="ledger-upkeep"))
        if core.webhook is not None:
            core.tasks.append(asyncio.create_task(core.webhook.run(), name="crm-webhook"))
        log.info("core_started", ami=f"{core.settings.ami_host}:{core.settings.ami_port}",
                 database=db.describe(core.database_url), agi_port=core.agi.port,
                 restored_calls=restored)
        yield core
    finally:
        for task in core.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if core.tasks:  # started: the calls still up are carried over to the next run
            save_live_calls(core)
        core.writer.close()
        await core.pops.close()
        await core.conn.close()
        await core.agi.close()
        await core.engine.dispose()


async def _core_ctx(app: web.Application) -> AsyncIterator[None]:
    async with running(app[CORE]):
        yield


def web_app(core: Core) -> web.Application:
    """Every route of the server, on ``core`` (which the caller runs)."""
    app = web.Application(middlewares=[error_middleware])
    app[CORE] = core
    add_routes(app)
    add_crm_routes(app, core.crm, core.tickets)
    add_acd_routes(app, core.acd, core.kpi)
    add_console_routes(app, core.auth, core.pops, core.acd, core.tickets,
                       WrapUpStore(core.engine),
                       CallControls(core.actions, core.tracker, core.board, core.acd_config,
                                    core.pops))
    app.router.add_static("/static/", STATIC_DIR, show_index=False)
    return app


def build_app(settings: Settings, core: Core | None = None) -> web.Application:
    app = web_app(core or build_core(settings))
    app.cleanup_ctx.append(_core_ctx)
    return app
