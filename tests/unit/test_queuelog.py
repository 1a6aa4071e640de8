"""Asterisk's queue_log as the auditor's truth (cti/tools/queuelog.py)."""

from __future__ import annotations

from pathlib import Path

from cti.tools import queuelog

LINES = """\
1796000000|1796000000.1|general-service|NONE|ENTERQUEUE||13800000001|1
1796000002|1796000000.1|general-service|9001|CONNECT|2|1796000000.9|1
1796000009|1796000000.1|general-service|9001|COMPLETECALLER|2|7|1
1796000001|1796000000.3|general-service|NONE|ENTERQUEUE||13800000002|1
1796000011|1796000000.3|general-service|NONE|ABANDON|1|1|10
1796000003|1796000000.5|general-service|NONE|ENTERQUEUE||13800000003|1
1796000004|1796000000.7|general-service|NONE|ENTERQUEUE||13800000004|1
1796000014|1796000000.7|general-service|NONE|ABANDON|1|1|10
"""


def test_a_call_still_in_its_queue_is_unfinished_not_missing(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text(LINES + "1796000020|1796000000.9|general-ser")  # a line being written
    truth, offset = queuelog.read(path)
    assert offset == len(LINES.encode())  # the half line is read next time
    records = {
        "c1": [{"outcome": "answered", "agent": "9001", "queue": "general-service"}],
        "c3": [{"outcome": "answered", "agent": "9002", "queue": "general-service"}],
        "c7": [{"outcome": "abandoned", "agent": None, "queue": "general-service"}] * 2,
    }
    pairs = [("c1", "1796000000.1"), ("c3", "1796000000.3"), ("c5", "1796000000.5"),
             ("c7", "1796000000.7")]
    audit = queuelog.audit(pairs, truth, records)
    assert (audit.checked, audit.missing, audit.doubled, audit.wrong, audit.unfinished) == (
        3, 0, 1, 1, 1)
    assert not audit.clean
    assert any(e.startswith("c3: recorded answered/9002") for e in audit.examples)
