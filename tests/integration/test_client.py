"""The Railway client against the emulator's faults: retries, Retry-After, ambiguous writes, error mapping."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infra.railway import (AmbiguousWriteError, ApiUnavailableError, NotAuthorizedError, NotFoundError,
                           RailwayClient, RateLimitedError, ValidationError, client_from_env)
from infra.railway.client import operations
from railway_emulator.server import DEFAULT_TOKEN
from tests.conftest import SHARED_REF, Emulator


def make(emu: Emulator, **kw: object) -> RailwayClient:
    return RailwayClient(url=emu.url, token=DEFAULT_TOKEN, requests_per_second=0, backoff_base=0.01, **kw)


def test_errors_map_to_exceptions(emulator: Emulator) -> None:
    c = make(emulator)
    with pytest.raises(NotFoundError, match="Project not found"):
        c.query("ProjectRead", id="missing")
    with pytest.raises(ValidationError, match="must not be empty|cannot be empty"):
        pid = c.mutate("ProjectCreate", idempotent=False, input={"name": "x"})["projectCreate"]["id"]
        c.mutate("EnvironmentCreate", idempotent=False, input={"projectId": pid, "name": " "})
    with pytest.raises(NotAuthorizedError):
        RailwayClient(url=emulator.url, token="revoked", requests_per_second=0).query("ProjectFindByName")


def test_retries_5xx_and_drops_for_reads(emulator: Emulator) -> None:
    emulator.admin("/faults", {"fail_next": {"ProjectFindByName": 2}})
    assert make(emulator).query("ProjectFindByName")["projects"]["edges"] == []
    assert emulator.stats()["faults"] == {"error": 2} and emulator.stats()["total"] == 3, "two 5xx, then the answer"
    emulator.admin("/faults", {"drop_rate": 0.5, "seed": 7})
    c = make(emulator, max_attempts=10)
    for _ in range(5):
        c.query("ProjectFindByName")
    assert emulator.stats()["faults"]["drop"] >= 1


def test_429_waits_for_retry_after(emulator: Emulator) -> None:
    emulator.admin("/limits", {"per_second": 1, "per_hour": 1000})
    c = make(emulator)
    started = time.monotonic()
    for _ in range(3):
        c.query("ProjectFindByName")
    assert time.monotonic() - started >= 1.0, "waited as Retry-After asked"
    assert emulator.stats()["rate_limited"] >= 1


def test_429_with_long_retry_after_fails_fast(emulator: Emulator) -> None:
    emulator.admin("/limits", {"per_second": 1000, "per_hour": 1})
    c = make(emulator, max_retry_after=30)
    c.query("ProjectFindByName")
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as err:
        c.query("ProjectFindByName")
    assert err.value.retry_after > 30 and time.monotonic() - started < 5
    assert emulator.stats()["rate_limited"] == 1, "one 429, not retried"


def test_unanswered_create_is_not_retried_blindly(emulator: Emulator) -> None:
    emulator.admin("/faults", {"fail_next": {"ProjectCreate": 1}, "error_after_commit": True})
    with pytest.raises(AmbiguousWriteError):
        make(emulator).mutate("ProjectCreate", idempotent=False, input={"name": "once"})
    assert emulator.stats()["faults"] == {"error_after": 1}, "the write was committed, its answer lost"
    assert [p["name"] for p in emulator.inventory()["projects"]] == ["once"], "no duplicate"


def test_gives_up_after_persistent_5xx(emulator: Emulator) -> None:
    emulator.admin("/faults", {"error_rate": 1.0})
    with pytest.raises(ApiUnavailableError):
        make(emulator, max_attempts=3).query("ProjectFindByName")
    assert emulator.stats()["faults"] == {"error": 3}, "every attempt met a 5xx"


def test_client_timeout_then_success(emulator: Emulator) -> None:
    emulator.admin("/faults", {"timeout_rate": 1.0, "timeout_seconds": 1.0})
    c = make(emulator, timeout=0.3, max_attempts=2)
    with pytest.raises(ApiUnavailableError):
        c.query("ProjectFindByName")
    assert emulator.stats()["faults"] == {"timeout": 2}, "both attempts hung past the client's timeout"
    emulator.admin("/faults", {"timeout_rate": 0.0})
    assert c.query("ProjectFindByName")


def test_independent_clients_share_the_per_second_limit(emulator: Emulator) -> None:
    """Clients that share nothing but the token, each pushing harder than the plan allows: Railway answers 429,
    every client waits as told and slows down; no request fails."""
    emulator.admin("/limits", {"per_second": 4, "per_hour": 1000})
    clients = [RailwayClient(url=emulator.url, token=DEFAULT_TOKEN, requests_per_second=20) for _ in range(3)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda c: [c.query("ProjectFindByName") for _ in range(8)], clients))
    stats = emulator.stats()
    assert stats["rate_limited"] > 0, "the clients did push past the per-second limit"
    assert stats["status"]["200"] == 24
    assert max(c._pacer.factor for c in clients) > 1, "a 429 slowed its client down"


def test_hourly_budget_is_waited_out_not_failed(emulator: Emulator) -> None:
    """A budget smaller than the work: the client waits for the window's reset (from Retry-After) and goes on."""
    emulator.admin("/limits", {"per_second": 100, "per_hour": 3, "window_seconds": 2})
    c = make(emulator, max_retry_after=10)
    for _ in range(7):
        c.query("ProjectFindByName")
    stats = emulator.stats()
    assert stats["status"]["200"] == 7 and stats["rate_limited"] >= 1
    assert c._pacer.limit == 3 and c._pacer.remaining is not None


