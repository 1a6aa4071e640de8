"""AMI framing and parsing, with no I/O.

Bytes from the socket go in; whole messages come out. Frames are split on
the blank line *before* decoding, so a multibyte UTF-8 character (a Chinese
caller name) that a TCP read cuts in two is decoded whole, once both halves
have arrived. Only complete frames are decoded, each exactly once.

Each message is an :class:`AmiMessage`: a plain ``dict`` of header -> value
in Asterisk's own spelling. A header that appears more than once (``Variable``
or ``ChanVariable``, or a repeated ``Event`` a UserEvent can inject) becomes a
list of its values in order. Lookups are exact: a missing header raises
``KeyError`` rather than answering ``''``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat

BANNER_PREFIX = b"Asterisk Call Manager/"
_SEP = b"\r\n\r\n"
# the longest frame held while waiting for its end: Asterisk's are a few KB;
# a peer that sends more without ending the frame is cut off (the bytes are
# dropped up to the next frame's end and counted), so memory stays bounded
MAX_FRAME = 4 << 20


class AmiMessage(dict[str, str | list[str]]):
    """One AMI event or response. ``body`` holds lines that were not headers
    (an empty tuple for nearly every message: one object less to allocate and
    for the garbage collector to track, per event)."""

    __slots__ = ("body",)

    def __init__(self, *args: object, **kwargs: str) -> None:
        super().__init__(*args, **kwargs)
        self.body: Sequence[str] = ()

    @property
    def is_event(self) -> bool:
        return "Event" in self

    @property
    def is_response(self) -> bool:
        return "Response" in self

    @property
    def name(self) -> str:
        """The event name (or ``''`` for a response). A repeated ``Event:``
        header counts by its first value."""
        value = self.get("Event", "")
        if isinstance(value, list):
            return value[0]
        return value

    def text(self, key: str, default: str | None = None) -> str:
        """A header's value as one string (the first of repeated values).
        Raises KeyError when the header is missing and no default is given."""
        try:
            value = self[key]
        except KeyError:
            if default is None:
                raise
            return default
        if isinstance(value, list):
            return value[0]
        return value

    def values_of(self, key: str) -> list[str]:
        """Every value of a header that may repeat (``[]`` if absent)."""
        value = self.get(key)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    def variables(self, key: str = "ChanVariable") -> dict[str, str]:
        """``Name=value`` headers (ChanVariable, Variable) as a dict."""
        out: dict[str, str] = {}
        for item in self.values_of(key):
            name, _, value = item.partition("=")
            out[name] = value
        return out


_split = str.split


def parse_frame(frame: bytes) -> AmiMessage:
    """Parse one frame (the bytes between two blank lines)."""
    lines = frame.decode("utf-8", "replace").split("\r\n")
    try:
        # Fast path: every line is "Key: value" and no key repeats.
        msg = AmiMessage(map(_split, lines, repeat(": "), repeat(1)))
    except ValueError:
        return _parse_slow(lines)
    if len(msg) != len(lines):
        return _parse_slow(lines)
    return msg


def _parse_slow(lines: list[str]) -> AmiMessage:
    msg = AmiMessage()
    body: list[str] = []
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep or not key or " " in key:
                if line:
                    body.append(line)
                continue
        old = msg.get(key)
        if old is None:
            msg[key] = value
        elif isinstance(old, list):
            old.append(value)
        else:
            msg[key] = [old, value]
    if body:
        msg.body = body
    return msg


class AmiParser:
    """Incremental parser: ``feed(bytes)`` returns the messages completed so far.

    The first line Asterisk sends on connect, ``Asterisk Call Manager/x.y.z``,
    has no blank line after it; it is taken off and kept in ``banner``.
    """

    __slots__ = ("_rest", "_skipping", "banner", "oversized")

    def __init__(self) -> None:
        self._rest = b""
        self._skipping = False  # inside a frame over MAX_FRAME: dropped to its end
        self.banner: str | None = None
        self.oversized = 0  # frames dropped for being over MAX_FRAME

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._rest)

    def feed(self, data: bytes) -> list[AmiMessage]:
        buf = self._rest + data if self._rest else data
        if self.banner is None:
            if len(buf) < len(BANNER_PREFIX) and BANNER_PREFIX.startswith(buf):
                self._rest = buf
                return []
            if buf.startswith(BANNER_PREFIX):
                line, sep, after = buf.partition(b"\r\n")
                if not sep:
                    self._rest = buf
                    return []
                self.banner = line.decode("utf-8", "replace")
                buf = after
            else:
                self.banner = ""
        if self._skipping:
            end = buf.find(_SEP)
            if end < 0:
                self._rest = buf[-(len(_SEP) - 1):]  # the separator may straddle reads
                return []
            buf, self._skipping = buf[end + len(_SEP):], False
        frames = buf.split(_SEP)
        self._rest = frames.pop()
        if len(self._rest) > MAX_FRAME:
            self._rest, self._skipping = self._rest[-(len(_SEP) - 1):], True
            self.oversized += 1
        out = []
        for frame in frames:
            # Asterisk sometimes ends a frame with a lone line break too much
            frame = frame.strip(b"\r\n")
            if frame:
                out.append(parse_frame(frame))
        return out


def feed(data: bytes) -> tuple[list[AmiMessage], bytes]:
    """Pure form: parse every whole frame in ``data``; return them and the rest."""
    frames = data.split(_SEP)
    rest = frames.pop()
    return [parse_frame(f) for f in frames if f.strip(b"\r\n")], rest


def encode_action(action: str, action_id: str, headers: dict[str, str | list[str]]) -> bytes:
    """Serialise one action. List values repeat the header (``Variable``)."""
    parts = [f"Action: {action}", f"ActionID: {action_id}"]
    for key, value in headers.items():
        if isinstance(value, list):
            parts.extend(f"{key}: {_clean(v)}" for v in value)
        else:
            parts.append(f"{key}: {_clean(value)}")
    return ("\r\n".join(parts) + "\r\n\r\n").encode("utf-8")


def _clean(value: str) -> str:
    """A header value may not carry a line break: it would inject headers."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"AMI header value contains a line break: {value!r}")
    return value
