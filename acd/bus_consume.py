"""What the ACD hears on the bus: one table, topic -> handler. The server's
composition root subscribes each (cti/server.py)."""

from __future__ import annotations

from acd.board import Board
from acd.tally import QueueTally
from cti.bus import Handler
from cti.calls import events as ev


def subscriptions(board: Board, tally: QueueTally) -> list[tuple[str, Handler]]:
    return [
        (ev.CALL_ENDED, tally.on_call_ended),
        (ev.MEMBER_ADDED, board.on_member),
        (ev.MEMBER_STATUS, board.on_member),
        (ev.MEMBER_PAUSED, board.on_member),
        (ev.MEMBER_PENALTY, board.on_member),
        (ev.MEMBER_REMOVED, board.on_member_removed),
        (ev.AGENT_RINGING, board.on_ringing),
        (ev.AGENT_NOT_ANSWERED, board.on_not_answered),
        (ev.AGENT_CONNECTED, board.on_connected),
        (ev.AGENT_RELEASED, board.on_released),
        (ev.AGENT_HUNG_UP, board.on_hung_up),
        (ev.CALL_STATE, board.on_call_state),
        (ev.QUEUE_JOINED, board.on_caller_joined),
        (ev.QUEUE_LEFT, board.on_caller_left),
        (ev.QUEUE_ABANDONED, board.on_caller_left),
        (ev.ASTERISK_RESYNCED, board.on_resynced),
    ]
