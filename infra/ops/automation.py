"""Stack operations through the Pulumi Automation API, shared by the CLI commands.

Runs the same program as `pulumi up` in the project directory. Two runs for one stack are serialised by the
backend's own stack lock (a lock object under `.pulumi/locks/` of the file or S3 backend, so runners that share
nothing but the backend serialise too): a run that finds the stack locked waits and tries again, up to a timeout.
"""
from __future__ import annotations

import contextlib
import fcntl
import re
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pulumi.automation as auto
from pulumi.automation._stack import StackInitMode  # not re-exported; how auto.select_stack makes a Stack
from infra.config import PR_STACK, ConfigError, load_stack_file, preflight
from infra.ops import budget, locks, preview_secrets, settled_read, stack_reads
from infra.ops.engine_command import engine_command
from infra.ops.locks import LockTimeout
from infra.ops.plan_guard import refuse_data_loss
from infra.ops.project import PROJECT_NAME, project_dir  # noqa: F401  (the CLI and recovery use them from here)

T = TypeVar("T")


class StaleLock(LockTimeout):
    """The lock a killed run left could not be released; nothing else may run until it is."""


@dataclass
class StackResult:
    stack: str
    action: str
    url: str | None = None
    changes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "action": self.action, "url": self.url, "changes": self.changes,
                "outputs": self.outputs, "seconds": round(self.seconds, 2)}


# How long a command's engine runs wait for another run's lock: its `--lock-timeout` (set by the CLI for the
# whole command, so a release's preview, up and record all wait alike).
LOCK_TIMEOUT: ContextVar[float] = ContextVar("lock_timeout", default=600.0)


def lock_timeout() -> float:
    return LOCK_TIMEOUT.get()


def run_locked(stack: str, timeout: float, action: Callable[[], T],
               on_wait: Callable[[str], Any] | None = None) -> T:
    """Runs an engine operation that takes the backend's stack lock. While another run (on any machine sharing
    the backend) holds it, waits and tries again until `timeout` seconds have passed; the engine takes the lock
    before it changes anything, so a refused attempt changed nothing."""
    wait = locks.Wait(timeout)
    dead_before: list[locks.Holder] = []
    while True:
        try:
            return action()
        except auto.ConcurrentUpdateError as exc:
            holder = _lock_holder(str(exc))
            dead = _dead_holders(str(exc))
            if dead and (dead == dead_before or _still_held(stack, dead)):  # a killed run's, not one just ended
                error = LockTimeout(killed_run_lock(stack, dead[0]))
                error.engine_error = str(exc)
                raise error from None
            dead_before = dead
            left = wait.left()
            if left <= 0:  # the measured wait, attempts included (each engine start costs seconds)
                error = LockTimeout(f"another run holds stack {stack} ({holder}); waited "
                                    f"{wait.waited():.0f}s (timeout {timeout:g}s). If no run is in "
                                    f"progress, `acs-infra recover {stack}` releases a dead run's lock")
                error.engine_error = str(exc)
                raise error from None
            if on_wait:
                on_wait(f"stack {stack} is locked by another run ({holder}); waiting up to {left:.0f}s more")
            wait.pause()


VERBS = ("up", "refresh", "destroy", "preview")


def run(stack: auto.Stack, verb: str, *, lock_timeout: float | None = None, on_output: Callable[[str], Any] | None = None,
        prepare: Callable[[], Any] | None = None, on_wait: Callable[[str], Any] | None = None, **options: Any) -> Any:
    """The one stack runner: every engine operation of every command (`up`, `refresh`, `destroy`, `preview`)
    goes through here, inside the backend's stack lock (`run_locked`; a preview, which the engine does not lock,
    as a settled read: infra.ops.settled_read), without progress bars and, where the engine can print them,
    without secrets. `options` are the operation's own (e.g. `refresh=True`). `prepare`
    runs before every attempt: an attempt refused by the lock prepares again once the other run is done. A wait
    for another run is said to `on_wait`, else with the engine's output, else on stderr."""
    if verb not in VERBS:
        raise ValueError(f"unknown engine operation {verb!r}")
    lock_timeout = LOCK_TIMEOUT.get() if lock_timeout is None else lock_timeout
    kwargs: dict[str, Any] = {"suppress_progress": True, "on_output": on_output, **options}
    if verb != "preview":  # the engine's preview has no show_secrets switch (it never prints them)
        kwargs.setdefault("show_secrets", False)
    if verb == "up" and not kwargs.pop("allow_data_loss", False) and not PR_STACK.match(stack.name):
        refuse_data_loss(stack, lambda **extra: run(stack, "preview", lock_timeout=lock_timeout, **extra))
    kwargs.pop("allow_data_loss", None)
    operation = getattr(stack, verb)
    say = on_wait or on_output or to_stderr  # a wait is always said, also by a command that shows no engine output
    if verb == "preview":  # the engine locks no preview: it reads while no run writes the stack (settled_read)
        return settled_read.preview(stack, PROJECT_NAME, lock_timeout, operation, kwargs, say)

    def attempt() -> Any:
        if prepare is not None:
            prepare()
        return operation(**kwargs)
    return run_locked(stack.name, lock_timeout, attempt, say)


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def killed_run_lock(stack: str, holder: locks.Holder) -> str:
    return (f"stack {stack} is locked by a run that is no longer running ({holder}: no such process on this host; "
            f"a killed run). `acs-infra recover {stack}` releases its lock")


