"""The domain events the core publishes on the bus: what Asterisk did, parsed
once, in words of the call centre. Features subscribe to these, never to AMI.

Each topic and its payload:

    call.new             Call            a call appeared
    call.state           CallStateChange it changed state
    call.updated         Call            caller ID, IVR path, fallback ... changed
    call.ended           Call            its last channel hung up
    call.leg_ended       LegEnded        one channel of a live call hung up

    queue.joined         QueueCaller     a caller joined a queue
    queue.left           QueueCaller     ... left it (answered, moved on, or gone)
    queue.abandoned      QueueCaller     ... hung up while waiting in it

    member.added         MemberChange    an agent's device joined a queue
    member.status        MemberChange    app_queue re-read a member (device state ...)
    member.paused        MemberChange    paused or unpaused, with the reason
    member.penalty       MemberChange    its penalty changed
    member.removed       MemberChange    it left the queue

    agent.ringing        AgentLegEvent   an agent's phone rings for a call
    agent.not_answered   AgentLegEvent   ... stopped ringing unanswered
    agent.connected      AgentLegEvent   the agent answered
    agent.released       AgentLegEvent   app_queue is done with the member (wrap-up runs)
    agent.hung_up        AgentLegEvent   the agent's channel hung up

    callback.progress    CallbackProgress a callback's customer dialled, or the try ended

    asterisk.resynced    Resynced        the state re-read after a (re)connect
    asterisk.disconnected Disconnected   the AMI session ended

An agent leg is the channel that rings an agent's phone: one app_queue
creates (``via_queue``), or one the dialplan dials for a transfer to an
agent (announced by its ``HotlineAgentLeg`` user event). Times are
Asterisk's own (``Timestamp``), in epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cti.calls.model import Call, CallState, Leg

CALL_NEW = "call.new"
CALL_STATE = "call.state"
CALL_UPDATED = "call.updated"
CALL_ENDED = "call.ended"
CALL_LEG_ENDED = "call.leg_ended"

QUEUE_JOINED = "queue.joined"
QUEUE_LEFT = "queue.left"
QUEUE_ABANDONED = "queue.abandoned"

MEMBER_ADDED = "member.added"
MEMBER_STATUS = "member.status"
MEMBER_PAUSED = "member.paused"
MEMBER_PENALTY = "member.penalty"
MEMBER_REMOVED = "member.removed"

AGENT_RINGING = "agent.ringing"
AGENT_NOT_ANSWERED = "agent.not_answered"
AGENT_CONNECTED = "agent.connected"
AGENT_RELEASED = "agent.released"
AGENT_HUNG_UP = "agent.hung_up"

SERVICE_CHANNEL_ENDED = "service.channel_ended"
CALLBACK_PROGRESS = "callback.progress"
ASTERISK_RESYNCED = "asterisk.resynced"
ASTERISK_DISCONNECTED = "asterisk.disconnected"


@dataclass(frozen=True, slots=True)
class CallStateChange:
    call: Call
    old: CallState
    new: CallState
    at: float


@dataclass(frozen=True, slots=True)
class LegEnded:
    call: Call
    leg: Leg
    at: float


@dataclass(frozen=True, slots=True)
class QueueCaller:
    at: float
    queue: str
    call_id: str  # the call's Linkedid
    uniqueid: str  # the channel waiting in the queue
    channel: str = ""  # its name
    position: int = 0
    caller_number: str = ""
    caller_name: str = ""


@dataclass(frozen=True, slots=True)
class MemberChange:
    at: float
    agent: str  # the member name: the agent's code
    queue: str
    interface: str = ""
    penalty: int | None = None  # None: the event does not say
    paused: bool | None = None  # None: the event does not say
    reason: str | None = None  # the pause reason, when paused


@dataclass(frozen=True, slots=True)
class AgentLegEvent:
    at: float
    agent: str  # the agent's code
    call_id: str  # the Linkedid of the call the leg belongs to
    leg: str  # the Uniqueid of the channel to the agent's phone
    queue: str = ""  # the queue that rang them; "" for a transfer to the agent
    via_queue: bool = True
    reason: str = ""  # not_answered: why; released: app_queue's reason; hung_up: ""
    answered: bool = False  # hung_up: whether the agent had answered


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """One queue member as QueueStatus reports it."""

    agent: str
    queue: str
    interface: str
    penalty: int
    paused: bool
    reason: str | None
    device_status: str  # Asterisk's device state number, as app_queue gives it
    in_call: bool
    last_call: float  # epoch seconds; 0: none yet
    last_pause: float
    login_time: float


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    """One caller waiting in a queue, as QueueStatus reports it."""

    queue: str
    call_id: str
    uniqueid: str
    wait: float  # seconds waited so far
    position: int
    caller_number: str = ""
    caller_name: str = ""
    channel: str = ""


@dataclass(frozen=True, slots=True)
class Resynced:
    session: int  # the AMI session this snapshot belongs to
    at: float  # when it was taken (the server's clock)
    members: list[MemberStatus] = field(default_factory=list)
    callers: list[WaitingCaller] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServiceChannelEnded:
    """A channel the server placed for itself (its id starts ``svc-``) hung up."""

    uniqueid: str
    at: float


@dataclass(frozen=True, slots=True)
class CallbackProgress:
    """A callback's try (the dialplan's ``HotlineCallback``): ``dialling``, the
    agent took it and the customer rings; ``ended``, with Asterisk's
    DIALSTATUS as ``outcome`` (empty: the customer was never dialled)."""

    callback_id: int
    stage: str
    outcome: str
    call_id: str  # the callback's own call
    agent: str | None  # the member who took it, as the call knows it
    at: float
