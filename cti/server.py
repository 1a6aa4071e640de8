"""The composition root: every long-lived object is built here and passed in,
every bus subscription is made here, every background task is started here.

* :func:`build_core` builds the objects (nothing runs yet).
* :func:`subscriptions` is the whole wiring of the bus: each feature's table
  (its ``bus_consume.py``), subscribed in :func:`running`.
* :func:`tasks` is every background task; :func:`running` starts and stops
  them with the AMI connection and the FastAGI server.
* :func:`web_app` adds each feature's routes (its ``http.py``).

What one feature needs of another is handed over here as an object that
fits the Protocol the needing feature declares (acd -> the service
database's agents, the console -> the ACD's agent states, the IVR -> the
ACD's routing ...); features never import each other. docs/architecture.md
draws it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

import acd.bus_consume
import acd.http
import crm_bridge.bus_consume
import crm_bridge.http
import cti.console.bus_consume
import cti.console.http
import cti.outbound.bus_consume
import cti.outbound.http
import cti.supervisor.bus_consume
import cti.supervisor.http
import cti.web.health
import cti.web.live
import cti.web.metrics
import cti.web.sessions
import ivr.http
from acd.board import Board
from acd.config import FALLBACK_QUEUE, AcdConfig, load_config
from acd.kpi import KpiService
from acd.notifier import AcdNotifier
from acd.routing import Router
from acd.services import AcdService
from acd.tally import QueueTally
from crm_bridge import ledger
from crm_bridge.accounts import Accounts
from crm_bridge.agents import AgentDirectory
from crm_bridge.callbacks import Callbacks
from crm_bridge.campaigns import Campaigns
from crm_bridge.cards import CallCards
from crm_bridge.db import Database, Engine, describe
from crm_bridge.dnc import DoNotCallList, callable_number
from crm_bridge.intervals import IntervalWriter
from crm_bridge.recordings import Recordings
from crm_bridge.reports import ReportRows
from crm_bridge.services import CrmService
from crm_bridge.surveys import FollowUps, Surveys
from crm_bridge.tickets import TicketService
from crm_bridge.webhook import WebhookSender
from crm_bridge.wrapups import WrapUps
from crm_bridge.writer import CallRecordWriter
from cti.agi import AgiServer, ping
from cti.ami import AmiActions, AmiConnection
from cti.bus import EventBus, Handler, Subscription
from cti.calls import events as ev
from cti.calls.agents import AgentEvents
from cti.calls.events import Resynced
from cti.calls.livestore import Capture, LiveCallStore
from cti.calls.tracker import CallTracker
from cti.config.credentials import load_credentials
from cti.config.settings import ConfigError, Settings
from cti.console.controls import CallControls
from cti.console.notifier import ConsoleNotifier
from cti.console.services import ScreenPops, WrapUp
from cti.monitor import LoopMonitor
from cti.outbound.campaigns import CampaignDesk
from cti.outbound.config import load_outbound
from cti.outbound.dialer import Dialer
from cti.outbound.offers import Offers
from cti.outbound.services import Booking, Owed
from cti.pump import EventPump
from cti.supervisor.services import SpyService
from cti.tasks import uncancelled
from cti.web.app import App, new_app
from cti.web.client import HttpPoster
from cti.web.health import Health
from cti.web.metrics import Metrics
from cti.web.sessions import SessionService
from ivr.callback import callback_entry
from ivr.menus import load_menus
from ivr.prompts import load_catalogue
from ivr.report import IvrReport
from ivr.services import hotline_entry
from ivr.survey import survey_entry

log = structlog.get_logger("cti.server")

STATIC: dict[str, Path] = {  # served at /static/<name>/
    "web": cti.web.sessions.STATIC, "console": cti.console.http.STATIC,
    "supervisor": cti.supervisor.http.STATIC, "outbound": cti.outbound.http.STATIC}
LEDGER_SWEEP_EVERY = 60.0  # s, between the sweeps after each resync


@dataclass
class Core:
    settings: Settings
    bus: EventBus
    tracker: CallTracker
    agent_events: AgentEvents
    conn: AmiConnection
    actions: AmiActions
    pump: EventPump
    agi: AgiServer
    loop_monitor: LoopMonitor
    database: Database
    writer: CallRecordWriter
    live_store: LiveCallStore
    crm: CrmService
    cards: CallCards
    tickets: TicketService
    acd_config: AcdConfig
    board: Board
    acd: AcdService
    intervals: IntervalWriter
    kpi: KpiService
    ivr_report: IvrReport
    sessions: SessionService
    accounts: Accounts
    spy: SpyService
    recordings: Recordings
    dnc: DoNotCallList
    callbacks: Callbacks
    surveys: Surveys
    campaigns: Campaigns
    campaign_desk: CampaignDesk
    owed: Owed
    owed_calls: Subscription
    dialer: Dialer
    callback_progress: Subscription
    offers: Offers
    metrics: Metrics
    notifier: ConsoleNotifier
    pops: ScreenPops
    controls: CallControls
    wrap_up: WrapUp[Any]
    poster: HttpPoster
    webhook: WebhookSender | None = None
    database_ready: asyncio.Event = field(default_factory=asyncio.Event)
    running_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def engine(self) -> Engine:
        return self.database.engine

    @property
    def database_url(self) -> str:
        return self.database.url

    @property
    def schema_ready(self) -> bool:
        return self.database.ready


def ami_secret(settings: Settings) -> str:
    """The AMI secret: from the settings, else the one a local sandbox generated."""
    if settings.ami_secret is not None:
        return settings.ami_secret.get_secret_value()
    creds = load_credentials(settings.var_dir / "asterisk" / "ami.json")
    if creds is None:
        raise ConfigError(
            "setting 'ami_secret': not set; set HOTLINE_AMI_SECRET, or start the "
            "sandbox with 'hotline asterisk up' (it generates one)"
        )
    return creds.secret


def build_core(settings: Settings) -> Core:
    """Every long-lived object, built once and handed to what needs it."""
    zone = settings.site_timezone
    # the core: AMI in, domain events out
    bus = EventBus()
    tracker = CallTracker(bus)
    agent_events = AgentEvents(bus)
    conn = AmiConnection(
        settings.ami_host, settings.ami_port, settings.ami_username, ami_secret(settings),
        action_timeout=settings.ami_action_timeout,
        connect_timeout=settings.ami_connect_timeout,
        ping_interval=settings.ami_ping_interval,
    )
    actions = AmiActions(conn)
    pump = EventPump(conn, actions, tracker, agent_events, bus)
    agi = AgiServer(settings.agi_host, settings.agi_port)
    # the config files: a bad one stops the start here
    acd_config = load_config(settings.acd_config)
    menus = load_menus(settings.ivr_menus, queues=set(acd_config.queues),
                       prompts=set(load_catalogue().prompts))
    # the service database
    database = Database(settings.effective_database_url,
                        pool_size=settings.database_pool_size,
                        max_overflow=settings.database_max_overflow,
                        pool_timeout=settings.database_pool_timeout)
    engine = database.engine
    crm = CrmService(engine, local_area_code=settings.local_area_code, zone=zone)
    cards = CallCards(crm)
    tickets = TicketService(engine, zone=zone)
    writer = CallRecordWriter(engine, settings.var_dir / "spool",
                              bus.queue(*crm_bridge.bus_consume.CALL_RECORDS, maxsize=0),
                              local_area_code=settings.local_area_code)
    intervals = IntervalWriter(engine, bus.queue(
        *crm_bridge.bus_consume.AGENT_INTERVALS,
        maxsize=crm_bridge.bus_consume.AGENT_INTERVALS_HELD))
    reports = ReportRows(engine)
    poster = HttpPoster()
    webhook = None
    if settings.crm_webhook_url and settings.crm_webhook_secret:
        webhook = WebhookSender(settings.crm_webhook_url,
                                settings.crm_webhook_secret.get_secret_value(), poster)
    # the ACD
    board = Board(acd_config, AcdNotifier(bus), zone=zone, calls=tracker)
    tally = QueueTally({name: q.service_level_seconds
                        for name, q in acd_config.all_queues().items()}, zone=zone)
    acd_service = AcdService(AgentDirectory(engine), actions, board, acd_config, tally)
    kpi = KpiService(reports, zone=zone, thresholds={
        name: q.service_level_seconds for name, q in acd_config.all_queues().items()},
        default_threshold=acd_config.defaults.service_level_seconds)
    # the IVR: its FastAGI route, routed by the ACD, looking callers up in the database
    agi.add_route("hotline", hotline_entry(Router(acd_config, crm), menus, cards, tickets.find,
                                           zone=zone, on_step=tracker.note_ivr,
                                           booker=tickets.book_installation))
    agi.add_route("ping", ping)
    # the console
    notifier = ConsoleNotifier(bus, webhook)
    pops = ScreenPops(tracker, cards, notifier, acd_service)
    controls = CallControls(actions, tracker, acd_service, set(acd_config.queues), pops)
    accounts = Accounts(engine)
    dnc = DoNotCallList(engine, local_area_code=settings.local_area_code)
    # callbacks: owed as calls end, offered in the queue, dialled in their place
    callbacks = Callbacks(engine, local_area_code=settings.local_area_code)
    outbound = load_outbound(settings.outbound_config)
    dialer = Dialer(callbacks, actions, dnc, outbound, settings.site_timezone,
                    default_queue=FALLBACK_QUEUE)
    offers = Offers(board, tracker, actions, dnc,
                    {name: (q.callback_offer_after, q.callback_offer_every)
                     for name, q in acd_config.all_queues().items()
                     if q.callback_offer_after is not None}, dialer.is_open)
    agi.add_route("callback", callback_entry(Booking(callbacks, dnc, callable_number,
                                                     dialer.wake), menus))
    # 回访: a closed repair or installation owes a follow-up call; surveys answered
    surveys = Surveys(engine)
    follow_ups = FollowUps(engine, callbacks,
                           after=dt.timedelta(hours=outbound.follow_up.after_hours),
                           queue=outbound.follow_up.queue)
    tickets.on_closed.append(follow_ups.on_ticket_closed)
    agi.add_route("survey", survey_entry(surveys, menus))
    # survey campaigns: preview calls agent by agent
    campaigns = Campaigns(engine, local_area_code=settings.local_area_code)
    campaign_desk = CampaignDesk(campaigns, actions, dnc, acd_service, crm, dialer.is_open)
    sessions = SessionService(accounts, on_sign_out=[acd_service.leave_queues])
    # /metrics: counted as things happen, the rest read when scraped
    loop_monitor = LoopMonitor()

    def reading() -> dict[str, Any]:
        event_lag, loop_lag, queues = pump.event_lags.stats(), loop_monitor.lags.stats(), \
            bus.queue_stats()
        return {"ami_sessions": conn.session, "ami_connected": conn.connected,
                "event_lag_p99": (event_lag["p99"] or 0.0) / 1000,
                "loop_lag_p99": (loop_lag["p99"] or 0.0) / 1000,
                "bus_deepest": queues["deepest"], "bus_dropped": queues["dropped"],
                "spool_bytes": writer.backlog, "records_written": writer.written,
                "agi_requests": agi.requests, "agi_failures": agi.failures,
                "live_calls": len(tracker.calls)}

    metrics = Metrics(reading, settings.metrics_token.get_secret_value()
                      if settings.metrics_token else None)
    pops.pop_observers.append(metrics.on_pop)
    return Core(settings=settings, bus=bus, tracker=tracker, agent_events=agent_events,
                conn=conn, actions=actions, pump=pump, agi=agi, loop_monitor=loop_monitor,
                metrics=metrics,
                database=database,
                writer=writer, live_store=LiveCallStore(settings.var_dir / "live-calls.json"),
                crm=crm, cards=cards, tickets=tickets, acd_config=acd_config, board=board,
                acd=acd_service,
                intervals=intervals, kpi=kpi, ivr_report=IvrReport(reports, zone=zone),
                sessions=sessions, accounts=accounts,
                spy=SpyService(actions, tracker, acd_service, accounts),
                recordings=Recordings(engine, settings.effective_recordings_dir,
                                      settings.recording_retention_days),
                dnc=dnc, callbacks=callbacks, surveys=surveys, campaigns=campaigns,
                campaign_desk=campaign_desk,
                owed=Owed(callbacks, dnc,
                          {name: q.callback_after_abandon
                           for name, q in acd_config.all_queues().items()}, callable_number),
                owed_calls=bus.queue(*cti.outbound.bus_consume.CALLS_ENDED,
                                     maxsize=cti.outbound.bus_consume.CALLS_ENDED_HELD),
                dialer=dialer, offers=offers,
                callback_progress=bus.queue(*cti.outbound.bus_consume.CALLBACK_PROGRESS,
                                            maxsize=0),
                notifier=notifier, pops=pops,
                controls=controls,
                wrap_up=WrapUp(pops, WrapUps(engine, tickets)), poster=poster,
                webhook=webhook)


# ---------------------------------------------------------------------- the wiring
def subscriptions(core: Core) -> list[tuple[str, Handler]]:
    """Every handler on the bus, feature by feature (each table is the
    feature's ``bus_consume.py``). The call-record and interval writers
    have their own queued subscriptions (built in :func:`build_core`);
    websockets subscribe while they are open."""
    return [
        *acd.bus_consume.subscriptions(core.board, core.acd.tally),
        *cti.supervisor.bus_consume.subscriptions(core.spy),
        *cti.console.bus_consume.subscriptions(core.pops, core.controls),
        *crm_bridge.bus_consume.subscriptions(core.cards, core.recordings),
        (ev.CALL_ENDED, core.metrics.on_call_ended),
    ]


def tasks(core: Core) -> dict[str, Coroutine[Any, Any, None]]:
    """Every background task, by name."""
    bus = core.bus
    out: dict[str, Coroutine[Any, Any, None]] = {
        "ami-event-pump": core.pump.run(),
        "loop-monitor": core.loop_monitor.run(),
        "database-schema": migrate(core),
        "call-record-writer": core.writer.run(),
        "agent-intervals": core.intervals.run(),
        "live-call-store": keep_live_calls(core),
        "board-clock": board_clock(core),
        "recordings-sweep": core.recordings.keep_swept(),
        "callbacks-owed": core.owed.run(core.owed_calls),
        "callback-dialer": dialing(core),
        "callback-progress": core.dialer.run_progress(core.callback_progress),
        "callback-offers": core.offers.run(),
        "callbacks-after-resync": after_resync(
            core, bus.queue(ev.ASTERISK_RESYNCED, maxsize=1), "callbacks_reconcile",
            lambda c, _: c.dialer.reconcile()),
        "acd-after-database": after_database(core, seed_today),
        "acd-after-resync": after_resync(core, bus.queue(ev.ASTERISK_RESYNCED, maxsize=1),
                                         "acd_reconcile", reconcile_members),
        "ledger-sweeps": ledger_sweeps(core, bus.queue(ev.ASTERISK_RESYNCED, maxsize=1)),
    }
    if core.webhook is not None:
        out["crm-webhook"] = run_webhook(core.poster, core.webhook)
    return out


# ---------------------------------------------------------------------- the tasks
async def migrate(core: Core) -> None:
    """The service database's schema; then what waits for it can go on."""
    await core.database.migrate()
    core.database_ready.set()


async def seed_today(core: Core) -> None:
    """What the wallboard and the agent board count for today so far, from the
    records: each queue's KPIs, each agent's calls and handling time."""
    calls, by_agent = await core.kpi.today_so_far()
    core.acd.tally.seed((c.linkedid, c.started_at.timestamp(), c) for c in calls)
    core.board.seed_today(by_agent)


async def reconcile_members(core: Core, resync: Resynced) -> None:
    """Members Asterisk lost (it restarted) put back as the database remembers them."""
    await core.acd.reconcile()


async def after_database(core: Core, job: Callable[[Core], Awaitable[None]]) -> None:
    await core.database_ready.wait()
    try:
        await uncancelled(job(core))
    except Exception as exc:  # a count for the wallboard: not worth failing over
        log.warning("calls_today_not_read", error=f"{type(exc).__name__}: {exc}"[:200])


async def dialing(core: Core) -> None:
    """The callback dialler, once the database is ready."""
    await core.database_ready.wait()
    await core.dialer.run()


async def after_resync(core: Core, resyncs: Subscription, what: str,
                       job: Callable[[Core, Resynced], Awaitable[None]]) -> None:
    """``job`` after each resync (the newest, if several came meanwhile), once
    the database is ready; retried with backoff while that AMI session lasts."""
    async for _, resync in resyncs:
        await core.database_ready.wait()
        delay = 0.5
        while core.pump.in_sync and core.pump.resynced_session == resync.session:
            try:
                await uncancelled(job(core, resync))  # a query is not cut half-way
                break
            except Exception as exc:  # AMI or database gone again: retry, or the next resync
                log.warning(f"{what}_failed", error=f"{type(exc).__name__}: {exc}"[:200],
                            retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


async def ledger_sweeps(core: Core, resyncs: Subscription,
                        every: float = LEDGER_SWEEP_EVERY) -> None:
    """After each resync, and every ``every`` s while in sync: the tracked
    calls Asterisk no longer has ended (their hangup was never seen: memory
    stays bounded), then the calls Asterisk's ledger has that nobody recorded
    (crm_bridge/ledger.py)."""
    swept = False
    while True:
        resynced = await resyncs.wait(every if swept else None)
        while resyncs.get_nowait() is not None:
            pass
        if not core.pump.in_sync or not (resynced or swept):
            continue
        await core.database_ready.wait()
        resync = core.pump.last_resync or {"at": 0.0}
        swept = True
        try:
            if not resynced:  # a resync has just done it
                await core.pump.sweep_gone()
            done = await ledger.sweep(core.actions, core.tracker, core.bus, core.writer,
                                      core.engine, float(resync["at"]))  # type: ignore[arg-type]
        except Exception as exc:  # AMI gone again: the next resync sweeps
            log.warning("ledger_sweep_failed", error=f"{type(exc).__name__}: {exc}"[:200])
            continue
        if done["backfilled"] or done["bad"]:
            log.info("ledger_swept", **done)


async def board_clock(core: Core, interval: float = 0.25) -> None:
    """Wrap-ups end on time on the board (app_queue offers calls again then),
    and the queues that changed go to the wallboards."""
    beat = 0
    while True:
        await asyncio.sleep(interval)
        core.board.tick()
        core.board.flush_queues()
        beat += 1
        if beat % 2 == 0:  # twice a second: a wallboard is never a second stale
            core.board.notifier.wallboard_changed(core.acd.wallboard)


async def keep_live_calls(core: Core, interval: float = 0.5) -> None:
    """Save the live calls when they changed, at most every ``interval`` s,
    after spooling the ones that ended (see cti/calls/livestore.py). Only the
    changed calls are serialised; the disk work is in worker threads."""
    first = True
    while True:
        await asyncio.sleep(interval)
        changed = core.tracker.take_changed()
        if not changed and not first:
            continue
        try:
            await save_live_calls(core, None if first else changed)
            first = False
        except OSError as exc:
            log.error("live_calls_not_saved", file=str(core.live_store.path), error=str(exc))
            core.tracker.changed |= changed  # tried again next time


async def save_live_calls(core: Core, changed: set[str] | None) -> None:
    """The calls that ended are spooled and the live ones captured at the same
    instant; the snapshot is written once they are spooled."""
    snapshot: Capture | None = None

    def capture() -> None:
        nonlocal snapshot
        snapshot = core.live_store.capture(core.tracker.calls, changed)

    await core.writer.spool_pending(at_once=capture)
    if snapshot is not None:
        await core.live_store.write(snapshot)


async def run_webhook(poster: HttpPoster, webhook: WebhookSender) -> None:
    async with poster.running():
        await webhook.run()


# ---------------------------------------------------------------------- start and stop
@contextlib.asynccontextmanager
async def running(core: Core) -> AsyncIterator[Core]:
    """Start the FastAGI server, the AMI connection, the subscriptions and the
    background tasks; stop them all on the way out, also after a failed start."""
    unsubscribe = [core.bus.subscribe(topic, handler) for topic, handler in subscriptions(core)]
    try:
        restored = core.tracker.restore(core.live_store.load())
        await core.agi.start()
        await core.conn.start()  # raises AmiAuthError on a refused login
        for name, coro in tasks(core).items():
            core.running_tasks.append(asyncio.create_task(coro, name=name))
        log.info("core_started", ami=f"{core.settings.ami_host}:{core.settings.ami_port}",
                 database=describe(core.database.url), agi_port=core.agi.port,
                 restored_calls=restored, tasks=len(core.running_tasks),
                 subscriptions=len(unsubscribe))
        yield core
    finally:
        for task in core.running_tasks:  # the writer's stop spools the calls that ended
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if core.running_tasks:  # started: the calls still up are carried over to the next run
            try:
                await core.live_store.write(core.live_store.capture(core.tracker.calls))
            except OSError as exc:
                log.error("live_calls_not_saved", file=str(core.live_store.path), error=str(exc))
        for undo in unsubscribe:
            undo()
        core.writer.close()
        await core.pops.close()
        await core.spy.close()
        await core.dialer.close()
        await core.offers.close()
        await core.campaign_desk.close()
        await core.recordings.close()
        await core.cards.close()
        await core.conn.close()
        await core.agi.close()
        await core.database.close()


# ---------------------------------------------------------------------- the web
def web_app(core: Core) -> App:
    """Every route of the server, on ``core`` (which the caller runs)."""
    app = new_app(STATIC, core.settings.trusted_origins, audit=core.accounts)

    async def database() -> dict[str, Any]:
        return await core.database.health(call_records={
            "spooled_bytes": core.writer.backlog, "written": core.writer.written})

    cti.web.health.add_routes(app, Health(core.conn, core.pump, core.tracker, core.agi,
                                          core.loop_monitor, {"database": database}))
    cti.web.live.add_routes(app, core.bus, core.tracker)
    cti.web.sessions.add_routes(app, core.sessions)
    crm_bridge.http.add_routes(app, core.crm, core.tickets, core.accounts,
                               core.settings.site_timezone, core.recordings,
                               core.dnc, core.callbacks, core.surveys)
    acd.http.add_routes(app, core.bus, core.acd, core.kpi)
    ivr.http.add_routes(app, core.ivr_report)
    cti.console.http.add_routes(app, core.bus, core.pops, core.wrap_up, core.controls, core.acd)
    cti.supervisor.http.add_routes(app, core.spy)
    cti.outbound.http.add_routes(app, core.campaigns, core.campaign_desk)
    cti.web.metrics.add_routes(app, core.metrics)
    return app


def build_app(settings: Settings, core: Core | None = None) -> App:
    core = core or build_core(settings)
    app = web_app(core)

    async def ctx(_: App) -> AsyncIterator[None]:
        async with running(core):
            yield

    app.cleanup_ctx.append(ctx)
    return app

