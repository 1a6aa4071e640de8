"""Callers walk the IVR in the sandbox: a Local channel whose other side
presses keys with SendDTMF. They reach the queue their keys chose, in their
language, and the call record has the path."""

from __future__ import annotations

import math
from pathlib import Path

from sqlalchemy import insert, select
from structlog.testing import capture_logs

from crm_bridge.models import CallRecord, ServiceOutlet
from cti.server import Core
from cti.tools.sandbox import Sandbox
from tests.integration.conftest import silent_agi_server, wait_async, wait_until

IVR_NUMBER = "Local/4008008000@hotline"


async def walk(core: Core, keys: str, number: str, patience: int = 4) -> dict[str, str]:
    """Call the IVR, press ``keys`` (W: wait a second), stay ``patience``
    seconds after the last key."""
    joined: dict[str, str] = {}
    core.bus.subscribe("queue.joined", lambda t, c: joined.setdefault(
        c.caller_number, c.queue))
    await core.actions.originate(IVR_NUMBER, context="sim-caller", exten="s",
                                 caller_id=f'"测试" <{number}>',
                                 variables={"SIM_DTMF": keys, "SIM_PATIENCE": str(patience)})
    await wait_until(lambda: number in joined, 60, f"the caller pressing {keys} to queue")
    return joined


async def record(core: Core, number: str) -> CallRecord:
    async def written() -> CallRecord | None:
        async with core.engine.connect() as conn:
            row = (await conn.execute(select(CallRecord).where(
                CallRecord.caller_number == number))).first()
        return row  # type: ignore[return-value]

    return await wait_async(written, 30, f"the record of {number}")  # type: ignore[no-any-return]


WALKS = [  # keys (W: a second's pause), queue, language, the path recorded
    ("1WW1WW4", "tv-zh", "zh", "language:1>main:1>products:4"),
    ("2WW1WW1", "english", "en", "language:2>main:1>products:1"),
    ("1WW3", "complaints", "zh", "language:1>main:3"),
    ("2WW0", "english", "en", "language:2>main:0"),
    ("1WW1WW2", "fridge-zh", "zh", "language:1>main:1>products:2"),
    ("1WW2WW1", "general-service", "zh", "language:1>main:2>booking:1"),
    ("1WW1WW1", "ac-zh", "zh", "language:1>main:1>products:1"),
    ("1WW1WW3", "washer-zh", "zh", "language:1>main:1>products:3"),
    ("1WW1WW5", "heater-zh", "zh", "language:1>main:1>products:5"),
]


async def test_keys_lead_to_the_queue_in_the_callers_language(core: Core) -> None:
    """Every branch at once: nine callers walk the menus side by side (as
    they do on a real hotline), each reaches its queue in its language."""
    import asyncio

    def number_of(keys: str) -> str:
        return "1390000" + "".join(c for c in keys if c.isdigit()).ljust(4, "0")[:4]

    joined = await asyncio.gather(*(walk(core, keys, number_of(keys)) for keys, *_ in WALKS))
    rows = await asyncio.gather(*(record(core, number_of(keys)) for keys, *_ in WALKS))
    got = [(keys, j[number_of(keys)], r.language, r.ivr_path, r.queue)
           for (keys, *_), j, r in zip(WALKS, joined, rows, strict=True)]
    want = [(keys, queue, language, path, queue) for keys, queue, language, path in WALKS]
    assert got == want


def prompt_seconds(sandbox: Sandbox, lang: str, *ids: str) -> float:
    """How long the sandbox's rendered prompts play."""
    from ivr.prompts import seconds, sound_file

    sounds = sandbox.layout().host_base / "data" / "sounds"
    return sum(seconds(sound_file(sounds, lang, pid)) for pid in ids)


async def test_a_caller_who_presses_nothing_at_the_language_menu_goes_on_in_mandarin(
    core: Core, sandbox: Sandbox
) -> None:
    from ivr.menus import load_menus

    menus = load_menus()
    # the bilingual menu (each prompt in 中文 then English) and its wait pass
    # without a key; 3 (complaints) is pressed while the main menu plays
    language = menus.menus["language"]
    heard = sum(prompt_seconds(sandbox, lang, *language.prompts) for lang in ("zh", "en"))
    silent = math.ceil(heard + (language.timeout or menus.timeout) + 1.5)
    assert silent + 1 < heard + menus.timeout + prompt_seconds(sandbox, "zh", "main-menu")
    number = "13900008888"
    joined = await walk(core, "W" * silent + "3", number)
    assert joined[number] == "complaints"
    row = await record(core, number)
    assert (row.ivr_path, row.language) == ("language:t>main:3", "zh")


async def test_three_invalid_keys_send_the_caller_to_an_agent(core: Core) -> None:
    number = "13900009999"
    joined = await walk(core, "1WW9WWWW9WWWW9", number, patience=15)
    assert joined[number] == "general-service"
    row = await record(core, number)
    assert row.ivr_path == "language:1>main:9>main:9>main:9"


