"""The emulator's notion of "now" for everything that moves with time (deployment statuses, metric windows).

Real time by default, so the real engine and CLI see deployments progress on their own. Tests move it instead
of sleeping: `advance(seconds)` jumps forward, `freeze()` stops it so that a status observed right after an
action cannot have moved on by itself on a loaded machine. Reachable over HTTP as `/_emulator/clock`.
"""
from __future__ import annotations

import threading
import time
from contextvars import ContextVar


class SystemClock:
    """Plain wall-clock time; cannot be moved (the default of a bare `Backend`)."""

    def now(self) -> float:
        return time.time()


class Clock(SystemClock):
    """Wall-clock time plus an offset tests can grow, optionally frozen. Time never moves backwards."""

    def __init__(self, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = time.time() if frozen else None

    def now(self) -> float:
        with self._lock:
            return self._frozen_at if self._frozen_at is not None else time.time() + self._offset

    def advance(self, seconds: float) -> float:
        if not seconds >= 0:
            raise ValueError(f"advance must be a number of seconds >= 0, got {seconds!r}")
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
        return self.now()

    def freeze(self, frozen: bool = True) -> float:
        """Stops (or restarts) the clock at the current instant, without a jump either way."""
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = time.time() + self._offset
            elif not frozen and self._frozen_at is not None:
                self._offset, self._frozen_at = self._frozen_at - time.time(), None
        return self.now()

    def as_dict(self) -> dict[str, float | bool]:
        with self._lock:
            frozen = self._frozen_at is not None
        return {"now": self.now(), "frozen": frozen}


# The clock of the emulator whose request this thread serves (set per request by the server): every record's
# createdAt/updatedAt is stamped on it, so a test that moves the clock sees deployments, backups and domains
# made "later" too, not only environments, services and volumes.
CURRENT: ContextVar[SystemClock] = ContextVar("emulator_clock", default=SystemClock())


def current_time() -> float:
    return CURRENT.get().now()
