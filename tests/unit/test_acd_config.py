"""Queues and skills from acd/queues.yaml: validated with the line named,
rendered into Asterisk's config, and turned into routing decisions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from acd.config import app_queue_seconds, load_config, rendered_files, wrap_up_ends
from acd.routing import Router
from cti.config import paths
from cti.config.yamlconf import YamlConfigError
from cti.tools.cli import main


def test_the_committed_asterisk_files_are_what_the_config_renders() -> None:
    for rel, text in rendered_files(load_config()).items():
        on_disk = (paths.asterisk_conf_dir() / rel).read_text(encoding="utf-8")
        assert on_disk == text, f"asterisk-conf/{rel} is stale: run 'hotline acd render'"


def test_membership_and_penalty_follow_the_weakest_required_skill() -> None:
    cfg = load_config()
    levels = {"air_conditioner": 5, "mandarin": 3, "tv": 1}
    assert cfg.memberships(levels) == {"general-service": 2, "ac-zh": 2, "tv-zh": 4}
    assert cfg.memberships({"english": 4}) == {"english": 1}
    assert cfg.memberships({}) == {}
    ac = cfg.queue("ac-zh")
    assert (ac.first_max_penalty, ac.widen_after, ac.overflow_queue) == (2, 30, "general-service")
    assert cfg.queue("general-service").first_max_penalty is None


def test_rendered_queues_carry_strategy_wrapup_and_rules() -> None:
    files = rendered_files(load_config())
    queues, rules = files["queues.d/hotline.conf"], files["queuerules.d/hotline.conf"]
    assert "[complaints](hotline-queue)\nstrategy = fewestcalls\n" in queues
    # a 10 s wrap-up is rendered as 11: app_queue counts whole seconds
    assert "wrapuptime = 11\n" in queues and "defaultrule = ac-zh\n" in queues
    # app_queue's timers count whole seconds: a 30 s widening is rendered as 31
    assert "[ac-zh]\npenaltychange => 31,4\n" in rules
    assert "[general-service]" not in rules  # first_level 1: nobody to widen to


def test_an_agent_always_gets_at_least_the_whole_wrap_up() -> None:
    # app_queue offers again once int(now) - int(last_call) >= wrapuptime
    for last_call in (100.0, 100.01, 100.5, 100.999):
        ends = wrap_up_ends(last_call, 3)
        assert 3.0 <= ends - last_call <= 4.0, last_call
        assert math.floor(ends) - math.floor(last_call) >= app_queue_seconds(3)
    assert app_queue_seconds(0) == 0  # no wrap-up stays none


BAD = [
    ("queues:\n  ac-zh:\n    title: x\n    skills: [air_conditioner]\n    strategy: best\n",
     r":\d+: queues.ac-zh.strategy: Input should be 'ringall'"),
    ("skills: {a: b}\nqueues:\n  general-service: {title: x, skills: [a]}\n"
     "  ac-zh: {title: y, skills: [nope]}\n", "queues.ac-zh.skills: unknown skill 'nope'"),
    ("skills: {a: b}\nqueues:\n  ac-zh: {title: y, skills: [a]}\n",
     "general-service is missing"),
    ("skills: {a: b}\nqueues:\n  general-service: {title: x, skills: [a], colour: red}\n",
     r"hotline-bad.yaml:3: queues.general-service.colour: unknown field"),
    ("skills: {a: b}\nskills: {c: d}\n", r"hotline-bad.yaml:2: not valid YAML: .*duplicate"),
    ("skills: [\n", "not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_config_is_refused_naming_file_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "hotline-bad.yaml"
    base = "skills: {air_conditioner: 空调, mandarin: 普通话}\n" if "skills:" not in text else ""
    path.write_text(base + text, encoding="utf-8")
    with pytest.raises(YamlConfigError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_acd_render_check_fails_on_a_stale_file(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["acd", "render", "--conf-dir", str(tmp_path)]) == 0
    assert main(["acd", "render", "--check", "--conf-dir", str(tmp_path)]) == 0
    (tmp_path / "queues.d" / "hotline.conf").write_text("; edited by hand\n")
    assert main(["acd", "render", "--check", "--conf-dir", str(tmp_path)]) == 2
    assert "not what" in capsys.readouterr().err


class FakeCrm:
    def __init__(self, cards: dict[str, dict[str, Any]]) -> None:
        self.cards = cards

    async def customer_card(self, raw_number: str) -> dict[str, Any]:
        return self.cards.get(raw_number, {"known": False, "customer": None})


async def test_routing_by_number_with_vip_priority_and_overflow() -> None:
    crm = FakeCrm({"13800138000": {"customer": {"id": 7, "vip": True}},
                   "13900000000": {"customer": {"id": 8, "vip": False}}})
    router = Router(load_config(), crm)
    vip = await router.route("4008008001", "13800138000")
    assert (vip.queue, vip.priority, vip.customer_id, vip.vip) == ("ac-zh", 10, 7, True)
    assert vip.channel_variables()["HOTLINE_MAX_PENALTY"] == "2"
    assert vip.channel_variables()["HOTLINE_QUEUE_TIMEOUT"] == "181"  # max_wait 180
    assert vip.channel_variables()["HOTLINE_OVERFLOW_QUEUE"] == "general-service"
    plain = await router.route("4008008001", "13900000000")
    assert (plain.priority, plain.customer_id) == (0, 8)
    unknown = await router.route("95105105", "")
    assert (unknown.queue, unknown.customer_id, unknown.max_wait) == ("general-service", None, 0)
    assert unknown.channel_variables()["HOTLINE_QUEUE_TIMEOUT"] == ""


async def test_routing_goes_on_when_the_crm_fails() -> None:
    class Broken:
        async def customer_card(self, raw_number: str) -> dict[str, Any]:
            raise ConnectionRefusedError("database down")

    route = await Router(load_config(), Broken()).route("4008008004", "13800138000")
    assert (route.queue, route.priority) == ("tv-zh", 0)


async def test_each_queue_records_as_its_policy_says() -> None:
    """all: every call; none: no call; a share: about that share, at random."""
    import random

    from acd.config import AcdConfig

    raw = load_config().model_dump(exclude_defaults=True)
    raw["queues"]["tv-zh"]["recording"] = "none"
    raw["queues"]["ac-zh"]["recording"] = 30
    router = Router(AcdConfig.model_validate(raw), rng=random.Random(5))
    assert (await router.route("", "", queue="tv-zh")).record is False
    assert (await router.route("", "", queue="general-service")).record is True  # default: all
    shares = [(await router.route("", "", queue="ac-zh")).record for _ in range(1000)]
    assert 250 <= sum(shares) <= 350
    assert (await router.route("", "", queue="vip")).channel_variables()["HOTLINE_RECORD"] == "1"


def test_wallboard_thresholds_in_the_wrong_order_are_refused(tmp_path: Path) -> None:
    text = (paths.PROJECT_ROOT / "acd" / "queues.yaml").read_text()
    bad = tmp_path / "queues.yaml"
    bad.write_text(text.replace("waiting: {warn: 3, alarm: 8}", "waiting: {warn: 9, alarm: 8}")
                   .replace("recording: all", "recording: 130"))
    with pytest.raises(YamlConfigError) as exc:
        load_config(bad)
    message = str(exc.value)
    assert "waiting: warn (9) must be below alarm (8)" in message
    assert "recording" in message
