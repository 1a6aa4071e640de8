"""AMI headers the core reads in more than one place, parsed once here: the
event's time, and the user events the hotline's dialplan raises
(asterisk-conf/extensions.conf)."""

from __future__ import annotations

from dataclasses import dataclass

from cti.ami.parser import AmiMessage

AGENT_LEG = "HotlineAgentLeg"  # an agent's phone dialled by a transfer, not by a queue
HOLD = "HotlineHold"  # the console's hold on an agent's channel: State on | off
STAGE = "HotlineStage"  # where the caller is: Stage ivr | fallback | routed | callback ...
CALLBACK = "HotlineCallback"  # a callback's customer dialled: Stage dialling | ended


def event_time(msg: AmiMessage, now: float) -> float:
    """Asterisk's time of the event (manager.conf ``timestampevents = yes``),
    else ``now``: a backlog read late still gives the right durations."""
    ts = msg.get("Timestamp")
    return float(ts) if isinstance(ts, str) else now


@dataclass(frozen=True, slots=True)
class AgentLeg:
    agent: str  # the agent's code
    call_id: str  # the call the leg rings for
    uniqueid: str  # the agent's channel


def agent_leg(msg: AmiMessage) -> AgentLeg | None:
    """The ``HotlineAgentLeg`` user event, or None for any other event."""
    if msg.name != "UserEvent" or msg.text("UserEvent", "") != AGENT_LEG:
        return None
    return AgentLeg(msg.text("Agent", ""), msg.text("Call", "") or msg.text("Linkedid", ""),
                    msg.text("Uniqueid", ""))
