"""The token's hourly API budget, checked before a run takes its stack's lock.

Runners sharing a token share its hourly budget (Railway answers `X-RateLimit-Limit`, `-Remaining` and `-Reset`
on every request). A run that starts with less left than it will need would otherwise wait for the reset in the
middle of its update, holding the stack's lock (and, for a new environment, leaving it half made meanwhile). So
`up` (and every other verb that writes) reads the budget once, before the lock (the token check's own answer), and waits for the reset there, saying
so, or refuses when the reset is further away than `ACS_RAILWAY_MAX_WAIT` allows.
"""
from __future__ import annotations

import os
import random
import time
from typing import Any, Callable

from infra.config import ConfigError, verify_token
from infra.railway.settings import env_settings

# The run's expected calls, an estimate erring high: a new stack creates each resource (a write and about one
# read: dev's first up measured 13 calls, prod's 15); an existing one at most touches each once (a no-op up
# makes none, a changed resource one or two).
NEW_STACK_CALLS = 25
# A release's own calls beyond its `up` (backup, one deploy per service, the deployment and health reads while
# it waits, a rollback), and a rollback's: estimates erring high, like NEW_STACK_CALLS.
RELEASE_CALLS = 30
ROLLBACK_CALLS = 15
# While waiting, the budget is read again only after its reset (one instant for every runner of the token), plus
# up to this much jitter so the runners that waited do not all read it in the same second: a re-check is itself a
# request on the token, and 50 runners re-reading every 10 s spent the whole budget they waited for (bench, 0
# previews in 23 minutes).
RESET_JITTER_SECONDS = 5.0


class BudgetExhausted(ConfigError):
    """The hourly budget cannot cover the run and its reset is further away than the run may wait."""


def expected_calls(resource_count: int) -> int:
    return resource_count or NEW_STACK_CALLS


def ensure(stack: str, expected: int, on_wait: Callable[[str], Any] | None = None) -> int | None:
    """Returns the remaining budget once it covers `expected` calls; waits for the reset before the lock, or
    raises BudgetExhausted. Without budget headers (no token in the environment, or none sent) it returns None."""
    max_wait = env_settings(dict(os.environ)).get("max_retry_after", 3600.0)  # the client's limit on a 429's wait
    started = time.monotonic()
    told = False
    while True:
        budget = verify_token()  # one cheap read; also stops a wrong token before anything starts
        if not budget or budget[1] is None or budget[1] >= expected:
            return budget[1] if budget else None
        limit, remaining, reset_in = budget
        if limit is not None and expected > limit:  # no reset can help: stop now, not after an hour's wait
            raise BudgetExhausted(
                f"{stack}: this run needs about {expected} Railway API calls (an estimate that errs high) but the "
                f"token allows {limit} calls an hour in all (shared with every runner using the token): waiting for "
                "the reset cannot help; nothing was started. Run it with a token whose hourly limit is higher")
        waited = time.monotonic() - started
        if reset_in is None or waited + reset_in > max_wait:
            raise BudgetExhausted(
                f"{stack}: this run needs about {expected} Railway API calls but the token's hourly budget has "
                f"{remaining} of {limit} left (shared with every runner using the token) and resets in "
                f"{reset_in or 0:.0f}s, more than ACS_RAILWAY_MAX_WAIT ({max_wait:.0f}s) allows; nothing was "
                "started. Run it after the reset, or raise ACS_RAILWAY_MAX_WAIT to wait")
        if on_wait and not told:
            on_wait(f"{stack}: the token's hourly API budget has {remaining} of {limit} calls left, this run needs "
                    f"about {expected}; waiting up to {reset_in:.0f}s for the reset before taking the stack's lock")
            told = True
        time.sleep(max(reset_in, 0.5) + random.uniform(0, RESET_JITTER_SECONDS))
