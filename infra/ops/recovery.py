"""After a run was killed midway: repair what the kill left (a half-written checkpoint, a stale lock, a fork
Railway made that the engine never recorded), then bring the stack to the declared state."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import pulumi.automation as auto
from infra.config import check_config
from infra.ops.automation import (PR_STACK, PROJECT_NAME, LockTimeout, StackResult, StaleLock, change_counts,
                                  destroy_and_remove, ensure_pr_secrets, run, select)
from infra.ops import stack_reads


def restore_checkpoint(stack_name: str) -> bool:
    """A run killed while writing the checkpoint of a file backend leaves it unreadable. The blob store writes
    the checkpoint to a temporary file and renames it (atomic), but first truncates and rewrites its `.attrs`
    sidecar in place: a kill there leaves an empty sidecar, which the engine reports as "failed to load
    checkpoint: EOF" while the checkpoint itself is intact. An unreadable sidecar is removed (a missing one reads
    as no attributes); an unreadable checkpoint is replaced by the newest intact copy (the backend's `.bak`, else
    its backups folder, else an empty checkpoint whose next up adopts by this stack's marker). An object store
    (s3://) never shows a half-written object, so there is nothing to restore there."""
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        return False
    base = Path(url[len("file://"):].split("?", 1)[0]) / ".pulumi"
    target = base / "stacks" / PROJECT_NAME / f"{stack_name}.json"
    repaired = _drop_unreadable_sidecars(target.parent, stack_name)
    if _readable_json(target):
        return repaired
    candidates = [target.with_name(target.name + ".bak")]
    candidates += sorted((base / "backups" / PROJECT_NAME / stack_name).glob(f"{stack_name}.*.json"),
                         key=lambda p: p.stat().st_mtime, reverse=True)
    intact = next((c for c in candidates if _readable_json(c)), None)
    # No intact copy (a first up killed mid-write): start from an empty checkpoint. The recovering up then
    # adopts what the killed run made, by this stack's own marker, and nothing else.
    target.write_text(intact.read_text() if intact else json.dumps({"version": 3, "checkpoint": {
        "stack": f"organization/{PROJECT_NAME}/{stack_name}", "latest": None}}))
    target.with_name(target.name + ".attrs").unlink(missing_ok=True)  # its md5 describes the old bytes
    return True


def killed_fork_intents(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The inputs of each fork create the engine recorded as pending (a `pr up` killed before it recorded it)."""
    from infra.providers import fork
    return [inputs for op in state.get("pending_operations") or []
            for inputs in [(op.get("resource") or {}).get("inputs") or {}]
            if op.get("type") == "creating" and inputs.get(fork.FORK_INTENT)]


def finish_killed_forks(stack: auto.Stack, on_output: Callable[[str], Any] | None,
                        state: dict[str, Any] | None = None, command: str = "recover") -> None:
    """A `pr up` killed after Railway made its fork but before the engine recorded it left an unmarked fork that
    every later create refuses. The engine recorded that create (a pending operation with its inputs) before making
    the call: only the fork matching that record is marked, so the converging up adopts it (infra.providers.fork)."""
    from infra.providers import fork
    for inputs in killed_fork_intents(stack_reads.state(stack) if state is None else state):
        said = fork.finish_killed_fork(inputs)
        if on_output:
            on_output(f"{command}: {said}\n")


def remove_killed_forks(intents: list[dict[str, Any]]) -> None:
    """After the destroy of a preview whose killed `pr up` left a fork the engine never recorded (finished, i.e.
    marked, by finish_killed_forks first): that fork, now carrying this stack's marker, goes too (adv15b N2: `pr
    down` reported success and left it running, unmarked, for good). Only the environment: its own instances."""
    from infra.ops import preview_gc
    from infra.providers import fork
    from infra.railway import client_from_env
    for intent in intents:
        env, _ = fork.killed_fork(intent)
        if env is not None and env.get("marked"):
            preview_gc.remove_environment(client_from_env(), env["id"])


def close_killed_releases(stack: auto.Stack, stack_name: str, state: dict[str, Any]) -> None:
    """A release killed before its health gate left its record open and its image pinned: recover's up applies
    that pin without a gate, so the record says so instead of staying `in progress` forever. A re-run of the same
    release takes the record over (infra.ops.release)."""
    from infra import versions
    from infra.ops.automation import with_release
    # The Release resource's own state: the stack's outputs are written only when a run completes.
    release = next((r for r in state.get("resources") or [] if r.get("urn", "").endswith(f"::{stack_name}-release")
                    and r.get("custom")), {})
    records = (release.get("outputs") or {}).get("records") or []
    closed = versions.close_open(records, "interrupted", "the run was killed before its health gate; recover "
                                 "applied the pinned image, not gated: deploy it again to gate it, or roll back")
    if closed:
        with_release(stack, versions.Request(stack_name, record=closed))


def killed_removal(stack_name: str, state: dict[str, Any]) -> bool:
    """The killed run was removing a PR preview: its recorded pending operation deletes the preview's environment
    (`pr down`, `pr gc`). A replacement of the fork (dev's environment replaced) records the same delete: finishing
    it as a removal loses nothing (a preview holds no data; the next `pr up` makes it again), while building it
    again would bring back what was being removed (adversarial issue 14, B8)."""
    return bool(PR_STACK.match(stack_name)) and any(
        op.get("type") == "deleting" and (op.get("resource") or {}).get("urn", "").endswith("-environment")
        for op in state.get("pending_operations") or [])


def _readable_json(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


def _drop_unreadable_sidecars(folder: Path, stack_name: str) -> bool:
    broken = [a for a in folder.glob(f"{stack_name}.json*.attrs") if not _readable_json(a)]
    for sidecar in broken:
        sidecar.unlink()
    return bool(broken)


def recover(stack_name: str, root: Path, *, on_output: Callable[[str], Any] | None = None,
            stale_after: float | None = None) -> StackResult:
    """After a run was killed midway: release its stale lock, drop its pending creates (the providers adopt
    whatever those creates left in Railway on the next create, by name within the stack's environment), then
    bring the stack to the declared state; a PR preview whose killed run was removing it is removed instead. A lock is released only when its run is gone (this host, no such
    process, a file:// backend) or older than `stale_after` seconds: on a shared backend it may be a live run on
    another machine, whatever host name it carries (infra.ops.locks.same_machine_backend)."""
    started = time.monotonic()
    try:  # selecting a stack already loads its checkpoint (a stack that does not exist is named: adv15 B10)
        stack_reads.state(select(stack_name, root, create=False))
    except auto.CommandError as exc:
        if "failed to load checkpoint" not in str(exc) or not restore_checkpoint(stack_name):
            raise
    check_config(stack_name, root)  # recover converges as `up` does: a config `up` refuses stops it first (adv23 B2)
    stack = select(stack_name, root, create=False)
    killed = stack_reads.state(stack)  # before the refresh clears its pending creates

    def refresh(lock_timeout: float = 600) -> Any:
        return run(stack, "refresh", lock_timeout=lock_timeout, on_output=on_output, clear_pending_creates=True)
    try:
        refresh(lock_timeout=0)  # takes the lock first: a locked stack fails here, naming its holders
    except LockTimeout as exc:
        _release_dead_lock(stack, stack_name, exc.engine_error, stale_after)
        refresh()
    if killed_removal(stack_name, killed):  # finish the removal: never fork the preview again
        from infra.ops import safety
        safety.check_previews([stack_name], root)  # the environment may still be there: only what it made goes
        done = destroy_and_remove(stack_name, root, on_output=on_output)
        return StackResult(stack_name, "destroyed", changes=done.changes, seconds=time.monotonic() - started)
    finish_killed_forks(stack, on_output, killed)  # the pending creates as the killed run left them
    close_killed_releases(stack, stack_name, killed)
    # A preview's secrets as `pr up` chooses them (the stack's record first): a runner with a fresh clone has no
    # Pulumi.pr-<N>.yaml of its own (adv17 break 3); read again before every attempt, like `pr up`'s
    prepare = (lambda: ensure_pr_secrets(stack, root)) if PR_STACK.match(stack_name) else None
    result = run(stack, "up", on_output=on_output, prepare=prepare)
    outputs = {k: ("[secret]" if v.secret else v.value) for k, v in result.outputs.items()}
    return StackResult(stack_name, "recovered", outputs.get("url"), change_counts(result.summary), outputs,
                       time.monotonic() - started)


def _release_dead_lock(stack: auto.Stack, stack_name: str, error: str, stale_after: float | None) -> None:
    from infra.ops import locks
    live = locks.live_holders(error, stale_after)
    if live:
        why = ("recover releases only the lock of a run that is gone from this host" if locks.same_machine_backend()
               else "on a shared backend a run on another machine may carry this host's name, so a missing pid "
                    "here proves nothing")
        raise LockTimeout(f"{stack_name} is locked by a run that may still be alive ({'; '.join(map(str, live))}): "
                          f"{why}; wait for it, or pass --stale-after <age> to release a lock older than that")
    try:
        stack.cancel()  # releases the dead run's lock
    except auto.CommandError as exc:
        cause = str(exc).split("stderr:", 1)[-1].strip()
        raise StaleLock(f"{stack_name}: could not release the lock a killed run left: {cause}") from exc