HAMMER = """
import sys
from infra.railway import client_from_env
c = client_from_env()
for _ in range(int(sys.argv[1])):
    c.query("ProjectFindByName")
print(c._pacer.remaining)
"""


def test_processes_sharing_a_token_stay_within_its_budget(emulator: Emulator, tmp_path: Path) -> None:
    """Several processes, no shared temp dir, a budget that cannot hold their work in one window: every process
    finishes (none fails on a 429) and says why it waited."""
    emulator.admin("/limits", {"per_second": 50, "per_hour": 6, "window_seconds": 3})
    procs = []
    for i in range(3):
        (tmp_path / f"tmp{i}").mkdir()
        env = {**os.environ, "RAILWAY_API_URL": emulator.url, "RAILWAY_API_TOKEN": DEFAULT_TOKEN,
               "ACS_RAILWAY_MAX_WAIT": "30", "TMPDIR": str(tmp_path / f"tmp{i}")}
        env.pop("RAILWAY_TOKEN", None)
        procs.append(subprocess.Popen([sys.executable, "-c", HAMMER, "8"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outcomes = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outcomes
    log = [e for e in emulator.admin("/requests") if e["operation"] == "ProjectFindByName"]
    assert sum(1 for e in log if e["status"] == 200) == 24 and any(e["status"] == 429 for e in log)
    assert any("hourly API budget" in err for _, err in outcomes), "a process said why it waited"


def test_token_from_environment() -> None:
    c = client_from_env({"RAILWAY_TOKEN": "pt", "RAILWAY_API_URL": "http://x/graphql/v2"})
    assert c.project_token == "pt" and c.token is None and c.url == "http://x/graphql/v2"
    assert client_from_env({"RAILWAY_API_TOKEN": "at", "RAILWAY_TOKEN": "pt"}).token == "at"
    with pytest.raises(Exception, match="no Railway token"):
        client_from_env({})


@pytest.mark.skipif(not SHARED_REF.exists(), reason="../shared/ref is not present")
def test_every_operation_is_valid_against_railways_schema() -> None:
    from graphql import build_schema, parse, validate
    real = build_schema((SHARED_REF / "railway-schema.graphql").read_text())
    problems = {name: validate(real, parse(doc)) for name, doc in operations().items()}
    assert not {k: v for k, v in problems.items() if v}
    assert len(problems) >= 40


def test_a_write_past_its_deadline_is_never_sent(emulator: Emulator) -> None:
    """`not_after` bounds when Railway can have made a create (recover's window, infra.providers.intent): a
    write still waiting at its deadline (here a per-second 429) fails without being sent again."""
    c = make(emulator)
    with pytest.raises(ApiUnavailableError, match="not sent: its deadline"):
        c.mutate("ProjectCreate", idempotent=False, not_after=time.time() - 1, input={"name": "late"})
    assert emulator.stats()["total"] == 0, "nothing reached Railway"
    emulator.admin("/limits", {"per_second": 100, "per_hour": 1})
    c.query("ProjectFindByName")  # the hour's budget is used: the next call is told to wait for its reset
    started = time.monotonic()
    with pytest.raises(RateLimitedError, match="not sent"):  # that wait outlives the deadline: not waited out
        c.mutate("ProjectCreate", idempotent=False, not_after=time.time() + 60, input={"name": "late"})
    assert time.monotonic() - started < 30 and emulator.stats()["rate_limited"] >= 1
    assert not [p for p in emulator.inventory()["projects"] if p["name"] == "late"]
    assert c.longest_answer() == c.timeout + c.connect_timeout
