"""Exceptions mapped from Railway's answers. Messages never carry variable values (they may be secrets)."""
from __future__ import annotations


class RailwayApiError(Exception):
    """Any failed call. `operation` names the GraphQL operation."""

    def __init__(self, message: str, operation: str = "") -> None:
        super().__init__(f"{operation}: {message}" if operation else message)
        self.message = message
        self.operation = operation


class SettingError(RailwayApiError):
    """A client setting from the environment (ACS_RAILWAY_*) that is not a usable number; named before any call."""


class NotAuthorizedError(RailwayApiError):
    """"Not Authorized": a bad or revoked token, or an object the token may not see."""


class NotFoundError(RailwayApiError):
    """"... not found": the object does not exist (any more)."""


class ValidationError(RailwayApiError):
    """The request was understood and refused (bad input, conflict, plan limit)."""


class RateLimitedError(RailwayApiError):
    """HTTP 429 beyond what the retry policy waits for."""

    def __init__(self, message: str, operation: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, operation)
        self.retry_after = retry_after


class ApiUnavailableError(RailwayApiError):
    """5xx, timeouts or dropped connections that outlasted the retries."""


class AmbiguousWriteError(ApiUnavailableError):
    """A non-idempotent write whose outcome is unknown (the request left, no answer came back).

    The caller must look for the object before trying again, or it may create a duplicate."""


def from_message(message: str, operation: str) -> RailwayApiError:
    lowered = message.lower()
    if message == "Not Authorized" or "not authorized" in lowered:
        return NotAuthorizedError(message, operation)
    if lowered.endswith("not found") or " not found" in lowered:
        return NotFoundError(message, operation)
    return ValidationError(message, operation)
