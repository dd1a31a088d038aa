"""The `pulumi` every engine operation runs: through `infra.ops.engine_guard` (a killed `acs-infra` leaves no
engine running), and once more when it failed on a file-backend read that raced another runner's write."""
from __future__ import annotations

import os
import re
import signal
import sys
import time
import uuid
from typing import Any

import pulumi.automation as auto

from infra.ops import engine_guard
from infra.ops.engine_guard import KILLED_BY, signal_name

# The guard runs as a script without `site` (-S): it needs only the standard library, and every `pulumi` call
# (60 in one drift test) paid 0.08 s of CPU for the interpreter's site and the editable install's finder, 0.02 s
# without them.
GUARD = engine_guard.__file__


class GuardedCommand(auto.PulumiCommand):
    """`pulumi`, run through `infra.ops.engine_guard`: a killed `acs-infra` leaves no engine, language host or
    dynamic provider running (issue 14 item 12)."""

    def __init__(self) -> None:
        super().__init__()  # checks `pulumi version` once per process, not once per workspace
        self.pulumi, self.command = self.command, sys.executable

    def run(self, args: list[str], cwd: str, additional_env: Any, on_output: Any = None,
            on_error: Any = None) -> auto.CommandResult:
        guarded = ["-S", GUARD, str(os.getpid()), self.pulumi, "--non-interactive", *args]
        for attempt in range(1, RACED_READ_ATTEMPTS + 1):
            mark = uuid.uuid4().hex
            try:
                return super().run(guarded, cwd, {**(additional_env or {}), RUN_MARK: mark}, on_output, on_error)
            except auto.CommandError as exc:  # the guard ended, maybe killed: not on a KeyboardInterrupt here,
                end_leftovers(mark)            # whose end of acs-infra lets the guard cancel the engine gracefully
                killed = EngineKilled.of(str(exc))
                if killed:
                    raise killed from exc
                if attempt == RACED_READ_ATTEMPTS or not raced_read(str(exc)):
                    raise
                wait_for_writer(0.5 * attempt)  # another runner is rewriting the sidecar: milliseconds
            except KeyboardInterrupt:
                if args and args[0] in WRITES:  # the guard cancels it once acs-infra has ended
                    CANCELLING.add(mark)
                raise


WRITES = ("up", "destroy", "refresh", "import")  # the engine operations that lock the stack and write its state
CANCELLING: set[str] = set()  # the marks of the runs an interrupt of this process left to cancel


def cancelling() -> bool:
    """Whether an interrupt of acs-infra left an engine run that writes the stack to cancel (the guard does it)."""
    return bool(CANCELLING)


class EngineKilled(auto.CommandError):
    """The engine, or the guard that ran it, was killed by a signal: the run may have left the stack locked with
    operations half-done, which only `acs-infra recover` finishes (adversarial issue 20, B2)."""

    def __init__(self, what: str, signal_name: str) -> None:
        super().__init__(f"{what} was killed ({signal_name}) before the run ended")
        self.what, self.signal_name = what, signal_name

    @classmethod
    def of(cls, error: str) -> "EngineKilled | None":
        """From the guard's last line (the engine killed) or its own exit code (the guard killed: `code: -9`)."""
        said = re.search(re.escape(KILLED_BY) + r" (SIG[A-Z0-9]+|signal \d+)", error)
        if said:
            return cls("pulumi", said.group(1))
        code = re.match(r"\s*code: (-\d+)\b", error)
        return cls("the engine guard", signal_name(-int(code.group(1)))) if code else None


# what `acs-infra` says of a killed run, with the stack to recover
KILLED_ENGINE = ("{what} was killed ({signal}) before the run ended; the stack may be left locked with operations "
                 "half-done: `acs-infra recover {stack}` finishes or clears what it left")


# Every process of one guarded run carries this mark in its environment: the guard, the engine, and what the
# engine starts (language host, dynamic providers), which inherit the engine's environment. The guard ends them
# all; a guard killed itself (an OOM kill, a stray `kill -9`) cannot, and its orphans would run for good
# (adversarial issue 18, second pass, B). acs-infra then ends them: the engine among them would die anyway at its
# next write to the dead guard's pipe, so nothing is lost that a SIGINT could have saved.
RUN_MARK = "ACS_ENGINE_RUN"


def end_leftovers(mark: str, variable: str = RUN_MARK, patience: float = 10.0) -> list[int]:
    """Kills the live processes carrying `variable=mark` and waits (up to `patience` s) until they are gone."""
    found = marked(mark, variable)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + patience
    while marked(mark, variable) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGKILL is delivered at once; the kernel takes a moment to tear a process down
    return found


def marked(mark: str, variable: str = RUN_MARK) -> list[int]:
    """Live processes (a zombie's environment reads empty) whose environment has `variable=mark`."""
    needle = f"{variable}={mark}".encode()
    found: list[int] = []
    for entry in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:  # gone meanwhile, or another user's
            continue
    return found


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
