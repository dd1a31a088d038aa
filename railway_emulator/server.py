"""The emulator's HTTP front.

- `POST /graphql/v2`: Railway's GraphQL API (auth headers, rate limits, faults, per-operation counters).
- `/_emulator/...`: admin endpoint (stats, request log, faults, limits, tokens, service behaviour, inventory,
  clock).
- Any request whose `Host` is a service domain: the deployed app itself, with a health endpoint.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from graphql import (FieldNode, GraphQLError, InlineFragmentNode, OperationDefinitionNode, OperationType, execute,
                     parse, validate)

from railway_emulator import models as m
from railway_emulator.clock import Clock
from railway_emulator.errors import RailwayError
from railway_emulator.faults import PLANS, FaultInjector, Faults, RateLimiter
from railway_emulator.resolvers import build

DEFAULT_TOKEN = "railway-emulator-local-token"
ADMIN_PREFIX = "/_emulator"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
# Request bounds. Railway documents none of them; these are the emulator's own assumptions, far above what any
# client operation needs (the largest the product sends is ~260 tokens, depth 7).
MAX_BODY_BYTES = 1024 * 1024
MAX_QUERY_TOKENS = 5000
MAX_QUERY_DEPTH = 15


class BadRequest(Exception):
    """A request the emulator refuses before running it: answered with `status` and Railway's error shape."""

    def __init__(self, message: str, status: int = 400, unread: bool = False) -> None:
        super().__init__(message)
        self.message, self.status, self.unread = message, status, unread


def check_body(body: Any) -> dict[str, Any]:
    """A GraphQL request is one JSON object with a string `query` and optional object `variables`."""
    if isinstance(body, list):
        raise BadRequest("Batched requests are not supported: send one operation per request")
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object with a query")
    if not isinstance(body.get("query"), str):
        raise BadRequest("query must be a string")
    if body.get("variables") is not None and not isinstance(body["variables"], dict):
        raise BadRequest("variables must be a JSON object")
    if body.get("operationName") is not None and not isinstance(body["operationName"], str):
        raise BadRequest("operationName must be a string")
    return body


def _depth(node: Any) -> int:
    selections = getattr(getattr(node, "selection_set", None), "selections", None) or []
    deeper = max((_depth(s) for s in selections), default=0)
    return deeper + (1 if isinstance(node, FieldNode) else 0) if not isinstance(node, InlineFragmentNode) else deeper


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


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, state_path: str | None = None,
                 tokens: list[str] | None = None, plan: str = "unlimited", faults: Faults | None = None,
                 deploy_seconds: float = 0.3, clock: Clock | None = None, workspace_id: str | None = None) -> None:
        super().__init__((host, port), Handler)
        self.backend = m.Backend(state_path, deploy_seconds=deploy_seconds, workspace_id=workspace_id)
        self.clock = self.backend.clock = clock or Clock()  # real time unless a test moves it
        self.schema = build()
        self.account_tokens = {t: m.Token(t, self.backend.workspace_id) for t in (tokens or [DEFAULT_TOKEN])}
        self.limiter = RateLimiter(*PLANS[plan], clock=self.clock)
        self.faults = FaultInjector(faults)
        self.stats = Stats()
        self._documents: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/graphql/v2"

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "EmulatorServer":
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="railway-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    # ---- auth ------------------------------------------------------------------------------------
    def token_for(self, headers: Any) -> m.Token | None:
        bearer = headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            return self.account_tokens.get(bearer[7:].strip())
        project_token = headers.get("Project-Access-Token")
        if project_token:
            with self.backend.lock:
                return self.backend.token_by_value(project_token.strip())
        return None

    def create_project_token(self, project_id: str, environment_id: str, name: str = "emulator") -> str:
        with self.backend.lock:
            admin = m.Token("admin", self.backend.workspace_id)
            value = self.backend.project_token_create(admin, {"projectId": project_id, "environmentId": environment_id,
                                                              "name": name})
            self.backend.save()
            return value

    # ---- GraphQL ---------------------------------------------------------------------------------
    def _document(self, query: str) -> tuple[Any, list[dict[str, Any]]]:
        """Parsed and validated documents, cached: clients send the same few operations over and over."""
        cached = self._documents.get(query)
        if cached is None:
            try:
                document = parse(query, max_tokens=MAX_QUERY_TOKENS)
                if max(_depth(d) for d in document.definitions) > MAX_QUERY_DEPTH:
                    raise BadRequest(f"Query is too complex: nested deeper than {MAX_QUERY_DEPTH} fields")
                cached = (document, [e.formatted for e in validate(self.schema, document)])
            except GraphQLError as exc:
                if "more than" in exc.message and "tokens" in exc.message:
                    raise BadRequest(f"Query is too complex: more than {MAX_QUERY_TOKENS} tokens") from None
                cached = (None, [{"message": exc.message}])
            if len(self._documents) < 2048:
                self._documents[query] = cached
        return cached

    def run_graphql(self, body: dict[str, Any], token: m.Token) -> tuple[dict[str, Any], bool]:
        """Executes one request; returns (response body, whether it was a mutation)."""
        document, errors = self._document(body.get("query") or "")
        if errors:
            return {"errors": errors, "data": None}, False
        mutation = _is_mutation(document, body.get("operationName"))
        with self.backend.lock:
            result = execute(self.schema, document, variable_values=body.get("variables") or {},
                             operation_name=body.get("operationName"),
                             context_value={"backend": self.backend, "token": token})
            if mutation and not result.errors:
                self.backend.save()
        if result.errors:
            # Railway answers an error with `data: null` and the message it raised.
            messages = [{"message": _message(e), **({"path": e.path} if e.path else {})} for e in result.errors]
            return {"errors": messages, "data": None}, mutation
        return {"data": result.data}, mutation


