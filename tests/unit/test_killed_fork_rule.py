"""Adversarial pass on issue 14: which environment `recover` may mark as the fork a killed `pr up` made. Only
exactly the create the stack recorded: never another name, project, source, a persistent environment, one marked
by anyone else, or one made outside the recorded create's window."""
from __future__ import annotations

from typing import Any

import pytest

from infra.providers.fork import FORK_INTENT, ForkedEnvironmentProvider, killed_fork_refusal

INTENT = {"name": "pr-7", "project_id": "p1", "source_environment_id": "dev-env", "owner": "o/acs/pr-7@b",
          FORK_INTENT: "2026-11-26T10:00:00+00:00"}
FORK = {"id": "e9", "name": "pr-7", "projectId": "p1", "isEphemeral": True, "sourceEnvironment": {"id": "dev-env"},
        "createdAt": "2026-11-26T10:00:03.120Z"}
DEV_OWNER = "o/acs/dev@b"


@pytest.mark.parametrize("owner", [None, DEV_OWNER])
def test_the_killed_create_s_fork_is_recognised(owner: str | None) -> None:
    assert killed_fork_refusal(INTENT, FORK, owner, DEV_OWNER, 40.0) is None


@pytest.mark.parametrize("change,owner,why", [
    ({"name": "pr-70"}, None, "another name"),
    ({"projectId": "p2"}, None, "another name or project"),
    ({"sourceEnvironment": {"id": "prod-env"}}, None, "forked from another"),
    ({"sourceEnvironment": None}, None, "forked from another"),
    ({"isEphemeral": False}, None, "not ephemeral"),
    ({}, "o/acs/pr-8@b", "marked by"),
    ({}, "someone else", "marked by"),
    ({"createdAt": "2026-11-26T09:40:00Z"}, None, "outside the window"),  # there before the stack meant to fork
    ({"createdAt": "2026-11-26T11:00:00Z"}, None, "outside the window"),  # made long after the killed create
    ({"createdAt": "2026-11-26T10:03:40Z"}, None, "outside the window"),  # minutes after: past its deadline
])
def test_anything_else_is_left_alone(change: dict[str, Any], owner: str | None, why: str) -> None:
    assert why in (killed_fork_refusal(INTENT, {**FORK, **change}, owner, DEV_OWNER, 40.0) or "")


def test_a_create_records_when_it_was_intended_and_keeps_it() -> None:
    provider = ForkedEnvironmentProvider()
    news = {k: v for k, v in INTENT.items() if k != FORK_INTENT}
    stamped = provider.check({}, news).inputs[FORK_INTENT]
    assert stamped and provider.check({**news, FORK_INTENT: "t0"}, news).inputs[FORK_INTENT] == "t0"
    assert FORK_INTENT not in provider.check(news, news).inputs  # made before the record existed: none invented
    moved = provider.check({**news, FORK_INTENT: "t0"}, {**news, "source_environment_id": "dev-env-2"})
    assert moved.inputs[FORK_INTENT] not in (None, "t0"), "a replacement's create is meant now: its own deadline"
    assert provider.diff("e9", {**news, FORK_INTENT: "t0"}, {**news, FORK_INTENT: "t1"}).changes is False


@pytest.mark.parametrize("seconds,inside", [(-30, True), (-31, False), (129, True), (131, False)])
def test_the_window_is_the_send_deadline_plus_one_answer_plus_the_skew(seconds: int, inside: bool) -> None:
    """B2: made inside [intent - skew, intent + send window (60s) + longest answer (40s here) + skew (30s)]."""
    from datetime import timedelta
    from infra.providers.intent import deadline, parse
    created = (parse(INTENT[FORK_INTENT]) + timedelta(seconds=seconds)).isoformat()
    assert (killed_fork_refusal(INTENT, {**FORK, "createdAt": created}, None, DEV_OWNER, 40.0) is None) is inside
    assert deadline(INTENT[FORK_INTENT]) == parse(INTENT[FORK_INTENT]).timestamp() + 60
