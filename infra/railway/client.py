"""Railway GraphQL client on httpx.

- Endpoint from `RAILWAY_API_URL`; an account/workspace token from `RAILWAY_API_TOKEN` (Bearer) or a project
  token from `RAILWAY_TOKEN` (`Project-Access-Token`), as Railway's own CLI reads them.
- Retries (tenacity) with exponential backoff for 5xx, timeouts, dropped connections and 429 (honouring
  `Retry-After`); non-idempotent writes are not retried blindly: an unanswered write raises
  `AmbiguousWriteError` so the caller can look before it creates again.
- A request-rate cap shared by every process on the machine that uses the same token (a file-locked leaky
  bucket), so many parallel `pulumi up`s stay inside Railway's per-token limits.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from graphql import OperationDefinitionNode, parse, print_ast
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

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


class _Transient(Exception):
    """Internal: a failure worth retrying."""

    def __init__(self, error: RailwayApiError, retry_after: float | None = None, sent: bool = True) -> None:
        super().__init__(str(error))
        self.error, self.retry_after, self.sent = error, retry_after, sent


class SharedRateLimiter:
    """A leaky bucket whose state lives in a file, so all local processes using one token share it."""

    def __init__(self, key: str, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.path = Path(tempfile.gettempdir()) / f"acs-railway-rate-{digest}"

    def acquire(self) -> None:
        if not self.interval:
            return
        with open(self.path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            raw = fh.read().strip()
            now = time.time()
            slot = max(now, float(raw) if raw else 0.0)
            fh.seek(0)
            fh.truncate()
            fh.write(repr(slot + self.interval))
            fh.flush()
        if slot > now:
            time.sleep(slot - now)


@dataclass
class RailwayClient:
    url: str = DEFAULT_API_URL
    token: str | None = field(default=None, repr=False)
    project_token: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    max_attempts: int = 6
    max_retry_after: float = 60.0   # a 429 asking for longer than this fails fast (F7)
    max_elapsed: float = 300.0
    requests_per_second: float = 8.0  # under Hobby's 10/s with headroom
    backoff_base: float = 0.25

    def __post_init__(self) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "acs-infra/0.1 (+pulumi)"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.project_token:
            headers["Project-Access-Token"] = self.project_token
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(self.timeout, connect=10.0))
        self._limiter = SharedRateLimiter(f"{self.url}|{self.token or self.project_token}", self.requests_per_second)
        self.calls = 0

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

    def mutate(self, operation: str, *, idempotent: bool = True, **variables: Any) -> dict[str, Any]:
        """Runs a write. Updates and deletes are idempotent; creates pass `idempotent=False`."""
        return self._run(operation, variables, idempotent=idempotent)

    # ---- internals -------------------------------------------------------------------------------
    def _run(self, operation: str, variables: dict[str, Any], idempotent: bool) -> dict[str, Any]:
        document = operations()[operation]
        body = {"query": document, "variables": variables, "operationName": operation}
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Transient) and (idempotent or not e.sent)),
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_elapsed),
            wait=self._wait, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return self._send(operation, body)
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

    def _send(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        self._limiter.acquire()
        self.calls += 1
        try:
            resp = self._http.post(self.url, json=body)
        except httpx.ConnectError as exc:  # nothing reached the server: safe to retry any call
            raise _Transient(ApiUnavailableError(f"cannot connect to {self.url}: {exc}", operation), sent=False)
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise _Transient(ApiUnavailableError(f"{type(exc).__name__} talking to Railway", operation))
        if resp.status_code == 429:
            retry_after = _retry_after(resp)
            error = RateLimitedError("rate limited by Railway (HTTP 429)", operation, retry_after)
            if retry_after is None or retry_after > self.max_retry_after:
                raise error  # an hour-long wait or an edge block: fail fast, state stays consistent
            raise _Transient(error, retry_after=retry_after, sent=False)
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
    if env.get("ACS_RAILWAY_RPS"):
        settings["requests_per_second"] = float(env["ACS_RAILWAY_RPS"])
    if env.get("ACS_RAILWAY_TIMEOUT"):
        settings["timeout"] = float(env["ACS_RAILWAY_TIMEOUT"])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if not settings["token"] and not settings["project_token"]:
        raise RailwayApiError("no Railway token: set RAILWAY_API_TOKEN (account/workspace) or RAILWAY_TOKEN "
                              "(project), or the stack config acs:railwayToken")
    return RailwayClient(**settings)