async def test_with_the_fastagi_server_down_the_caller_still_reaches_the_general_queue(
    core: Core
) -> None:
    from tests.support.postgres import free_port

    await core.actions.setvar("HOTLINE_AGI", f"agi://127.0.0.1:{free_port()}")  # nobody there
    number = "13900007777"
    joined = await walk(core, "", number)
    assert joined[number] == "general-service"
    row = await record(core, number)
    assert row.extra and row.extra["ivr_fallback"] is True


async def test_a_fastagi_server_that_accepts_and_then_says_nothing_costs_the_caller_3_s(
    core: Core
) -> None:
    import time

    async with silent_agi_server() as (port, held):
        await core.actions.setvar("HOTLINE_AGI", f"agi://127.0.0.1:{port}")
        number = "13900007778"
        started = time.monotonic()
        joined = await walk(core, "", number)
        waited = time.monotonic() - started
    assert held, "Asterisk never connected to the stalled server"
    assert joined[number] == "general-service"
    assert 2.5 < waited < 8, f"the caller waited {waited:.1f} s for the general queue"
    row = await record(core, number)
    assert row.extra and row.extra["ivr_fallback"] is True


async def test_a_server_that_goes_quiet_mid_menu_still_gets_its_caller_queued(
        core: Core, sandbox: Sandbox) -> None:
    """The watchdog the server keeps armed: a caller whose order lookup never
    returns is queued by Asterisk itself; a caller who spends longer in the
    menus than the watchdog (a whole main menu, unanswered, then again) is
    not cut off, because the server re-arms it as the menus go on, nor, once
    queued, while waiting longer than the watchdog for an agent."""
    import asyncio
    import time

    from acd.routing import Router
    from ivr.menus import load_menus
    from ivr.services import hotline_entry

    released = asyncio.Event()

    async def stuck_lookup(ticket_id: int) -> None:
        await released.wait()  # the server goes quiet on this caller

    menus = load_menus().model_copy(update={"watchdog": 30})
    main = prompt_seconds(sandbox, "zh", "main-menu")
    assert main < menus.watchdog * 2 / 3  # else the menus themselves would need more
    core.agi.routes["hotline"] = hotline_entry(Router(core.acd_config, core.crm), menus,
                                               core.cards, stuck_lookup,
                                               on_step=core.tracker.note_ivr)
    stuck, patient = "13900007777", "13900008888"
    # the patient caller: 中文, then nothing through the main menu, its timeout
    # and notice, and 0 while the main menu plays a second time
    second_main = 1 + main + menus.timeout + prompt_seconds(sandbox, "zh", "timeout")
    wait = menus.watchdog + 3  # the 0 comes after the watchdog would have gone off
    assert second_main + 1 < wait < second_main + main - 2, (second_main, wait)
    started = time.monotonic()
    try:
        joined = await asyncio.gather(walk(core, "1WW4WWW12345#", stuck, patience=45),
                                      # and then waits in the queue longer than the
                                      # watchdog: the dialplan cleared it
                                      walk(core, "1" + "W" * wait + "0", patient,
                                           patience=menus.watchdog + 10))
        queued_after = time.monotonic() - started
    finally:
        released.set()
    assert joined[0][stuck] == "general-service"
    assert joined[1][patient] == "general-service"
    assert queued_after < 60
    quiet = await record(core, stuck)
    assert quiet.extra and quiet.extra["ivr_fallback"] is True
    assert quiet.ivr_path.startswith("language:1>main:4>ticket:12345"), quiet.ivr_path
    kept = await record(core, patient)
    assert kept.ivr_path == "language:1>main:t>main:0", kept.ivr_path
    assert not (kept.extra or {}).get("ivr_fallback"), kept.extra
    assert (kept.outcome, kept.extra["queues"]) == ("abandoned", ["general-service"])
    assert kept.wait_seconds is not None and kept.wait_seconds > menus.watchdog


async def test_a_fault_in_a_menu_handler_sends_the_caller_to_an_agent(core: Core) -> None:
    from acd.routing import Router
    from ivr.menus import load_menus
    from ivr.services import hotline_entry

    async def broken_lookup(ticket_id: int) -> None:
        raise RuntimeError("ticket store on fire")

    core.agi.routes["hotline"] = hotline_entry(Router(core.acd_config, core.crm), load_menus(),
                                               core.cards, broken_lookup)
    number = "13900006666"
    with capture_logs() as logs:
        joined = await walk(core, "1WW4WWW12345#", number, patience=6)
    assert joined[number] == "general-service"
    row = await record(core, number)
    assert row.ivr_path == "language:1>main:4>ticket:12345>error"
    [failed] = [e for e in logs if e["event"] == "ivr_failed"]
    assert failed["log_level"] == "error"


