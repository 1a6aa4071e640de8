"""The IVR traversal report from call records' paths, hand-counted."""

from __future__ import annotations

from ivr.report import traversal

PATHS = [
    "language:1>main:1>products:4",          # to the TV queue
    "language:2>main:0",                     # English, an agent
    "language:t>main:9>main:9>main:9",       # no language key; three wrong keys
    "language:1>main:4>ticket:12345>verify:ok",  # repair status by order number
    "language:1>main:t>main:hangup",         # hung up in the main menu
    "language:hangup",                       # hung up during the greeting
    "direct",                                # the direct line: no IVR
    "",
]


def test_callers_keys_and_hangups_per_menu() -> None:
    r = traversal(PATHS)
    assert r["calls"] == 6
    lang, main, products = r["nodes"]["language"], r["nodes"]["main"], r["nodes"]["products"]
    assert lang == {"callers": 6, "visits": 6, "keys": {"1": 3, "2": 1, "hangup": 1, "t": 1},
                    "hangups": 1}
    assert main["callers"] == 5 and main["visits"] == 8
    assert main["keys"] == {"0": 1, "1": 1, "4": 1, "9": 3, "hangup": 1, "t": 1}
    assert main["hangups"] == 1
    assert products == {"callers": 1, "visits": 1, "keys": {"4": 1}, "hangups": 0}
    assert "ticket" not in r["nodes"] and "verify" not in r["nodes"]
