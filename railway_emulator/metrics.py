"""Plausible metric series for a running deployment, shaped by the behaviour its code shipped with.

Deterministic for a given deployment and timestamp (a hash stands in for noise), so tests can rely on them.
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

REQUESTS_PER_SECOND = 20.0


def parse_time(value: str | None, default: float) -> float:
    if not value:
        return default
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _noise(key: str, ts: int) -> float:
    """A stable value in [-1, 1)."""
    digest = hashlib.sha256(f"{key}:{ts}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2 ** 31 - 1


def _steps(start: float, end: float, step: int) -> list[int]:
    first = int(start) - int(start) % step
    return list(range(first, int(end) + 1, step))


def behaviour_of(deployment: Any) -> dict[str, Any]:
    return deployment.snapshot.get("behaviour") or {}


def resource_series(deployment: Any, measurement: str, start: float, end: float, step: int,
                    memory_limit_gb: float, cpu_limit: float) -> list[dict[str, float]]:
    b = behaviour_of(deployment)
    out = []
    for ts in _steps(max(start, deployment.createdTs), end, step):
        age = max(0.0, ts - deployment.createdTs)
        creep = min(1.0, age / max(1.0, float(b.get("creepSeconds", 300))))
        base_mem = 0.30
        mem_fraction = base_mem + (float(b.get("memoryPeak", 0.45)) - base_mem) * creep
        value = {
            "MEMORY_USAGE_GB": memory_limit_gb * mem_fraction * (1 + 0.01 * _noise(deployment.id + "m", ts)),
            "MEMORY_LIMIT_GB": memory_limit_gb,
            "CPU_USAGE": cpu_limit * float(b.get("cpu", 0.2)) * (1 + 0.02 * _noise(deployment.id + "c", ts)),
            "CPU_LIMIT": cpu_limit,
        }.get(measurement)
        if value is not None:
            out.append({"ts": ts, "value": round(value, 4)})
    return out


def request_series(deployment: Any, start: float, end: float, step: int,
                   status_code: int | None) -> list[dict[str, float]]:
    b = behaviour_of(deployment)
    out = []
    for ts in _steps(max(start, deployment.createdTs), end, step):
        total = round(REQUESTS_PER_SECOND * step * (1 + 0.05 * _noise(deployment.id + "r", ts)), 3)
        errors = round(total * float(b.get("errorRate", 0.001)), 3)  # rounded first: the parts sum to the total
        value = total if status_code is None else (errors if status_code >= 500 else round(total - errors, 3))
        out.append({"ts": ts, "value": value})
    return out


def duration_series(deployment: Any, start: float, end: float, step: int) -> list[dict[str, float]]:
    b = behaviour_of(deployment)
    latency = float(b.get("latencyMs", 120))
    out = []
    for ts in _steps(max(start, deployment.createdTs), end, step):
        jitter = 1 + 0.03 * _noise(deployment.id + "l", ts)
        out.append({"ts": ts, "p50": round(latency * 0.6 * jitter, 2), "p90": round(latency * 0.9 * jitter, 2),
                    "p95": round(latency * jitter, 2), "p99": round(latency * 1.3 * jitter, 2)})
    return out