async def test_a_caller_who_hangs_up_in_the_menus_leaves_the_path_and_the_report_counts_it(
    core: Core
) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    number = "13900005555"
    ended: list[str] = []
    core.bus.subscribe("call.ended", lambda t, c: ended.append(c.caller_number))
    await core.actions.originate(IVR_NUMBER, context="sim-caller", exten="s",
                                 caller_id=f'"测试" <{number}>',
                                 variables={"SIM_DTMF": "1", "SIM_PATIENCE": "2"})
    await wait_until(lambda: number in ended, 30, "the caller to hang up in the menus")
    row = await record(core, number)
    assert row.ivr_path.startswith("language:1") and row.outcome == "ivr_only"
    assert row.language == "zh"
    today = dt.datetime.now(ZoneInfo(core.settings.site_timezone)).date()
    report = await core.ivr_report.day(today)
    assert report["nodes"]["language"]["keys"]["1"] >= 1


async def test_a_known_caller_hears_the_open_order_menu_and_its_status_read_back(
    core: Core
) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from crm_bridge.schemas import CustomerIn, PhoneIn, TicketIn
    from crm_bridge.tickets import TicketService

    zone = ZoneInfo(core.settings.site_timezone)
    card = await core.crm.create_customer(CustomerIn(name="钱七", phones=[
        PhoneIn(number="13800001111")]))
    tomorrow = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    async with core.engine.begin() as conn:
        outlet = (await conn.execute(insert(ServiceOutlet).values(
            name="杭州西湖服务网点", region="浙江 杭州", address="", contact_name="王师傅",
            contact_phone="057188880001", active=True).returning(ServiceOutlet.id))).scalar_one()
    ticket = await TicketService(core.engine, zone=core.settings.site_timezone).create(
        TicketIn.model_validate({
            "kind": "repair", "customer_id": card["customer"]["id"], "summary": "空调不制冷",
            "outlet_id": outlet, "appointment_start": f"{tomorrow}T09:00:00",
            "appointment_end": f"{tomorrow}T11:00:00"}))
    assert ticket["status"] == "scheduled"
    number = "13800001111"
    with capture_logs() as logs:
        joined = await walk(core, "1WWWW1" + "W" * 12 + "0", number, patience=10)
    assert joined[number] == "general-service"
    row = await record(core, number)
    assert row.ivr_path == "language:1>open-order:1>main:0"
    said = [e["prompt"] for e in logs if e["event"] == "ivr_play"]
    digits = [f"digit-{d}" for d in str(ticket["id"])]
    start = said.index("status-order")
    assert said[start:start + len(digits) + 5] == [
        "status-order", *digits, "status-scheduled", f"month-{tomorrow.month}",
        f"day-{tomorrow.day}", "slot-morning"]
    assert said[:3] == ["welcome", "greet-known", "open-order"]  # 1 pressed in the welcome
    assert said[-1] == "transfer-agent"


async def test_an_order_number_typed_from_another_phone_needs_the_last_four_digits(
        core: Core, sandbox: Sandbox) -> None:
    import asyncio

    import structlog

    from crm_bridge.schemas import CustomerIn, PhoneIn, TicketIn
    from crm_bridge.tickets import TicketService

    card = await core.crm.create_customer(CustomerIn(name="周九", phones=[
        PhoneIn(number="13800003333")]))
    ticket = await TicketService(core.engine, zone=core.settings.site_timezone).create(
        TicketIn.model_validate({"kind": "repair", "customer_id": card["customer"]["id"],
                                 "summary": "洗衣机不排水"}))
    # two callers from other phones ask about the order at once: 中文, repair
    # status, the order number and #, then the last four digits of the
    # customer's phone. The neighbour knows them (3333) and then asks for an
    # agent; a stranger does not (1234), tries again from the main menu
    # (5678), and after the second wrong answer is put through to an agent
    neighbour, stranger = "13900004444", "13900005555"
    order = f"4WWW{ticket['id']}#WW"
    # the second try waits for the end of "order not found", or the 4 only cuts it short
    again = "W" * math.ceil(prompt_seconds(sandbox, "zh", "ticket-not-found") + 1.5)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        joined = await asyncio.gather(
            walk(core, "1WW" + order + "3333" + "W" * 10 + "0", neighbour, patience=8),
            walk(core, "1WW" + order + "1234" + again + order + "5678", stranger,
                 patience=20))  # "not found" again, then "putting you through"
    paths = [(await record(core, n)).ivr_path for n in (neighbour, stranger)]
    assert (joined[0][neighbour], joined[1][stranger]) == ("general-service",) * 2, paths
    heard = {core_id: [e["prompt"] for e in logs
                       if e["event"] == "ivr_play" and e.get("call_id") == core_id]
             for core_id in {e.get("call_id") for e in logs if e["event"] == "ivr_play"}}
    digits = [f"digit-{d}" for d in str(ticket["id"])]
    read_back = [said for said in heard.values() if "status-order" in said]
    refused = [said for said in heard.values() if "ticket-not-found" in said]
    assert len(read_back) == 1 and len(refused) == 1, heard
    assert refused[0].count("ticket-not-found") == 2 and refused[0][-1] == "transfer-agent"
    said = read_back[0]
    start = said.index("status-order")
    assert said[start:start + len(digits) + 2] == ["status-order", *digits, "status-new"]
    assert "ticket-not-found" not in said
    assert not any(p.startswith(("digit-", "status-")) for p in refused[0]), refused[0]
    assert (await record(core, neighbour)).ivr_path == \
        f"language:1>main:4>ticket:{ticket['id']}>verify:ok>main:0"
    # the stranger hears the same as for an order that does not exist
    tried = f"main:4>ticket:{ticket['id']}>verify:no"
    assert (await record(core, stranger)).ivr_path == f"language:1>{tried}>{tried}"


