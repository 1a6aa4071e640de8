"""panoramisk 1.4's own AMI reader, bare: the baseline the event core is compared with.

``bare_protocol(sink)`` is an ``AMIProtocol`` set up as panoramisk's Manager
sets it up after connecting, whose dispatch hands each parsed Message to
``sink`` and does nothing else.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message


class _Factory:
    def __init__(self, sink: Callable[[Message], None]) -> None:
        self.dispatch = sink
        self.save_stream = None
        self.forgetable_actions = ("ping", "login")
        self.awaiting_actions: collections.deque[Any] = collections.deque()

    def connection_lost(self, exc: object) -> None:
        pass


def bare_protocol(sink: Callable[[Message], None]) -> AMIProtocol:
    proto = AMIProtocol()
    proto.queue = collections.deque()
    proto.responses = {}
    proto.factory = _Factory(sink)
    proto.version = None
    proto.closed = False
    proto.encoding = "utf8"
    proto.log = logging.getLogger("panoramisk.baseline")
    return proto
