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

    def configure(self, values: dict[str, Any]) -> None:
        with self._lock:
            self.faults.update(values)
            if "seed" in values:
                self._rng = random.Random(values["seed"])

    def pick(self, operation: str) -> str | None:
        """One of "drop", "timeout", "error", "error_after" or None."""
        with self._lock:
            f = self.faults
            if f.fail_next.get(operation, 0) > 0:
                f.fail_next[operation] -= 1
                return "error_after" if f.error_after_commit else "error"
            if f.timeout_next.get(operation, 0) > 0:
                f.timeout_next[operation] -= 1
                return "timeout"
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
    """Per-token sliding windows of one second and one hour, as Railway enforces per plan."""

    def __init__(self, per_second: int, per_hour: int) -> None:
        self.per_second, self.per_hour = per_second, per_hour
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def set_limits(self, per_second: int, per_hour: int) -> None:
        """New limits start with fresh windows."""
        with self._lock:
            self.per_second, self.per_hour = per_second, per_hour
            self._hits.clear()

    def acquire(self, token: str) -> tuple[bool, int, dict[str, str]]:
        """(allowed, retry_after_seconds, headers)."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[token]
            while hits and now - hits[0] >= 3600:
                hits.popleft()
            last_second = sum(1 for t in reversed(hits) if now - t < 1.0)
            headers = {"X-RateLimit-Limit": str(self.per_hour),
                       "X-RateLimit-Remaining": str(max(0, self.per_hour - len(hits) - 1))}
            if len(hits) >= self.per_hour:
                retry = math.ceil(3600 - (now - hits[0]))
            elif last_second >= self.per_second:
                retry = 1
            else:
                hits.append(now)
                return True, 0, headers
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset"] = str(int(time.time()) + retry)
            return False, retry, headers