def _still_held(stack: str, dead: list[locks.Holder]) -> bool:
    """Whether the dead runs' locks are still there, read from the file backend at once: a run that ended as the
    engine read its lock has removed it by now; a killed run's stays. Before, the lock was read again by a second
    engine attempt after a pause, and a `pr up` said "waiting" for seconds (the whole --lock-timeout when shorter)
    on a killed run's lock (adversarial issue 20, B3). Dead holders are only ever found on a file:// backend."""
    now = locks.file_backend_holders(PROJECT_NAME, stack) or []
    return {(h.host, h.pid) for h in dead} <= {(h.host, h.pid) for h in locks.all_gone(now)}


def _dead_holders(text: str) -> list[locks.Holder]:
    """The lock's holders when every one is a process of this host (same host name) that no longer exists on a
    file:// backend, the fact `recover` releases a lock on; [] when any may be alive (another host, a live pid, an
    unnamed holder, or any holder on a shared backend, where the host name proves nothing:
    locks.same_machine_backend)."""
    return locks.all_gone(locks.holders(text))


def _lock_holder(text: str) -> str:
    """`created by user@host (pid N) at TIME` from the backend's lock error, without the lock's URL."""
    match = re.search(r"created by (\S+) \(pid (\d+)\) at (\S+)", text)
    return f"{match.group(1)}, pid {match.group(2)}, since {match.group(3)}" if match else "holder unknown"


def workspace(root: Path) -> auto.LocalWorkspace:
    return auto.LocalWorkspace(work_dir=str(root), pulumi_command=engine_command())


class Stack(auto.Stack):
    """A stack whose outputs are read in one engine call, a secret one masked (value SECRET, marked secret). The
    Automation API's own read, which every `up` makes after the update, decrypts them all first (a second call
    and the passphrase's key derivation: 1.3 s of CPU, against 0.3 s); every caller here masks them anyway."""

    def outputs(self) -> auto.OutputMap:
        return {key: auto.OutputValue(value=value, secret=value == stack_reads.SECRET)
                for key, value in stack_reads.masked_outputs(self).items()}


def select(stack: str, root: Path, create: bool) -> Stack:
    if create:
        try:
            with stack_files_locked(root):
                return Stack(stack, workspace(root), StackInitMode.CREATE_OR_SELECT)
        except auto.StackAlreadyExistsError:  # another runner created it between our look and our init
            pass
    return Stack(stack, workspace(root), StackInitMode.SELECT)


