"""Adversarial issue 17, break 6 and break 1's message: what a run says when the token's hourly budget cannot
carry it, against the emulator's per-token limits (real HTTP, its clock never slept on)."""
from __future__ import annotations

import pytest

from infra.ops import budget
from infra.railway import RailwayClient, RateLimitedError
from railway_emulator.server import DEFAULT_TOKEN
from tests.conftest import Emulator


def test_a_run_needing_more_than_the_whole_hourly_limit_stops_at_once(railway_env: Emulator,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Break 6: with 10 calls an hour, a run estimated at 25 waited up to an hour for a reset that could never
    cover it, then failed. It stops before starting, naming the estimate and the limit."""
    railway_env.admin("/limits", {"per_second": 100, "per_hour": 10})
    waits: list[float] = []
    monkeypatch.setattr(budget.time, "sleep", waits.append)
    monkeypatch.delenv("ACS_RAILWAY_MAX_WAIT", raising=False)  # the default: one whole window
    with pytest.raises(budget.BudgetExhausted) as err:
        budget.ensure("pr-20", 25)
    assert waits == [], "no wait: no reset can make 25 calls fit in 10 an hour"
    message = str(err.value)
    assert "about 25" in message and "10 calls an hour in all" in message and "nothing was started" in message, message
    assert railway_env.stats()["total"] == 1, "one read of the budget"


def test_an_hourly_429_says_the_budget_is_spent_when_it_resets_and_the_max_wait(emulator: Emulator) -> None:
    """Break 1's message: a 429 of the hourly quota longer than ACS_RAILWAY_MAX_WAIT ended the run as a bare
    `RateLimitedError: EnvironmentFork: rate limited by Railway (HTTP 429)`. It says the hourly budget is spent,
    when it resets and which setting would let the run wait."""
    emulator.admin("/limits", {"per_second": 100, "per_hour": 1})
    client = RailwayClient(url=emulator.url, token=DEFAULT_TOKEN, requests_per_second=0, max_retry_after=60)
    client.query("ProjectFindByName")
    with pytest.raises(RateLimitedError) as err:
        client.query("ProjectFindByName")
    message = str(err.value)
    assert emulator.stats()["rate_limited"] == 1, "the fault happened: one 429"
    assert message.startswith("ProjectFindByName: ") and "\n" not in message, message
    for needle in ("hourly API budget", "is spent", "resets in", " UTC", "ACS_RAILWAY_MAX_WAIT (60s)"):
        assert needle in message, (needle, message)
