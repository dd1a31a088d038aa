"""A preview is a settled read (infra.ops.settled_read): it waits while a run writes the stack and reads again
when the checkpoint changed under it. The engine is replaced by a scripted checkpoint; the clock is moved."""
from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from infra.ops import locks, settled_read, stack_reads
from infra.ops.locks import LockTimeout

CLEAN = {"resources": [{"urn": "a"}]}
WRITTEN = {"resources": [{"urn": "a"}, {"urn": "b"}]}
IN_PROGRESS = {"resources": [{"urn": "a"}], "pending_operations": [{"type": "updating"}]}


class Stack:
    """Answers the checkpoint read (`stack_reads.state`) from a script of checkpoints (the last one repeats)."""

    def __init__(self, *checkpoints: dict[str, Any]) -> None:
        self.name, self.script, self.exports = "dev", list(checkpoints), 0

    def state(self) -> dict[str, Any]:
        self.exports += 1
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


@pytest.fixture(autouse=True)
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack_reads, "state", lambda stack: stack.state())


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [0.0]
    monkeypatch.setattr(locks.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(locks.time, "sleep", lambda s: now.__setitem__(0, now[0] + s))
    return now


def backend(monkeypatch: pytest.MonkeyPatch, holders: list[locks.Holder] | None) -> None:
    monkeypatch.setattr(locks, "file_backend_holders", lambda project, stack: holders)


def test_a_checkpoint_written_during_the_read_is_read_again(monkeypatch: pytest.MonkeyPatch,
                                                            clock: list[float]) -> None:
    backend(monkeypatch, None)
    reads: list[int] = []
    said: list[str] = []
    stack = Stack(CLEAN, WRITTEN, WRITTEN, WRITTEN)  # before, after (changed), before, after
    assert settled_read.run(stack, "acs", 600, lambda: reads.append(1) or len(reads), said.append) == 2
    assert len(reads) == 2 and "changed while it was read" in said[0], said


def test_a_read_taken_again_hands_over_only_its_own_events(monkeypatch: pytest.MonkeyPatch,
                                                            clock: list[float]) -> None:
    """adv22 B1: the events of both reads reached drift, the first read's stale live values among them."""
    backend(monkeypatch, None)
    reads: list[int] = []

    def preview(on_event: Any, refresh: bool) -> str:
        reads.append(1)
        on_event(f"read {len(reads)}")
        return f"result {len(reads)}"
    events: list[str] = []
    stack = Stack(CLEAN, WRITTEN, WRITTEN, WRITTEN)
    assert settled_read.preview(stack, "acs", 600, preview, {"on_event": events.append, "refresh": True},
                                lambda _: None) == "result 2"
    assert events == ["read 2"]


def test_a_run_that_starts_during_the_read_is_waited_out_and_read_after(monkeypatch: pytest.MonkeyPatch,
                                                                       clock: list[float]) -> None:
    """adv23 B1 (6 of 6 with drift started under 1 s into an up): the up took the stack's lock during drift's read
    but had not written its checkpoint yet when the read ended, so the read counted as settled and its live value,
    the one the up was about to change, was recorded as drift. A read is settled only when no run holds the stack
    after it either: this one waits for the up, finds the checkpoint changed, and reads again."""
    live = locks.Holder("ci", socket.gethostname(), os.getpid(), None)
    script = [[], [live], [live], []]  # before the read; after it (the up holds the lock) ...; the up is done
    monkeypatch.setattr(locks, "file_backend_holders", lambda project, stack: script.pop(0) if len(script) > 1
                        else script[0])
    reads: list[int] = []
    said: list[str] = []
    stack = Stack(CLEAN, CLEAN, CLEAN, WRITTEN)
    assert settled_read.run(stack, "acs", 600, lambda: reads.append(1) or len(reads), said.append) == 2
    assert "locked by another run" in said[0] and "changed while it was read" in said[-1], said


def test_pending_operations_are_waited_out_before_the_read(monkeypatch: pytest.MonkeyPatch,
                                                           clock: list[float]) -> None:
    backend(monkeypatch, None)  # a bucket: only the checkpoint tells
    said: list[str] = []
    stack = Stack(IN_PROGRESS, IN_PROGRESS, CLEAN)
    assert settled_read.run(stack, "acs", 600, lambda: "read", said.append) == "read"
    assert "dev is locked by another run (1 operation(s) in progress)" in said[0] and clock[0] > 0, said


def test_pending_operations_no_run_holds_are_a_killed_runs(monkeypatch: pytest.MonkeyPatch,
                                                         clock: list[float]) -> None:
    backend(monkeypatch, [])  # a file backend without a lock
    with pytest.raises(LockTimeout, match=r"killed run .*acs-infra recover dev"):
        settled_read.run(Stack(IN_PROGRESS), "acs", 600, lambda: pytest.fail("read during a killed run's leftovers"))
    assert clock[0] == 0, "at once, no wait"


def test_a_run_that_does_not_end_is_waited_for_until_the_timeout(monkeypatch: pytest.MonkeyPatch,
                                                                 clock: list[float]) -> None:
    backend(monkeypatch, None)
    with pytest.raises(LockTimeout, match=r"another run holds stack dev .*waited \d+s"):
        settled_read.run(Stack(IN_PROGRESS), "acs", 60, lambda: pytest.fail("read while a run writes"))
    assert 60 <= clock[0] < 80


def test_drift_says_a_killed_runs_leftovers_in_its_own_words(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """adv22 minor 9: drift's failed check read "LockTimeout: stack dev was left by a killed run ...": the class
    name of an exception whose message is written for the user."""
    from infra.ops import drift

    said = "stack dev was left by a killed run; `acs-infra recover dev` finishes or clears what it left"

    def killed(*_: object, **__: object) -> None:
        raise LockTimeout(said)
    monkeypatch.setattr(drift.ops, "select", killed)
    monkeypatch.setattr(drift, "_record", lambda *_: None)
    assert drift.check_stack("dev", tmp_path).error == said