@contextlib.contextmanager
def stack_files_locked(root: Path) -> Iterator[None]:
    """Serialises the writes of this clone's stack files (`stack init` writes the salt, `config set` the
    secrets). Two runs in one clone would otherwise interleave them and one engine read a file without the
    other's secrets. The stack files are this clone's, so a lock on this clone's Pulumi.yaml is enough; runs in
    other clones are kept apart by the backend's stack lock."""
    with open(root / "Pulumi.yaml", "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


NO_STACK = re.compile(r"no stack named '([^']+)' found")  # the engine's words for a stack not in the backend


def missing_stack(error: str) -> str | None:
    """Our one line for the engine's "no stack named" (never made, or removed meanwhile by another run: a
    `pr down` while this `pr up` started), or None for another error."""
    gone = NO_STACK.search(error)
    return (f"no stack named {gone.group(1)} in this backend (never made, or removed by another run); "
            "`acs-infra pr list` and `pulumi stack ls` show the stacks there are") if gone else None


def stack_exists(stack: str, root: Path) -> bool:
    return any(s.name == stack for s in workspace(root).list_stacks())


def ensure_pr_secrets(stack: auto.Stack, root: Path, trust_file: bool = True) -> list[str]:
    """A PR stack gets its preview secrets (infra.ops.preview_secrets: CI's `ACS_PREVIEW_<NAME>`, else the set the
    stack recorded, else this clone's file, else new random values); never the dev or prod values. `trust_file`
    is False for a stack this run creates: a file left without its stack is no record of anything."""
    with stack_files_locked(root):
        names = (load_stack_file("dev", root).get("acs:environment") or {}).get("secrets") or []
        return preview_secrets.apply(stack, preview_secrets.choose(stack, names, trust_file))


def change_counts(summary: Any) -> dict[str, int]:
    """The non-zero counts of an engine summary (create, update, delete, same...)."""
    return {k: v for k, v in (summary.resource_changes or {}).items() if v}


def with_release(stack: auto.Stack, release: Any) -> auto.Stack:
    """Hands the next engine runs of this stack the release to pin and record (infra.versions.Request)."""
    if release is not None:
        stack.workspace.env_vars.update(release.env())
    return stack


def up(stack_name: str, root: Path, *, lock_timeout: float = 600, on_output: Callable[[str], Any] | None = None,
       expect_pr: bool = False, release: Any = None, allow_data_loss: bool = False) -> StackResult:
    if expect_pr and not PR_STACK.match(stack_name):
        raise ConfigError(f"{stack_name!r} is not a PR stack")
    cfg = preflight(stack_name, root)  # bad names and files stop here, before a stack exists
    known = next((s for s in workspace(root).list_stacks() if s.name == stack_name), None)
    existed = known is not None
    if existed and not PR_STACK.match(stack_name):  # a preview's project is always dev's (project.stack)
        from infra.ops.safety import check_project_switch  # safety imports this module
        check_project_switch(stack_name, cfg, root)
    if cfg.project.id and not PR_STACK.match(stack_name):  # before a new stack exists (B1 of adv14c)
        from infra.ops.safety import check_given_project
        check_given_project(stack_name, cfg, root, existed)
    # One read before the lock, for an existing stack as well: a wrong token stops here (its first refused write
    # would end in the provider's traceback, after a part of the update), and so does a run the hourly budget
    # cannot cover (it waits for the reset here, not holding the stack's lock)
    budget.ensure(stack_name, budget.expected_calls(known.resource_count or 0 if known else 0), on_output)
    if not existed and cfg.project.stack:
        require_source(stack_name, cfg.project.stack, root)
    if not existed and cfg.project.name:
        from infra.ops.safety import check_new_project
        check_new_project(stack_name, cfg)
    started = time.monotonic()
    stack = with_release(select(stack_name, root, create=True), release)
    attempts: list[bool] = []

    def prepare() -> None:  # before every attempt: one refused by the lock reads what the other run recorded (B3)
        ensure_pr_secrets(stack, root, trust_file=existed or bool(attempts))  # a retry's file is this run's own
        attempts.append(True)
    # A preview's environment may be deleted in Railway by hand (or by a failed first shaping): an existing PR
    # stack refreshes first, so a fork read as gone is forked again instead of patched.
    refresh = existed and bool(PR_STACK.match(stack_name))
    legacy = refresh and legacy_preview_domains(stack_reads.state(stack))

    def up_once() -> Any:
        return run(stack, "up", lock_timeout=lock_timeout, on_output=on_output,
                   prepare=prepare if PR_STACK.match(stack_name) else None, refresh=refresh or None,
                   allow_data_loss=allow_data_loss)
    result = up_once()
    if len(attempts) > 1:  # it waited: its engine run took the record over its choice; the file follows the record
        ensure_pr_secrets(stack, root)
    if legacy:  # the run deleted the old domain resource after the shape had taken its name: name it again
        result = up_once()
    outputs = {k: ("[secret]" if v.secret else v.value) for k, v in result.outputs.items()}
    return StackResult(stack_name, "up", outputs.get("url"), change_counts(result.summary), outputs,
                       time.monotonic() - started)


def legacy_preview_domains(state: dict[str, Any] | None) -> list[str]:
    """A preview made before its Railway domain moved into the fork's shaping patch holds a domain resource of
    its own. Its first `up` since then names the domain in the shape and then deletes that resource, and with it
    the domain (the engine deletes last): a second `up` (refreshing, it reads the domain gone) names it again.
    Editing the state instead would race a concurrent run (the engine's state edits are export + import)."""
    return [r["urn"] for r in (state or {}).get("resources") or []
            if r.get("custom") and r["urn"].endswith("-domain") and "pulumi:providers:" not in r["urn"]]


def ensure_budget(stack_name: str, root: Path, on_output: Callable[[str], Any] | None = None,
                  extra: int = 0) -> None:
    """`up`'s budget rule for the other verbs that write (deploy, promote, rollback, destroy): before the first
    write and before the stack's lock, the token's hourly budget must cover the stack's resources plus the
    verb's own `extra` calls, or the run waits for the reset here (or stops, nothing started)."""
    known = next((s for s in workspace(root).list_stacks() if s.name == stack_name), None)
    budget.ensure(stack_name, budget.expected_calls(known.resource_count or 0 if known else 0) + extra, on_output)


def destroy_and_remove(stack_name: str, root: Path, *, lock_timeout: float = 600,
                       on_output: Callable[[str], Any] | None = None) -> StackResult:
    """Destroys the stack's resources; a PR preview's stack and its generated stack file are removed too. A
    committed stack file (dev, prod, ...) is never deleted: the stack stays, empty, for the next `up`. A stack
    that never existed is fine."""
    started = time.monotonic()
    if not stack_exists(stack_name, root):
        return StackResult(stack_name, "absent", seconds=time.monotonic() - started)
    if not PR_STACK.match(stack_name):  # a preview goes in one environment delete: nothing can be left half-made
        ensure_budget(stack_name, root, on_output)
    stack = select(stack_name, root, create=False)
    forks: list[dict[str, Any]] = []
    if PR_STACK.match(stack_name):  # a killed `pr up`'s fork the engine never recorded: finished (marked) first
        from infra.ops import recovery  # recovery imports this module
        state = stack_reads.state(stack)
        forks = recovery.killed_fork_intents(state)
        recovery.finish_killed_forks(stack, on_output, state, "removal")
    result = run(stack, "destroy", lock_timeout=lock_timeout, on_output=on_output)
    if PR_STACK.match(stack_name):
        recovery.remove_killed_forks(forks)  # its destroy knew nothing of it (adv15b N2)
        run_locked(stack_name, lock_timeout, lambda: workspace(root).remove_stack(stack_name), on_output)
        (root / f"Pulumi.{stack_name}.yaml").unlink(missing_ok=True)
    return StackResult(stack_name, "destroyed", changes=change_counts(result.summary),
                       seconds=time.monotonic() - started)


@dataclass
class PrStack:
    name: str
    number: int
    updated: datetime | None
    url: str | None
    environment_id: str | None

    def age_hours(self, now: datetime | None = None) -> float | None:
        if self.updated is None:
            return None
        return ((now or datetime.now(timezone.utc)) - self.updated).total_seconds() / 3600


def pr_stacks(root: Path) -> list[PrStack]:
    out = []
    for summary in workspace(root).list_stacks():
        match = PR_STACK.match(summary.name)
        if not match:
            continue
        updated = _parse_time(summary.last_update)
        outputs = stack_reads.outputs(select(summary.name, root, create=False)) if summary.resource_count else {}
        out.append(PrStack(summary.name, int(match.group(1)), updated, outputs.get("url"), outputs.get("environmentId")))
    return sorted(out, key=lambda s: s.number)


def _parse_time(value: str | datetime | None) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def require_source(stack_name: str, source: str, root: Path) -> None:
    """A preview is a fork of its source stack's environment: without one (never brought up, or destroyed) the
    preview stack is not created at all."""
    if not stack_exists(source, root) or stack_output(source, root, "environmentId") is None:
        raise ConfigError(f"{stack_name}: a preview is a fork of stack {source}'s environment, and {source} has "
                          f"none; run `acs-infra up {source}` first")


def stack_output(stack_name: str, root: Path, key: str) -> Any:
    """A plain (not secret) output of the stack, None when it has none of that name."""
    return stack_reads.outputs(select(stack_name, root, create=False)).get(key)


# ---- what a stack records about its releases ---------------------------------------------------------------
def current_release(stack: str, root: Path) -> dict[str, Any]:
    """{image, commit, since} the stack runs, from its outputs (empty before the first up)."""
    if not stack_exists(stack, root):
        return {}
    return stack_output(stack, root, "release") or {}


def release_history(stack: str, root: Path) -> list[dict[str, Any]]:
    if not stack_exists(stack, root):
        raise ConfigError(f"no stack {stack!r}")
    return list(stack_output(stack, root, "releases") or [])
