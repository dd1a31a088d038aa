"""Rate limits and injected faults, settable at start and through the admin endpoint."""
from __future__ import annotations

import math
import random
import threading
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

PLANS: dict[str, tuple[int, int]] = {  # requests per second, per hour (Railway docs)
    "hobby": (10, 1000),
    "pro": (50, 10000),
    "unlimited": (100000, 100000000),
}


@dataclass
class Faults:
    latency_ms: float = 0.0         # added to every GraphQL request
    error_rate: float = 0.0         # share of requests answered 502/503/504
    error_after_commit: bool = False  # the 5xx comes after the mutation was applied (F9)
    timeout_rate: float = 0.0       # share of requests that hang for `timeout_seconds` before answering
    timeout_seconds: float = 30.0
    drop_rate: float = 0.0          # share of connections closed without an answer
    fail_next: dict[str, int] = field(default_factory=dict)  # operation name -> number of 503s to give
    timeout_next: dict[str, int] = field(default_factory=dict)  # operation name -> number of slow answers
    # operation name -> number of answers held for `timeout_seconds` after the change was applied (a run killed
    # while it waits for Railway's answer: the object exists, the caller never learnt of it); POST
    # /_emulator/faults/release ends every hold early (a test acts while the answer is held, then lets it go)
    hold_after_next: dict[str, int] = field(default_factory=dict)
    seed: int | None = None

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if not hasattr(self, key):
                raise ValueError(f"unknown fault setting: {key}")
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    """Decides, per request, which fault (if any) applies. Deterministic when a seed is set."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._holds: list[threading.Event] = []

    def hold(self) -> None:
        """Holds an answer for `timeout_seconds`, or until `release`."""
        done = threading.Event()
        with self._lock:
            self._holds.append(done)
        done.wait(self.faults.timeout_seconds)
        with self._lock:
            if done in self._holds:
                self._holds.remove(done)

    def release(self) -> int:
        """Ends every hold now; the number of answers let go."""
        with self._lock:
            holds, self._holds = self._holds, []
        for done in holds:
            done.set()
        return len(holds)

    def holding(self) -> int:
        with self._lock:
            return len(self._holds)

    def configure(self, values: dict[str, Any]) -> None:
        with self._lock:
            self.faults.update(values)
            if "seed" in values:
                self._rng = random.Random(values["seed"])

    def pick(self, operation: str) -> str | None:
        """One of "drop", "timeout", "error", "error_after", "hold_after" or None."""
        with self._lock:
            f = self.faults
            if f.fail_next.get(operation, 0) > 0:
                f.fail_next[operation] -= 1
                return "error_after" if f.error_after_commit else "error"
            if f.timeout_next.get(operation, 0) > 0:
                f.timeout_next[operation] -= 1
                return "timeout"
            if f.hold_after_next.get(operation, 0) > 0:
                f.hold_after_next[operation] -= 1
                return "hold_after"
            roll = self._rng.random()
            for kind, share in (("drop", f.drop_rate), ("timeout", f.timeout_rate), ("error", f.error_rate)):
                if roll < share:
                    return "error_after" if kind == "error" and f.error_after_commit else kind
                roll -= share
            return None

    def status_code(self) -> int:
        with self._lock:
            return self._rng.choice([502, 503, 504])


class RateLimiter:
    """Per-token limits as Railway documents them per plan: requests per second and per hour.

    Every answer carries `X-RateLimit-Limit` (the hourly budget), `X-RateLimit-Remaining` (what is left of it
    after this request) and `X-RateLimit-Reset` (epoch seconds when the hourly budget starts over); a 429 adds
    `Retry-After` in seconds. Railway does not document the window's shape or the Reset unit: the emulator
    assumes a fixed window that opens with a token's first request (so Reset is one instant every client of the
    token sees alike) and epoch seconds, and counts only answered requests, not 429s. The second window is
    sliding and the hourly one fixed; both read `clock` (tests stop or move it: three requests on a stopped clock
    are one instant however slow the machine), and the hourly one may be shortened
    (`window_seconds`) so a benchmark can watch work queue across several windows.
    """

    def __init__(self, per_second: int, per_hour: int, clock: Any = None, window_seconds: float = 3600.0) -> None:
        self.per_second, self.per_hour, self.window = per_second, per_hour, window_seconds
        self.clock = clock
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._windows: dict[str, tuple[float, int]] = {}  # token -> (window start, requests counted)
        self._lock = threading.Lock()

    def set_limits(self, per_second: int, per_hour: int, window_seconds: float | None = None) -> None:
        """New limits start with fresh windows."""
        with self._lock:
            self.per_second, self.per_hour = per_second, per_hour
            if window_seconds is not None:
                self.window = float(window_seconds)
            self._recent.clear()
            self._windows.clear()

    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else time.time()

    def acquire(self, token: str) -> tuple[bool, int, dict[str, str]]:
        """(allowed, retry_after_seconds, headers)."""
        now = self._now()
        mono = now  # the per-second window slides on the same clock
        with self._lock:
            start, used = self._windows.get(token, (now, 0))
            if now - start >= self.window:
                start, used = now, 0
            recent = self._recent[token]
            while recent and mono - recent[0] >= 1.0:
                recent.popleft()
            reset = start + self.window
            if used >= self.per_hour:
                retry = max(1, math.ceil(reset - now))
            elif len(recent) >= self.per_second:
                retry = 1
            else:
                retry = 0
                used += 1
                recent.append(mono)
            self._windows[token] = (start, used)
            headers = {"X-RateLimit-Limit": str(self.per_hour),
                       "X-RateLimit-Remaining": str(max(0, self.per_hour - used)),
                       "X-RateLimit-Reset": str(math.ceil(reset))}
            return retry == 0, retry, headers
