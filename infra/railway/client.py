"""Railway GraphQL client on httpx.

- Endpoint from `RAILWAY_API_URL`; an account/workspace token from `RAILWAY_API_TOKEN` (Bearer) or a project
  token from `RAILWAY_TOKEN` (`Project-Access-Token`), as Railway's own CLI reads them.
- Retries (tenacity) with exponential backoff for 5xx, timeouts, dropped connections and 429 (honouring
  `Retry-After`); non-idempotent writes are not retried blindly: an unanswered write raises
  `AmbiguousWriteError` so the caller can look before it creates again.
- Pacing from what Railway answers, so independent processes sharing a token (on one machine or fifty
  runners) stay inside its limits together without sharing anything but the token (`Pacer`).
"""
from __future__ import annotations

import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from graphql import OperationDefinitionNode, parse, print_ast
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from infra.railway.settings import NOTICE, check_endpoint, check_token, env_settings, shown_url
from infra.railway.errors import (AmbiguousWriteError, ApiUnavailableError, RailwayApiError, RateLimitedError,
                                  from_message)

DEFAULT_API_URL = "https://backboard.railway.com/graphql/v2"
OPERATIONS_DIR = Path(__file__).with_name("operations")
RETRYABLE_MESSAGES = ("too quickly", "try again in a sec", "internal server error")


@lru_cache(maxsize=1)
def operations() -> dict[str, str]:
    """Every named operation in operations/*.graphql, by name."""
    ops: dict[str, str] = {}
    for path in sorted(OPERATIONS_DIR.glob("*.graphql")):
        for node in parse(path.read_text()).definitions:
            if isinstance(node, OperationDefinitionNode) and node.name:
                if node.name.value in ops:
                    raise ValueError(f"operation {node.name.value} defined twice")
                ops[node.name.value] = print_ast(node)
    return ops


class _RateLimited(Exception):
    """Internal: a 429 with a Retry-After worth waiting for."""

    def __init__(self, retry_after: float, hourly: bool) -> None:
        super().__init__(f"429, retry after {retry_after}s")
        self.retry_after, self.hourly = retry_after, hourly


class _Transient(Exception):
    """Internal: a failure worth retrying."""

    def __init__(self, error: RailwayApiError, retry_after: float | None = None, sent: bool = True) -> None:
        super().__init__(str(error))
        self.error, self.retry_after, self.sent = error, retry_after, sent


class Pacer:
    """Paces one process's requests from Railway's answers; nothing is shared between processes but the token.

    - Per second: a per-process cap that halves on every 429 and creeps back on each answered request, so N
      processes converge on the plan's per-second limit between them instead of retrying in a storm.
    - Per hour: `X-RateLimit-Remaining` / `X-RateLimit-Reset` tell every process what is left of the token's
      budget; once less than `low_water` of it is left, requests are spread over the time until the reset.
    """

    low_water = 0.1

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.factor = 1.0
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset_at: float | None = None  # monotonic instant of the hourly reset
        self._next = 0.0
        self._told = False  # said once per process that the hourly budget is being stretched
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            spread = self._spread(now)
            self._next = slot + max(self.interval * self.factor, spread)
            told, self._told = self._told, self._told or spread > 1
        if spread > 1 and not told:
            print(f"acs-infra: {self.remaining} request(s) left of this token's hourly API budget (shared with any "
                  f"other runner); spacing requests {spread:.1f}s apart until it resets", file=sys.stderr, flush=True)
        if slot > now:
            time.sleep(slot - now)

    def _spread(self, now: float) -> float:
        if self.limit is None or self.remaining is None or self.reset_at is None:
            return 0.0
        if self.remaining > self.limit * self.low_water:
            return 0.0
        return max(0.0, self.reset_at - now) / max(self.remaining, 1)

    def answered(self, headers: httpx.Headers) -> None:
        """Reads the budget headers of any answer (a 429's too)."""
        with self._lock:
            self.limit = _int(headers.get("X-RateLimit-Limit"), self.limit)
            self.remaining = _int(headers.get("X-RateLimit-Remaining"), self.remaining)
            reset = _int(headers.get("X-RateLimit-Reset"), None)
            if reset is not None:  # epoch seconds (an assumption: Railway does not document the unit)
                self.reset_at = time.monotonic() + max(0.0, reset - time.time())
            self.factor = max(1.0, self.factor * 0.95)

    def rate_limited(self, retry_after: float) -> float:
        """A 429: slow this process down; returns how long to wait, with jitter so waiters spread out."""
        with self._lock:
            self.factor = min(self.factor * 2, 64.0)
            wait = retry_after + random.uniform(0.0, max(1.0, self.interval * self.factor))
            self._next = max(self._next, time.monotonic() + wait)
            return wait


