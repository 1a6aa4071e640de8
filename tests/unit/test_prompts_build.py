"""Prompt sound files from the catalogue: espeak-ng and sox (Debian's), a
recording wins over speech, a second build renders nothing, check names
what is missing."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from ivr.prompts import Catalogue, build, check, seconds, sound_file, tools_missing

CAT = Catalogue(voices={"zh": "cmn", "en": "en-us"}, prompts={
    "welcome": {"zh": "您好，欢迎致电。", "en": "Welcome."},
    "digit-7": {"zh": "七", "en": "seven"},
})


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = tools_missing()
    assert not missing, f"{missing} not installed: make test installs espeak-ng and sox"


def test_build_renders_8khz_mono_files_once_and_a_recording_wins(tmp_path: Path) -> None:
    sounds, recorded = tmp_path / "sounds", tmp_path / "recorded"
    result = build(CAT, sounds, recorded=recorded)
    assert (result.rendered, result.recorded, result.unchanged) == (4, 0, 0)
    for lang in ("zh", "en"):
        with wave.open(str(sound_file(sounds, lang, "welcome"))) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert w.getnframes() > 8000 * 0.4  # speech, not an empty file
    again = build(CAT, sounds, recorded=recorded)
    assert (again.rendered, again.unchanged) == (0, 4)

    # a studio recording (here: a 44.1 kHz stereo file) replaces the speech
    rec = recorded / "zh" / "welcome.wav"
    rec.parent.mkdir(parents=True)
    with wave.open(str(rec), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\x10\x00\x20\x00" * 44100)
    third = build(CAT, sounds, recorded=recorded)
    assert (third.recorded, third.rendered, third.unchanged) == (1, 0, 3)
    with wave.open(str(sound_file(sounds, "zh", "welcome"))) as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)
        assert abs(w.getnframes() - 8000) < 100  # the recording's one second


def test_check_names_prompts_missing_from_the_catalogue_or_not_built(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    problems = check(CAT, sounds, {"welcome", "goodbye"})
    assert "prompt 'goodbye' is used but not in the catalogue" in problems
    assert any("'welcome' (zh) is not built" in p for p in problems)
    build(CAT, sounds, recorded=tmp_path / "none")
    assert check(CAT, sounds, {"welcome"}) == []
    # a prompt the IVR's watchdog would cut off in the middle
    longest = max(seconds(sound_file(sounds, lang, pid)) for pid in CAT.prompts
                  for lang in CAT.languages)
    assert check(CAT, sounds, {"welcome"}, longest=longest) == []
    too_long = check(CAT, sounds, {"welcome"}, longest=longest - 0.05)
    assert too_long and all("longer than" in p and "watchdog" in p for p in too_long)


def test_the_catalogue_s_prompts_fit_the_menus_watchdog() -> None:
    from ivr.menus import load_menus

    menus = load_menus()
    assert 20 < menus.longest_prompt < menus.watchdog  # the product's: 32 s of 60
