"""Adversarial issue 17, break 1: the token's hourly budget ran out (another holder of the token spent it) between a
preview's fork and its shaping patch. The patch got a 429 asking for a wait past ACS_RAILWAY_MAX_WAIT, the
cleanup delete too, and the run ended with a half-made preview: a fork holding its source's copies. The shaping
patch and that delete are must-complete writes: they wait for the reset whatever ACS_RAILWAY_MAX_WAIT says.
The client's clock is moved with the emulator's (sleeping moves both), never slept on."""
from __future__ import annotations

import time as real_time
from typing import Any

import pytest

from infra.ownership import OWNER_VARIABLE
from infra.providers import base as providers_base
from infra.providers.fork import ForkedEnvironmentProvider
from infra.providers.fork_shape import ForkShapeProvider
from infra.railway import client as client_module
from tests.conftest import Emulator
from tests.integration.test_providers import base, checked, create  # noqa: F401  (fixture)

OWNER = "organization/acs/pr-5@itest#id"


class MovedClock:
    """The client's `time`: a sleep moves this clock and the emulator's by as much, at once."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator, self.offset, self.slept = emulator, 0.0, 0.0

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.offset += seconds
            self.slept += seconds
            self.emulator.advance(seconds)

    def time(self) -> float:
        return real_time.time() + self.offset

    def monotonic(self) -> float:
        return real_time.monotonic() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(real_time, name)


@pytest.fixture
def fresh_client(monkeypatch: pytest.MonkeyPatch) -> None:
    providers_base.reset_client()
    yield
    providers_base.reset_client()


def test_the_shaping_patch_waits_for_the_hourly_reset_past_the_max_wait(
        base: dict[str, str], railway_env: Emulator, monkeypatch: pytest.MonkeyPatch, fresh_client: None) -> None:
    fork_id, fork = create(ForkedEnvironmentProvider(), {
        "project_id": base["project_id"], "name": "pr-5", "ephemeral": True,
        "source_environment_id": base["environment_id"], "owner": OWNER})
    railway_env.admin("/limits", {"per_second": 100, "per_hour": 1})  # a fresh window: one call left
    railway_env.data("{ __typename }")  # another holder of the token spends it
    monkeypatch.setenv("ACS_RAILWAY_MAX_WAIT", "60")
    providers_base.reset_client()  # the shape's client: knows nothing of the budget yet, waits at most 60 s
    clock = MovedClock(railway_env)
    monkeypatch.setattr(client_module, "time", clock)
    railway_env.reset_stats()

    shape = ForkShapeProvider()
    shape.create(checked(shape, {"environment_id": fork_id, "copied": fork["copied"], "owner": OWNER,
                                 "services": {"web": {"image": "ghcr.io/acs/app:pr-5", "variables": {"A": "2"}}}}))
    stats = railway_env.stats()
    assert stats["rate_limited"] >= 1, ("the fault happened: the patch met the spent hour", stats)
    assert clock.slept > 60, "it waited past ACS_RAILWAY_MAX_WAIT, for the reset"
    assert stats["writes"] == {"EnvironmentPatchCommit": 1}, stats
    railway_env.admin("/limits", {"per_second": 100, "per_hour": 1000})  # the test's own reads
    shared = railway_env.data("query($p: String!, $e: String!) { variables(projectId: $p, environmentId: $e) }",
                              p=base["project_id"], e=fork_id)["variables"]
    assert shared.get(OWNER_VARIABLE) == OWNER, "the fork is shaped: it carries its stack's marker"
    assert fork_id in {e["id"] for e in railway_env.inventory()["environments"]}, "and it was not deleted"


def test_an_ordinary_write_still_fails_fast_on_the_spent_hour(railway_env: Emulator, fresh_client: None) -> None:
    """Only those two writes wait: any other 429 longer than ACS_RAILWAY_MAX_WAIT fails fast, as before."""
    client = client_module.RailwayClient(url=railway_env.url, token=client_module.os.environ["RAILWAY_API_TOKEN"],
                                         requests_per_second=0, max_retry_after=60)
    railway_env.admin("/limits", {"per_second": 100, "per_hour": 1})
    railway_env.data("{ __typename }")
    with pytest.raises(client_module.RateLimitedError):
        client.mutate("ProjectCreate", idempotent=False, input={"name": "later"})