async def test_a_known_caller_books_an_installation_slot_on_the_keypad(core: Core) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from crm_bridge.models import Appliance, Ticket
    from crm_bridge.schemas import CustomerIn, PhoneIn

    zone = ZoneInfo(core.settings.site_timezone)
    today = dt.datetime.now(zone).date()
    card = await core.crm.create_customer(CustomerIn(name="孙八", phones=[
        PhoneIn(number="13800002222")]))
    async with core.engine.begin() as conn:
        await conn.execute(insert(Appliance).values(
            customer_id=card["customer"]["id"], category="air_conditioner", model="KFR-35GW",
            serial="AC-NEW-1", purchase_date=today - dt.timedelta(days=10),
            warranty_end=today + dt.timedelta(days=2000)))
    number = "13800002222"
    # 中文, booking, installation; not the first slot (2), the second one (1); then an agent
    joined = await walk(core, "1WW2WW2WWW2WWW1" + "W" * 10 + "0", number, patience=8)
    assert joined[number] == "general-service"
    row = await record(core, number)
    assert row.ivr_path == ("language:1>main:2>booking:2>install:2>install:1>main:0")
    async with core.engine.connect() as conn:
        ticket = (await conn.execute(select(Ticket))).one()
    assert (ticket.kind, ticket.status, ticket.created_by) == ("installation", "new", "ivr")
    start = ticket.appointment_start.astimezone(zone)
    assert (start.date(), start.hour) == (today + dt.timedelta(days=1), 14)  # 2nd: afternoon
    assert ticket.call_linkedid == row.linkedid and row.ticket_id == ticket.id


async def test_a_sip_caller_walks_a_branch_with_rfc2833_dtmf(core: Core, tmp_path: Path) -> None:
    """SIPp (Debian's sip-tester) calls the hotline over real SIP and RTP and
    presses 1, 1, 4 as RFC 2833 events: 中文, products, TV."""
    import asyncio
    import shutil

    from tests.support.dtmf_pcap import write_dtmf_pcap
    from tests.support.postgres import free_port

    sipp = shutil.which("sipp")
    assert sipp, "sipp not installed: make test installs sip-tester"
    for press, digit in enumerate("114"):
        write_dtmf_pcap(tmp_path / f"key{press + 1}.pcap", digit, press)
    joined: dict[str, str] = {}
    core.bus.subscribe("queue.joined", lambda t, c: joined.setdefault(c.call_id, c.queue))
    scenario = Path(__file__).parents[1] / "sipp" / "ivr_dtmf.xml"
    proc = await asyncio.create_subprocess_exec(
        sipp, "-sf", str(scenario), "-s", "4008008000", "127.0.0.1:5060", "-i", "127.0.0.1",
        "-mi", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()), "-m", "1",
        "-timeout", "60", "-trace_err", "-error_file", str(tmp_path / "sipp-errors.log"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=tmp_path)
    _, err = await asyncio.wait_for(proc.communicate(), 90)
    errors = (tmp_path / "sipp-errors.log").read_text() if (
        tmp_path / "sipp-errors.log").exists() else ""
    assert proc.returncode == 0, f"sipp failed ({proc.returncode}): {err.decode()[-500:]} " \
                                 f"{errors[-1500:]}"
    assert list(joined.values()) == ["tv-zh"]
    [linkedid] = joined

    async def written() -> CallRecord | None:
        async with core.engine.connect() as conn:
            return (await conn.execute(select(CallRecord).where(  # type: ignore[return-value]
                CallRecord.linkedid == linkedid))).first()

    row = await wait_async(written, 30, "the SIP call's record")
    assert (row.ivr_path, row.language, row.caller_number) == (
        "language:1>main:1>products:4", "zh", "sipp-trunk")
