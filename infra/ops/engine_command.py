"""The `pulumi` every engine operation runs: through `infra.ops.engine_guard` (a killed `acs-infra` leaves no
engine running), and once more when it failed on a file-backend read that raced another runner's write."""
from __future__ import annotations

import os
import re
import sys
import time
from typing import Any

import pulumi.automation as auto


class GuardedCommand(auto.PulumiCommand):
    """`pulumi`, run through `infra.ops.engine_guard`: a killed `acs-infra` leaves no engine, language host or
    dynamic provider running (issue 14 item 12)."""

    def __init__(self) -> None:
        super().__init__()  # checks `pulumi version` once per process, not once per workspace
        self.pulumi, self.command = self.command, sys.executable

    def run(self, args: list[str], cwd: str, additional_env: Any, on_output: Any = None,
            on_error: Any = None) -> auto.CommandResult:
        guarded = ["-m", "infra.ops.engine_guard", str(os.getpid()), self.pulumi, "--non-interactive", *args]
        for attempt in range(1, RACED_READ_ATTEMPTS + 1):
            try:
                return super().run(guarded, cwd, additional_env, on_output, on_error)
            except auto.CommandError as exc:
                if attempt == RACED_READ_ATTEMPTS or not raced_read(str(exc)):
                    raise
                wait_for_writer(0.5 * attempt)  # another runner is rewriting the sidecar: milliseconds


# Two reads of a file backend that race another runner's write and fail before the command does anything; the
# same command a moment later succeeds, so it is run again (`raced_read`):
# - a checkpoint's `.attrs` sidecar is rewritten in place (infra.ops.recovery): read meanwhile, it is empty and
#   the load fails ("failed to load checkpoint: EOF"; adversarial issue 15, B7). A sidecar that stays broken (a
#   run killed while writing it) still fails after the last attempt and is sent to `acs-infra recover`;
# - opening the backend lists its stacks: a checkpoint another runner is writing shows as a temporary file that
#   is renamed away before the listing reads it ("list bucket: ... lstat <stack>.json.<random>.tmp: no such
#   file or directory"; seen once in 200 `pr up` runs sharing one backend directory, scripts/bench.sh).
TORN_CHECKPOINT = re.compile(r"failed to load checkpoint|error: EOF$", re.M)
LISTING_RACE = re.compile(r"list bucket: .*\.tmp: no such file or directory")
RACED_READ_ATTEMPTS = 4


def raced_read(error: str) -> bool:
    return bool(TORN_CHECKPOINT.search(error) or LISTING_RACE.search(error))


def wait_for_writer(seconds: float) -> None:
    time.sleep(seconds)


_COMMAND: list[GuardedCommand] = []


def engine_command() -> GuardedCommand:
    if not _COMMAND:
        _COMMAND.append(GuardedCommand())
    return _COMMAND[0]
