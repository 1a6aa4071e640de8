"""The ACD's errors: a stable id each, answered by the web layer's middleware."""

from __future__ import annotations

from cti.errors import DomainError


class AcdError(DomainError):
    status = 409
    error_id = "acd-error"


class AgentNotFound(AcdError):
    status = 404
    error_id = "agent-not-found"


class UnknownDevice(AcdError):
    status = 422
    error_id = "unknown-device"


class UnknownQueue(AcdError):
    status = 404
    error_id = "unknown-queue"


class DeviceInUse(AcdError):
    """The device is another agent's now: the answer names them."""

    error_id = "device-in-use"