def _message(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, RailwayError):
        return original.message
    if original is not None and not isinstance(original, GraphQLError):  # a fault of ours, not of the request
        return "Problem processing request"
    return error.message  # GraphQL's own, e.g. a variable that cannot be coerced to its declared type


def _is_mutation(document: Any, operation_name: str | None) -> bool:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    op = next((o for o in ops if o.name and o.name.value == operation_name), ops[0] if ops else None)
    return bool(op and op.operation == OperationType.MUTATION)


def operation_label(body: dict[str, Any]) -> str:
    """The operation name, or the first root field when the request has none."""
    if body.get("operationName"):
        return body["operationName"]
    try:
        doc = parse(body.get("query") or "", max_tokens=MAX_QUERY_TOKENS)
        op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
        return op.name.value if op.name else op.selection_set.selections[0].name.value  # type: ignore[attr-defined]
    except Exception:
        return "<invalid>"


class Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # header and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the request log is on the admin endpoint
        pass

    # ---- plumbing --------------------------------------------------------------------------------
    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            raise BadRequest("Content-Length must be a non-negative number", unread=True)
        if length > MAX_BODY_BYTES:
            raise BadRequest(f"Request body too large (limit {MAX_BODY_BYTES} bytes)", 413, unread=True)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise BadRequest("Invalid JSON body") from None

    def _refuse(self, exc: BadRequest) -> None:
        """Railway's error shape; a body we did not read leaves the connection unusable, so it is closed."""
        self.close_connection = self.close_connection or exc.unread
        self._send(exc.status, {"errors": [{"message": exc.message}], "data": None},
                   {"Connection": "close"} if exc.unread else None)

    def _host(self) -> str:
        return (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.close()

    # ---- routes ----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self._host() not in LOCAL_HOSTS:
            return self._app()
        if self.path.startswith(ADMIN_PREFIX):
            return self._admin("GET")
        self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self._host() not in LOCAL_HOSTS:
            return self._app()
        if self.path.split("?")[0] == "/graphql/v2":
            return self._graphql()
        if self.path.startswith(ADMIN_PREFIX):
            return self._admin("POST")
        self._send(404, {"error": "not found"})

    def _graphql(self) -> None:
        try:
            self._graphql_request()
        except BadRequest as exc:
            self._refuse(exc)

    def _graphql_request(self) -> None:
        started = time.monotonic()
        body = check_body(self._body())
        srv = self.server
        label = operation_label(body)
        entry: dict[str, Any] = {"operation": label, "at": time.time()}
        token = srv.token_for(self.headers)
        if srv.faults.faults.latency_ms:
            time.sleep(srv.faults.faults.latency_ms / 1000)
        allowed, retry, rl_headers = srv.limiter.acquire(token.value if token else self.client_address[0])
        if not allowed:
            entry.update(status=429)
            srv.stats.record(entry)
            return self._send(429, {"errors": [{"message": "Rate limit exceeded. Please try again later."}],
                                    "data": None}, {**rl_headers, "Retry-After": str(retry)})
        fault = srv.faults.pick(label)
        entry["fault"] = fault
        if fault:
            srv.stats.fault_chosen(fault)
        if fault == "drop":
            entry.update(status=0)
            srv.stats.record(entry)
            return self._drop()
        if fault == "timeout":
            time.sleep(srv.faults.faults.timeout_seconds)
        if fault == "error":
            entry.update(status=srv.faults.status_code())
            srv.stats.record(entry)
            return self._send(entry["status"], b"<html><body>Bad gateway</body></html>", content_type="text/html")
        if token is None:
            entry.update(status=200, error="Not Authorized")
            srv.stats.record(entry)
            return self._send(200, {"errors": [{"message": "Not Authorized"}], "data": None}, rl_headers)
        result, mutation = srv.run_graphql(body, token)
        entry.update(mutation=mutation, status=200, ms=round((time.monotonic() - started) * 1000, 1))
        if result.get("errors"):
            entry["error"] = result["errors"][0]["message"]
        if fault == "error_after":  # the change is committed, but the client never hears of it
            entry["status"] = srv.faults.status_code()
            srv.stats.record(entry)
            return self._send(entry["status"], b"<html><body>Gateway timeout</body></html>", content_type="text/html")
        srv.stats.record(entry)
        self._send(200, result, rl_headers)

    def _app(self) -> None:
        """A deployed service answering on its domain: healthy once its active deployment is live, unless the
        code of that deployment was marked unhealthy (behaviour is captured when a deployment is made)."""
        backend = self.server.backend
        host = self._host()
        with backend.lock:
            dom = backend.domain_for_host(host)
            if dom is None:
                return self._send(404, {"status": "error", "message": "Application not found"})
            active = backend.active_deployment(dom.serviceId, dom.environmentId)
            healthy = active is not None and (active.snapshot.get("behaviour") or {}).get("healthy", True)
            path = backend.healthcheck_path(dom.serviceId, dom.environmentId)
        if active is None:
            return self._send(502, {"status": "error", "message": "Application failed to respond"})
        body = {"status": "ok" if healthy else "unhealthy", "deploymentId": active.id, "healthcheckPath": path}
        self._send(200 if healthy else 503, body)

    # ---- admin -----------------------------------------------------------------------------------
    def _admin(self, method: str) -> None:
        srv, route = self.server, self.path[len(ADMIN_PREFIX):].split("?")[0].rstrip("/")
        try:
            body = self._body() if method == "POST" else {}
            if not isinstance(body, dict):
                raise ValueError("the admin body must be a JSON object")
            handler = ADMIN_ROUTES.get((method, route))
            if handler is None and route.startswith("/services/") and route.endswith("/behaviour"):
                return self._send(200, _set_behaviour(srv, route.split("/")[2], body))
            if handler is None:
                return self._send(404, {"error": f"no admin route {method} {route}"})
            self._send(200, handler(srv, body))
        except (ValueError, KeyError, RailwayError) as exc:
            self._send(400, {"error": str(exc)})
        except BadRequest as exc:
            self._refuse(exc)


def _set_behaviour(srv: EmulatorServer, service_id: str, body: dict[str, Any]) -> dict[str, Any]:
    with srv.backend.lock:
        behaviour = srv.backend.behaviour(service_id)
        for key, value in body.items():
            if not hasattr(behaviour, key):
                raise ValueError(f"unknown behaviour: {key}")
            setattr(behaviour, key, value)
        srv.backend.save()
        return asdict(behaviour)


def _set_clock(srv: EmulatorServer, body: dict[str, Any]) -> dict[str, Any]:
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


def _set_limits(srv: EmulatorServer, body: dict[str, Any]) -> dict[str, Any]:
    rps, rph = PLANS[body["plan"]] if "plan" in body else (body["per_second"], body["per_hour"])
    srv.limiter.set_limits(rps, rph, body.get("window_seconds", 3600.0))
    return {"per_second": rps, "per_hour": rph, "window_seconds": srv.limiter.window}


ADMIN_ROUTES = {
    ("GET", "/health"): lambda srv, _: {"status": "ok", "url": srv.url},
    ("GET", "/stats"): lambda srv, _: srv.stats.snapshot(),
    ("POST", "/stats/reset"): lambda srv, _: (srv.stats.reset(), {"reset": True})[1],
    ("GET", "/requests"): lambda srv, _: list(srv.stats.log),
    ("GET", "/faults"): lambda srv, _: srv.faults.faults.as_dict(),
    ("POST", "/faults"): lambda srv, body: (srv.faults.configure(body), srv.faults.faults.as_dict())[1],
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
