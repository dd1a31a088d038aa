"""Issue 14 item 14: the emulator's own input. Malformed requests get Railway-shaped errors over real HTTP; the
connection stays usable, nothing hangs, oversized bodies and over-complex queries are refused."""
from __future__ import annotations

import json
import socket

import pytest

from railway_emulator.server import DEFAULT_TOKEN, MAX_BODY_BYTES
from tests.conftest import Emulator

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Content-Type": "application/json"}


def raw_post(emulator: Emulator, body: bytes, length: str | None = None, timeout: float = 30) -> bytes:
    """One POST on a fresh socket; returns everything the server sent before closing or answering."""
    host, port = emulator.server.server_address[:2]
    head = (f"POST /graphql/v2 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {DEFAULT_TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length if length is not None else len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head + body)
        chunks = []
        while True:
            chunk = sock.recv(65536)  # a server that hangs makes this raise socket.timeout: the test fails
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


@pytest.mark.parametrize("body,message", [
    ([{"query": "{ me { id } }"}, {"query": "{ me { id } }"}], "Batched requests are not supported"),
    ("{ me { id } }", "must be a JSON object"),
    (17, "must be a JSON object"),
    ({"query": "{ me { id } }", "variables": "x"}, "variables must be a JSON object"),
    ({"query": "{ me { id } }", "variables": [1]}, "variables must be a JSON object"),
    ({"query": 42}, "query must be a string"),
    ({"query": ["{ me { id } }"]}, "query must be a string"),
    ({"query": "{ me { id } }", "operationName": 3}, "operationName must be a string"),
    ({}, "query must be a string"),
])
def test_malformed_bodies_get_railway_shaped_errors(emulator: Emulator, body: object, message: str) -> None:
    """Issue 14 item 14: a batched array, a string body, non-object variables and a non-string query each get a
    400 with Railway's error shape, and the same keep-alive connection answers the next request."""
    resp = emulator.http.post(emulator.url, content=json.dumps(body), headers=AUTH)
    assert resp.status_code == 400, resp.text
    payload = resp.json()
    assert payload["data"] is None and message in payload["errors"][0]["message"]
    follow = emulator.http.post(emulator.url, json={"query": "{ me { id } }"}, headers=AUTH)
    assert follow.status_code == 200 and follow.json()["data"]["me"]["id"]


def test_negative_content_length_is_refused_not_awaited(emulator: Emulator) -> None:
    """Issue 14 item 14: `Content-Length: -1` used to make the server read until the client closed (a hang)."""
    answer = raw_post(emulator, b'{"query": "{ me { id } }"}', length="-1")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert "Content-Length" in json.loads(body)["errors"][0]["message"]


def test_oversized_body_is_refused_without_reading_it(emulator: Emulator) -> None:
    """Issue 14 item 14: a 10 MB body was accepted; now 413 with a Railway-shaped error, before the body is read."""
    size = 10 * 1024 * 1024
    assert size > MAX_BODY_BYTES
    answer = raw_post(emulator, b"", length=str(size))  # announced, never sent: the server must not wait for it
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer
    assert "too large" in json.loads(body)["errors"][0]["message"]


def test_ten_thousand_aliases_are_refused(emulator: Emulator) -> None:
    """Issue 14 item 14: 10,000 aliases are refused by a complexity bound at parse time (they took 10 s), and
    nothing they ask for runs: 10,000 aliased `projectCreate`s create no project."""
    query = "mutation {" + " ".join(f"a{i}: projectCreate(input: {{name: \"x{i}\"}}) {{ id }}"
                                     for i in range(10_000)) + "}"
    resp = emulator.http.post(emulator.url, json={"query": query}, headers=AUTH)
    assert resp.status_code == 400
    assert "too complex" in resp.json()["errors"][0]["message"]
    assert emulator.inventory()["projects"] == []


def test_deep_nesting_is_refused(emulator: Emulator) -> None:
    """Issue 14 item 14: depth is bounded too (a few tokens can nest very deep)."""
    query = ('{ project(id: "x") { ' + "services { edges { node { project { " * 6 + "id" + " } } } }" * 6
             + " } }")
    resp = emulator.http.post(emulator.url, json={"query": query}, headers=AUTH)
    assert resp.status_code == 400 and "too complex" in resp.json()["errors"][0]["message"]


def test_reference_sized_operations_still_pass(emulator: Emulator) -> None:
    """The bounds leave room for every operation the product sends (the largest is checked here)."""
    from infra.railway.client import operations
    largest = max(operations().values(), key=len)
    resp = emulator.http.post(emulator.url, json={"query": largest, "variables": {}}, headers=AUTH)
    assert "too complex" not in resp.text and resp.status_code == 200


def chunked_post(emulator: Emulator, chunks: list[bytes], timeout: float = 30) -> bytes:
    """One POST with `Transfer-Encoding: chunked` (no Content-Length) on a fresh socket; returns the answer."""
    host, port = emulator.server.server_address[:2]
    head = (f"POST /graphql/v2 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {DEFAULT_TOKEN}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head + body)
        answer = []
        while True:
            data = sock.recv(65536)  # a server that waits for more makes this raise socket.timeout: the test fails
            if not data:
                return b"".join(answer)
            answer.append(data)


def test_chunked_body_is_read(emulator: Emulator) -> None:
    """Adversarial pass on issue 14: a chunked POST body was ignored (read as empty: "query must be a string").
    It is decoded, split over several chunks, and answered like the same body sent with Content-Length."""
    body = json.dumps({"query": "{ me { id } }"}).encode()
    answer = chunked_post(emulator, [body[:5], body[5:12], body[12:]])
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(payload)["data"]["me"]["id"]


def test_oversized_chunked_body_is_refused(emulator: Emulator) -> None:
    """Adversarial pass on issue 14: the 1 MiB cap holds for chunked bodies too (413, Railway-shaped)."""
    piece = b" " * (256 * 1024)
    answer = chunked_post(emulator, [piece] * 5)  # 1.25 MiB of whitespace
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer
    assert "too large" in json.loads(payload)["errors"][0]["message"]


@pytest.mark.parametrize("framing", [b"zz\r\n{}\r\n0\r\n\r\n", b"ff\r\n{}\r\n0\r\n\r\n"])
def test_malformed_chunked_body_is_a_400(emulator: Emulator, framing: bytes) -> None:
    """A bad chunk size or a chunk shorter than announced is a 400, not a hang or a dropped connection."""
    host, port = emulator.server.server_address[:2]
    head = (f"POST /graphql/v2 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {DEFAULT_TOKEN}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head + framing)
        sock.shutdown(socket.SHUT_WR)  # the client sent everything: a short chunk must not be waited for forever
        answer = b""
        while data := sock.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 400"), answer
