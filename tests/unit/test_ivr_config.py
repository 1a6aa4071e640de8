"""IVR menus and the prompt catalogue: a bad file is refused with file, line
and field named; every prompt and queue a menu names exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.config import load_config
from cti.config.yamlconf import YamlConfigError
from ivr.menus import load_menus
from ivr.prompts import load_catalogue


def test_the_hotline_menus_name_only_queues_and_prompts_that_exist() -> None:
    menus = load_menus(queues=set(load_config().queues),
                       prompts=set(load_catalogue().prompts))
    assert menus.start == "language"
    assert menus.menus["main"].keys["0"].agent
    assert menus.menus["products"].keys["1"].queue_for("zh") == "ac-zh"
    assert menus.menus["products"].keys["1"].queue_for("en") == "english"


def test_every_prompt_is_in_both_languages() -> None:
    cat = load_catalogue()
    assert cat.languages == ["zh", "en"]
    assert all(set(texts) == {"zh", "en"} for texts in cat.prompts.values())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "menus.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """numbers: ["4008008000"]
start: main
agent_queue: {zh: general-service, en: english}
menus:
  main:
    prompts: [main-menu]
    keys:
      "1": {goto: main}
      "0": {agent: true}
"""

BAD = [
    (GOOD.replace("{goto: main}", "{goto: nowhere}"), r"menus.main.keys.1.goto: no menu"),
    (GOOD.replace('"1"', '"12"'), r"menus.yaml:8: menus.main.keys.12.\[key\]"),
    (GOOD.replace("{agent: true}", "{agent: true, goto: main}"), r"menus.yaml:9: "
     r"menus.main.keys.0: Value error, an action does exactly one"),
    (GOOD.replace("prompts: [main-menu]", "prompts: []"), r"menus.yaml:6: menus.main.prompts"),
    (GOOD.replace("start: main", "start: menu"), "start: no menu 'menu'"),
    (GOOD + "    colour: red\n", r"menus.yaml:10: menus.main.colour: unknown field"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_menu_is_refused_naming_file_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(YamlConfigError, match=message):
        load_menus(write(tmp_path, text))


def test_a_menu_naming_a_missing_queue_or_prompt_is_refused_with_its_line(
    tmp_path: Path
) -> None:
    text = GOOD.replace('"1": {goto: main}', '"1": {queue: {zh: dishwasher-zh, en: english}}')
    text = text.replace("prompts: [main-menu]", "prompts: [main-menu, jingle]")
    with pytest.raises(YamlConfigError) as err:
        load_menus(write(tmp_path, text), queues=set(load_config().queues),
                   prompts=set(load_catalogue().prompts))
    msg = str(err.value)
    assert "menus.yaml:8: menus.main.keys.1.queue.zh: no queue 'dishwasher-zh'" in msg
    assert "menus.yaml:6: menus.main.prompts.1: no prompt 'jingle'" in msg
