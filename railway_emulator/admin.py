"""The emulator's admin endpoint (`/_emulator/...`): request counters the benchmarks read, and the routes that
set faults, limits, tokens, service behaviour and the clock. The server passes itself as `srv`."""
from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict
from typing import Any, Callable

from railway_emulator import models as m
from railway_emulator.faults import PLANS

ADMIN_PREFIX = "/_emulator"


class Stats:
    """Counters the benchmarks read: every GraphQL request, by operation, with 429s and injected faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.by_operation: Counter[str] = Counter()
            self.writes: Counter[str] = Counter()
            self.status: Counter[int] = Counter()
            self.faults: Counter[str] = Counter()
            self.log: deque[dict[str, Any]] = deque(maxlen=5000)
            self.total = 0

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.total += 1
            self.by_operation[entry["operation"]] += 1
            if entry.get("mutation"):
                self.writes[entry["operation"]] += 1
            self.status[entry["status"]] += 1
            self.log.append(entry)

    def fault_chosen(self, kind: str) -> None:
        """Counted when the fault is decided, not when the request ends: a test reading the stats while a
        `timeout` request still sleeps must already see it."""
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self.total, "by_operation": dict(self.by_operation), "writes": dict(self.writes),
                    "write_total": sum(self.writes.values()), "status": {str(k): v for k, v in self.status.items()},
                    "rate_limited": self.status.get(429, 0), "faults": dict(self.faults)}


def admin_route(method: str, route: str) -> Callable[[Any, dict[str, Any]], Any] | None:
    """The handler of an admin route, or None; `/services/<id>/behaviour` carries the service id."""
    handler = ADMIN_ROUTES.get((method, route))
    if handler is None and route.startswith("/services/") and route.endswith("/behaviour"):
        service_id = route.split("/")[2]
        return lambda srv, body: _set_behaviour(srv, service_id, body)
    return handler


def _set_behaviour(srv: Any, service_id: str, body: dict[str, Any]) -> dict[str, Any]:
    with srv.backend.lock:
        behaviour = srv.backend.behaviour(service_id)
        for key, value in body.items():
            if not hasattr(behaviour, key):
                raise ValueError(f"unknown behaviour: {key}")
            setattr(behaviour, key, value)
        srv.backend.save()
        return asdict(behaviour)


def _set_clock(srv: Any, body: dict[str, Any]) -> dict[str, Any]:
    """`{"advance": seconds}` moves the emulator's time forward; `{"freeze": true|false}` stops or restarts it."""
    unknown = set(body) - {"advance", "freeze"}
    if unknown:
        raise ValueError(f"unknown clock setting(s) {sorted(unknown)}: use advance (seconds) or freeze (bool)")
    freeze, seconds = body.get("freeze"), body.get("advance", 0)
    if freeze is not None and not isinstance(freeze, bool):
        raise ValueError("freeze must be true or false")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError("advance must be a number of seconds >= 0")
    if freeze is not None:
        srv.clock.freeze(freeze)
    srv.clock.advance(float(seconds))
    return srv.clock.as_dict()


def _set_limits(srv: Any, body: dict[str, Any]) -> dict[str, Any]:
    """{"plan": name} or {"per_second", "per_hour"[, "window_seconds"]}; a missing one is named (adv25 m6 got
    "{"error": "'per_second'"}")."""
    if "plan" not in body and not {"per_second", "per_hour"} <= set(body):
        raise ValueError(f"give \"plan\" (one of {', '.join(PLANS)}) or both \"per_second\" and \"per_hour\"")
    if "plan" in body and body["plan"] not in PLANS:
        raise ValueError(f"plan {body['plan']!r} is not one of {', '.join(PLANS)}")
    rps, rph = PLANS[body["plan"]] if "plan" in body else (body["per_second"], body["per_hour"])
    window = body.get("window_seconds", 3600.0)
    for name, value in (("per_second", rps), ("per_hour", rph), ("window_seconds", window)):
        # a string stopped every later answer, NaN turned the limit off (adv26 N8)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise ValueError(f"{name} must be a number above 0, not {value!r}")
    srv.limiter.set_limits(rps, rph, window)
    return {"per_second": rps, "per_hour": rph, "window_seconds": srv.limiter.window}


ADMIN_ROUTES: dict[tuple[str, str], Callable[[Any, dict[str, Any]], Any]] = {
    ("GET", "/health"): lambda srv, _: {"status": "ok", "url": srv.url},
    ("GET", "/stats"): lambda srv, _: srv.stats.snapshot(),
    ("POST", "/stats/reset"): lambda srv, _: (srv.stats.reset(), {"reset": True})[1],
    ("GET", "/requests"): lambda srv, _: list(srv.stats.log),
    ("GET", "/faults"): lambda srv, _: srv.faults.faults.as_dict(),
    ("POST", "/faults"): lambda srv, body: (srv.faults.configure(body), srv.faults.faults.as_dict())[1],
    ("GET", "/faults/holding"): lambda srv, _: {"holding": srv.faults.holding()},
    ("POST", "/faults/release"): lambda srv, _: {"released": srv.faults.release()},
    ("POST", "/limits"): _set_limits,
    ("GET", "/clock"): lambda srv, _: srv.clock.as_dict(),
    ("POST", "/clock"): _set_clock,
    ("POST", "/project-tokens"): lambda srv, body: {
        "token": srv.create_project_token(body["projectId"], body["environmentId"])},
    ("POST", "/tokens/revoke"): lambda srv, body: {"revoked": srv.account_tokens.pop(body["token"], None) is not None},
    ("POST", "/tokens"): lambda srv, body: (srv.account_tokens.__setitem__(
        body["token"], m.Token(body["token"], srv.backend.workspace_id)), {"token": body["token"]})[1],
    ("GET", "/inventory"): lambda srv, _: srv.backend.inventory(),
    ("POST", "/reset"): lambda srv, _: (srv.backend.reset(), srv.stats.reset(), {"reset": True})[2],
}
