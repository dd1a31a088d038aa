"""The emulator's HTTP front.

- `POST /graphql/v2`: Railway's GraphQL API (auth headers, rate limits, faults, per-operation counters).
- `/_emulator/...`: admin endpoint (stats, request log, faults, limits, tokens, service behaviour, inventory,
  clock): its routes are in `admin`.
- Any request whose `Host` is a service domain: the deployed app itself, with a health endpoint.

GraphQL parsing, validation and execution are in `execution`; this module only speaks HTTP.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from railway_emulator import models as m
from railway_emulator.admin import ADMIN_PREFIX, Stats, admin_route
from railway_emulator.clock import CURRENT, Clock
from railway_emulator.errors import RailwayError
from railway_emulator.execution import BadRequest, Executor, check_body, operation_label
from railway_emulator.faults import PLANS, FaultInjector, Faults, RateLimiter
from railway_emulator.resolvers import build

DEFAULT_TOKEN = "railway-emulator-local-token"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
# Railway documents no body limit: the emulator's own assumption, far above any client operation.
MAX_BODY_BYTES = 1024 * 1024


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
        self.executor = Executor(self.schema, self.backend)
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

    def run_graphql(self, body: dict[str, Any], token: m.Token) -> tuple[dict[str, Any], bool]:
        """Executes one request; returns (response body, whether it was a mutation)."""
        return self.executor.run(body, token)


class Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # header and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the request log is on the admin endpoint
        pass

    def setup(self) -> None:  # one thread per connection: its records are stamped on this emulator's clock
        super().setup()
        CURRENT.set(self.server.clock)

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
        raw = self._chunked() if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower() else self._sized()
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise BadRequest("Invalid JSON body") from None

    def _chunked(self) -> bytes:
        """A `Transfer-Encoding: chunked` body (RFC 9112 7.1), under the same cap as a sized one. A framing error
        leaves the connection's position unknown: answered, then closed."""
        raw = b""
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("Invalid chunked body: bad chunk size", unread=True) from None
            if size < 0 or len(raw) + size > MAX_BODY_BYTES:
                raise BadRequest(f"Request body too large (limit {MAX_BODY_BYTES} bytes)", 413, unread=True)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers, up to the blank line
                    pass
                return raw
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BadRequest("Invalid chunked body: a chunk is shorter than its size", unread=True)
            raw += chunk

    def _sized(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            raise BadRequest("Content-Length must be a non-negative number", unread=True)
        if length > MAX_BODY_BYTES:
            raise BadRequest(f"Request body too large (limit {MAX_BODY_BYTES} bytes)", 413, unread=True)
        return self.rfile.read(length) if length else b""

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
        if fault == "hold_after":  # committed; the answer comes late (the caller may be gone by then)
            srv.faults.hold()
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
            handler = admin_route(method, route)
            if handler is None:
                return self._send(404, {"error": f"no admin route {method} {route}"})
            self._send(200, handler(srv, body))
        except (ValueError, KeyError, RailwayError) as exc:
            self._send(400, {"error": str(exc)})
        except BadRequest as exc:
            self._refuse(exc)

