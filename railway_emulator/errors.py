"""Errors as Railway returns them: HTTP 200 with `{"errors":[{"message": ...}], "data": null}`."""
from __future__ import annotations


class RailwayError(Exception):
    """An error whose message is exactly what Railway's API says."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAuthorized(RailwayError):
    def __init__(self) -> None:
        super().__init__("Not Authorized")


class NotFound(RailwayError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} not found")


class BadRequest(RailwayError):
    pass
