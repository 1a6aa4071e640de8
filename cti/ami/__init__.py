"""AMI: framing and parsing, the connection, and the verbs that build actions."""

from cti.ami.actions import AmiActions, OriginateResult
from cti.ami.connection import (
    AmiConnection,
    AmiReply,
    Connected,
    ConnState,
    Disconnected,
    ReplyKind,
)
from cti.ami.errors import AmiActionFailed, AmiAuthError, AmiConnectionError, AmiError, AmiTimeout
from cti.ami.parser import AmiMessage, AmiParser

__all__ = [
    "AmiActionFailed", "AmiActions", "AmiAuthError", "AmiConnection", "AmiConnectionError",
    "AmiError", "AmiMessage", "AmiParser", "AmiReply", "AmiTimeout", "ConnState", "Connected",
    "Disconnected", "OriginateResult", "ReplyKind",
]