def _int(value: str | None, default: int | None) -> int | None:
    try:
        return int(float(value)) if value is not None else default
    except ValueError:
        return default


@dataclass
class RailwayClient:
    url: str = DEFAULT_API_URL
    token: str | None = field(default=None, repr=False)
    project_token: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    max_attempts: int = 6
    max_retry_after: float = 3600.0  # a 429 asking for longer than one hourly window fails fast (F7)
    # A must-complete write waits out a 429 up to one hourly window (and a minute), whatever max_retry_after says
    must_complete_wait: float = 3660.0
    max_elapsed: float = 300.0
    requests_per_second: float = 8.0  # under Hobby's 10/s with headroom
    backoff_base: float = 0.25
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "acs-infra/0.1 (+pulumi)"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.project_token:
            headers["Project-Access-Token"] = self.project_token
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout))
        self._pacer = Pacer(self.requests_per_second)
        self.calls = 0
        self.writes = 0  # mutations sent: a cached read of the environment is stale once this moves

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "RailwayClient":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # ---- public API ------------------------------------------------------------------------------
    def query(self, operation: str, **variables: Any) -> dict[str, Any]:
        """Runs a read; always safe to retry."""
        return self._run(operation, variables, idempotent=True)

    def query_document(self, operation: str, document: str, **variables: Any) -> dict[str, Any]:
        """Runs a read built at run time (e.g. aliased root fields for ids known only then), named `operation`."""
        return self._run(operation, variables, idempotent=True, document=document)

    def mutate(self, operation: str, *, idempotent: bool = True, not_after: float | None = None,
               must_complete: bool = False, **variables: Any) -> dict[str, Any]:
        """Runs a write. Updates and deletes are idempotent; creates pass `idempotent=False`. `not_after` (epoch
        seconds): the write is never sent later (retries and waits included), so Railway can only have made it
        by `not_after + longest_answer()`; a create whose maker is later identified by that window uses it.
        `must_complete`: a write that finishes what an earlier write of this run began (a fork's shaping patch,
        the delete that undoes it): it waits out the hourly budget's reset whatever `max_retry_after` says,
        since failing there would leave a half-made object (adversarial issue 17, break 1)."""
        self.writes += 1
        return self._run(operation, variables, idempotent=idempotent, not_after=not_after,
                         must_complete=must_complete)

    def longest_answer(self) -> float:
        """Seconds one request can take from being sent to its answer (connect, then read)."""
        return self.connect_timeout + self.timeout

    def budget(self) -> tuple[int | None, int | None, float | None]:
        """(hourly limit, remaining, seconds until the reset) as Railway's last answer said; None: not told."""
        pacer = self._pacer
        reset_in = max(0.0, pacer.reset_at - time.monotonic()) if pacer.reset_at is not None else None
        return pacer.limit, pacer.remaining, reset_in

    # ---- internals -------------------------------------------------------------------------------
    def _run(self, operation: str, variables: dict[str, Any], idempotent: bool,
             document: str | None = None, not_after: float | None = None,
             must_complete: bool = False) -> dict[str, Any]:
        document = document or operations()[operation]
        body = {"query": document, "variables": variables, "operationName": operation}
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Transient) and (idempotent or not e.sent)),
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_elapsed),
            wait=self._wait, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return self._send_paced(operation, body, not_after, must_complete)
        except _Transient as exc:
            if not idempotent and exc.sent:
                raise AmbiguousWriteError(f"no answer to a write ({exc.error.message}); outcome unknown",
                                          operation) from None
            raise exc.error from None
        raise AssertionError("unreachable")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return exc.retry_after
        return min(self.backoff_base * 2 ** (state.attempt_number - 1), 8.0)

    def _send_paced(self, operation: str, body: dict[str, Any], not_after: float | None = None,
                    must_complete: bool = False) -> dict[str, Any]:
        """A 429 means Railway did not run the request: wait as asked and send it again, for any operation and
        without spending a retry attempt, so no run fails on a 429 it was told how to wait out."""
        while True:
            try:
                return self._send(operation, body, not_after, must_complete)
            except _RateLimited as limited:
                wait = self._pacer.rate_limited(limited.retry_after)
                if not_after is not None and time.time() + wait > not_after:  # would wake up past its deadline
                    raise RateLimitedError("not sent: its deadline passes before Railway's rate limit allows it; "
                                           "run again", operation, limited.retry_after)
                if limited.hourly:  # the hourly budget, not the per-second one: say why this run stops
                    print(f"{NOTICE}Railway's hourly API budget for this token is used up (another runner may "
                          f"share it); waiting {wait:.0f}s for it to reset before {operation}", file=sys.stderr,
                          flush=True)
                time.sleep(wait)

    def _too_long(self, retry_after: float | None) -> str:
        """A 429 this run will not wait out, in one line: the hourly budget's, with its reset and the setting."""
        if retry_after is None or self._pacer.remaining != 0:
            return "rate limited by Railway (HTTP 429)" + ("" if retry_after is None else
                                                            f", retry after {retry_after:.0f}s")
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + retry_after))  # a reset may be tomorrow
        return (f"Railway ran nothing: the token's hourly API budget is spent ({self._pacer.limit} calls an hour, "
                f"shared with every runner using the token); it resets in {retry_after:.0f}s (at {at} UTC), longer "
                f"than ACS_RAILWAY_MAX_WAIT ({self.max_retry_after:.0f}s) lets a run wait. Run again after the "
                "reset, or raise ACS_RAILWAY_MAX_WAIT")

    def _send(self, operation: str, body: dict[str, Any], not_after: float | None = None,
              must_complete: bool = False) -> dict[str, Any]:
        self._pacer.acquire()
        if not_after is not None and time.time() > not_after:  # never sent past its deadline (see mutate)
            due = time.strftime("%H:%M:%S", time.gmtime(not_after))
            raise ApiUnavailableError(f"not sent: its deadline ({due} UTC) passed while waiting for Railway; "
                                      "run again", operation)
        self.calls += 1
        try:
            resp = self._http.post(self.url, json=body)
        except httpx.ConnectError as exc:  # nothing reached the server: safe to retry any call
            where = shown_url(self.url)
            raise _Transient(ApiUnavailableError(f"cannot connect to {where}: {_without_url(exc, self.url)}",
                                                 operation), sent=False)
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise _Transient(ApiUnavailableError(f"{type(exc).__name__} talking to Railway", operation))
        self._pacer.answered(resp.headers)
        if resp.status_code == 429:
            retry_after = _retry_after(resp)
            if retry_after is None or retry_after > (self.must_complete_wait if must_complete else
                                                     self.max_retry_after):
                # an edge block or a wait beyond the limit: fail fast, nothing was run, state stays consistent
                raise RateLimitedError(self._too_long(retry_after), operation, retry_after)
            raise _RateLimited(retry_after, hourly=self._pacer.remaining == 0)
        if resp.status_code >= 500:
            raise _Transient(ApiUnavailableError(f"HTTP {resp.status_code} from Railway", operation))
        try:
            payload = resp.json()
        except ValueError:
            raise ApiUnavailableError(f"HTTP {resp.status_code} with a non-JSON body", operation) from None
        if payload.get("errors"):
            message = payload["errors"][0].get("message", "unknown error")
            if any(m in message.lower() for m in RETRYABLE_MESSAGES):
                raise _Transient(RateLimitedError(message, operation), sent=False)
            raise from_message(message, operation)
        if resp.status_code >= 400:
            raise ApiUnavailableError(f"HTTP {resp.status_code} from Railway", operation)
        return payload["data"]


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def client_from_env(env: dict[str, str] | None = None, **overrides: Any) -> RailwayClient:
    """A client configured the way Railway's CLI is: RAILWAY_API_URL, RAILWAY_API_TOKEN or RAILWAY_TOKEN."""
    env = dict(os.environ if env is None else env)
    settings: dict[str, Any] = {
        "url": env.get("RAILWAY_API_URL") or DEFAULT_API_URL,
        "token": env.get("RAILWAY_API_TOKEN") or None,
        "project_token": None if env.get("RAILWAY_API_TOKEN") else env.get("RAILWAY_TOKEN") or None,
    }
    settings.update(env_settings(env))
    settings.update({k: v for k, v in overrides.items() if v is not None})
    check_endpoint(settings["url"])
    check_token("RAILWAY_API_TOKEN" if settings["token"] else "RAILWAY_TOKEN",
                settings["token"] or settings["project_token"])
    if not settings["token"] and not settings["project_token"]:
        raise RailwayApiError("no Railway token: set RAILWAY_API_TOKEN (account/workspace) or RAILWAY_TOKEN "
                              "(project), or the stack config acs:railwayToken")
    return RailwayClient(**settings)


def _without_url(exc: Exception, url: str) -> str:
    """httpx's own message may repeat the URL, credentials and all (adv27 B7)."""
    return str(exc).replace(url, shown_url(url))
