"""The stack runner runs a command again when it failed on a file-backend read that raced another runner's write
(infra.ops.engine_command.raced_read), and only then."""
from __future__ import annotations

from typing import Any

import pulumi.automation as auto
import pytest

from infra.ops import engine_command

# Seen in the scale benchmark (200 `pr up` sharing one backend directory): the backend listed its stacks while
# another runner renamed its checkpoint's temporary file into place.
LISTING_RACE = ("error: list bucket: blob (code=NotFound): lstat /tmp/b/state/.pulumi/stacks/acs/"
                "pr-868.json.18ebd949ae2dfcc4.tmp: no such file or directory")


def engine_failing(monkeypatch: pytest.MonkeyPatch, stderrs: list[str]) -> tuple[list[float], list[int]]:
    """`pulumi` fails with each of `stderrs` in turn, then succeeds; returns the waits and the attempts."""
    waits: list[float] = []
    attempts = [0]

    def run(self: Any, args: list[str], *_: Any, **__: Any) -> auto.CommandResult:
        attempts[0] += 1
        if attempts[0] <= len(stderrs):
            raise auto.CommandError(auto.CommandResult(stdout="", stderr=stderrs[attempts[0] - 1], code=255))
        return auto.CommandResult(stdout="ok", stderr="", code=0)
    monkeypatch.setattr(auto.PulumiCommand, "run", run)
    monkeypatch.setattr(engine_command, "wait_for_writer", waits.append)
    return waits, attempts


def guarded() -> engine_command.GuardedCommand:
    command = object.__new__(engine_command.GuardedCommand)  # without `pulumi version`: the engine is replaced here
    command.pulumi, command.command = "pulumi", "python"
    return command


def test_a_listing_that_raced_a_write_is_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    waits, attempts = engine_failing(monkeypatch, [LISTING_RACE])
    assert guarded().run(["preview"], ".", {}).stdout == "ok"
    assert attempts == [2] and waits == [0.5], "the race happened once and the command ran again"


def test_a_race_that_does_not_end_fails_after_the_last_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    waits, attempts = engine_failing(monkeypatch, [LISTING_RACE] * engine_command.RACED_READ_ATTEMPTS)
    with pytest.raises(auto.CommandError, match="list bucket"):
        guarded().run(["preview"], ".", {})
    assert attempts == [engine_command.RACED_READ_ATTEMPTS] and len(waits) == engine_command.RACED_READ_ATTEMPTS - 1


@pytest.mark.parametrize("stderr", [
    "error: list bucket: blob (code=PermissionDenied): open /tmp/b/state/.pulumi/stacks/acs: permission denied",
    "error: list bucket: blob (code=NotFound): lstat /tmp/b/state/.pulumi/stacks/acs/dev.json: no such file",
    "error: update failed"])
def test_other_failures_are_not_run_again(monkeypatch: pytest.MonkeyPatch, stderr: str) -> None:
    waits, attempts = engine_failing(monkeypatch, [stderr])
    with pytest.raises(auto.CommandError):
        guarded().run(["up"], ".", {})
    assert attempts == [1] and waits == []
