"""AMI errors. Every failure of an action maps to one of these.

    AmiError
    ├── AmiAuthError          the login was refused (wrong user or secret)
    ├── AmiConnectionError    not connected, or the connection dropped
    │                         while the action waited for its answer
    ├── AmiTimeout            no answer within the action's timeout
    └── AmiActionFailed       Asterisk answered "Error" (its message kept)
"""

from __future__ import annotations

from cti.errors import DomainError


class AmiError(DomainError):
    status = 503
    error_id = "ami-error"


class AmiAuthError(AmiError):
    error_id = "ami-auth-failed"

    def __init__(self, host: str, port: int, username: str, message: str) -> None:
        self.host, self.port, self.username = host, port, username
        super().__init__(
            f"Asterisk at {host}:{port} refused AMI login for user {username!r}: {message} "
            "(check HOTLINE_AMI_USERNAME / HOTLINE_AMI_SECRET)"
        )


class AmiConnectionError(AmiError):
    error_id = "ami-not-connected"


class AmiTimeout(AmiError):
    error_id = "ami-timeout"

    def __init__(self, action: str, timeout: float) -> None:
        self.action, self.timeout = action, timeout
        super().__init__(f"AMI action {action} got no answer within {timeout:g} s")


class AmiActionFailed(AmiError):
    status = 502
    error_id = "ami-action-failed"

    def __init__(self, action: str, message: str) -> None:
        self.action, self.message = action, message
        super().__init__(f"AMI action {action} failed: {message}")
