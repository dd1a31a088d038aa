"""Reads of a stack taken while no run writes it.

Pulumi's DIY backends (file, S3) lock a stack only for the operations that write it: a preview (drift's refreshing
preview, a release's or a promotion's check) takes no lock, so one running beside an `up` of the same stack read
Railway half-way through the up's changes and reported a drift the up was about to remove (adversarial issue 18,
break 1). The stack runner runs every preview as a settled read instead:
- before it, it waits while a run is in progress: the stack's lock (readable on a `file://` backend, whose lock
  objects are files) or, on any backend, pending operations in the checkpoint (the engine records each step in
  the checkpoint before it calls the provider, and clears it after);
- after it, once no run is in progress again (a run that took the lock during the read may not have written its
  checkpoint yet), the checkpoint must still be the one it started from: a run that wrote meanwhile means the read
  may mix before and after, so it is read again.
A lock whose run is provably gone, or pending operations no live run holds (a `file://` backend without a lock),
were left by a killed run: the read stops at once and names `acs-infra recover`, as `up` does.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, TypeVar

import pulumi.automation as auto

from infra.ops import locks, stack_reads
from infra.ops.locks import LockTimeout

T = TypeVar("T")


def checkpoint(stack: auto.Stack) -> tuple[str, int]:
    """The checkpoint's fingerprint and its number of pending operations (one engine call, nothing written)."""
    deployment = stack_reads.state(stack)  # secrets left encrypted: no key derivation, same text each time
    text = json.dumps(deployment, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest(), len(deployment.get("pending_operations") or [])


def run(stack: auto.Stack, project: str, timeout: float, read: Callable[[], T],
        on_wait: Callable[[str], Any] | None = None) -> T:
    """`read()` once no run writes the stack, and again while a run wrote it meanwhile (`timeout` in all)."""
    wait = locks.Wait(timeout)
    before = _settled(stack, project, wait, on_wait)
    while True:
        result = read()
        # Settled after the read too: a run that took the lock during the read may not have written its
        # checkpoint yet (adv23 B1), so it is waited out before the checkpoints are compared.
        after = _settled(stack, project, wait, on_wait)
        if after == before:
            return result
        if on_wait:
            on_wait(f"stack {stack.name} changed while it was read (another run wrote it): reading it again")
        before = after


def _settled(stack: auto.Stack, project: str, wait: locks.Wait, on_wait: Callable[[str], Any] | None) -> str:
    """The checkpoint's fingerprint once no run is in progress; raises LockTimeout past the deadline, or at once
    for a killed run's leftovers."""
    while True:
        stamp, pending = checkpoint(stack)
        holders = locks.file_backend_holders(project, stack.name)  # None: a backend whose locks are not files
        if not pending and not holders:
            return stamp
        gone = locks.all_gone(holders or [])
        if gone or (pending and holders == []):
            who = f"its lock's run ({gone[0]}) is no longer running on this host" if gone else \
                f"{pending} pending operation(s) in its checkpoint and no run holds its lock"
            raise LockTimeout(f"stack {stack.name} was left by a killed run ({who}); `acs-infra recover "
                              f"{stack.name}` finishes or clears what it left")
        doing = ", ".join(map(str, holders)) if holders else f"{pending} operation(s) in progress"
        left = wait.left()
        if left <= 0:  # the words of the lock wait of a run that writes (automation.run_locked)
            raise LockTimeout(f"another run holds stack {stack.name} ({doing}); waited "
                              f"{wait.waited():.0f}s. If no run is in progress, `acs-infra recover "
                              f"{stack.name}` clears what a killed run left")
        if on_wait:
            on_wait(f"stack {stack.name} is locked by another run ({doing}); waiting up to {left:.0f}s more "
                    "before reading it")
        wait.pause()


def preview(stack: auto.Stack, project: str, timeout: float, operation: Callable[..., Any], kwargs: dict[str, Any],
            say: Callable[[str], Any]) -> Any:
    """`operation(**kwargs)` (the engine's preview) as a settled read. A read may be taken again; the caller's
    `on_event` gets the events of the read it is given (or of the one that failed), never a mix of attempts (adv22
    B1: drift reported the first read's stale live values)."""
    forward = kwargs.pop("on_event", None)
    if forward is None:
        return run(stack, project, timeout, lambda: operation(**kwargs), say)
    attempt: list[Any] = []

    def read() -> Any:
        attempt.clear()
        return operation(**kwargs, on_event=attempt.append)
    try:
        return run(stack, project, timeout, read, say)
    finally:
        for event in attempt:
            forward(event)
