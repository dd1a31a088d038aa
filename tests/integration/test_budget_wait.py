"""The hourly budget's wait before the lock reads the budget once before and once after the reset, not every
few seconds: the bench's 200 runners waiting on one token spent the budget they waited for on their own re-checks
(0 previews made in 23 minutes), since a re-check is itself a request on the token."""
from __future__ import annotations

import pytest

from infra.ops import budget
from tests.conftest import Emulator


def test_a_run_waiting_for_the_reset_reads_the_budget_once_after_it(railway_env: Emulator,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    railway_env.freeze()
    railway_env.admin("/limits", {"per_second": 100, "per_hour": 40})
    for _ in range(30):  # another runner's work on the same token: 10 of 40 left
        railway_env.gql("query { me { id } }")
    railway_env.reset_stats()
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the emulator's clock moves instead of this process sleeping
        waits.append(seconds)
        railway_env.advance(seconds)
    monkeypatch.setattr(budget.time, "sleep", sleep)
    monkeypatch.setattr(budget.random, "uniform", lambda low, high: high)  # the longest jitter: the bound is exact
    monkeypatch.setenv("ACS_RAILWAY_MAX_WAIT", "7200")
    said: list[str] = []
    assert budget.ensure("pr-20", 25, said.append) is not None
    assert railway_env.stats()["total"] == 2, "one read before the wait, one after the reset"
    # X-RateLimit-Reset is whole epoch seconds (rounded up): the reset is up to 1 s later than the window's end
    assert len(waits) == 1 and 0 < waits[0] <= 3600 + 1 + budget.RESET_JITTER_SECONDS, waits
    assert "waiting up to" in said[0], said
