"""Adversarial pass on issue 14: the lock wait reports the time it actually waited and honours its timeout.
The clock is moved, never slept on: `time.monotonic` and `time.sleep` of the runner read one fake clock."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.ops import automation as ops


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class Locked:
    """An engine run refused by the backend's lock; each attempt costs `cost` seconds (engine start-up)."""

    def __init__(self, clock: Clock, cost: float) -> None:
        self.clock, self.cost, self.calls = clock, cost, 0

    def __call__(self) -> None:
        self.calls += 1
        self.clock.now += self.cost
        raise ops.auto.ConcurrentUpdateError(ops.auto.CommandResult(
            stdout="", stderr="error: the stack is currently locked by 1 lock(s): created by ci@runner-7 (pid 42) "
                              "at 2026-11-26T10:00:00Z", code=255))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ops.locks.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(ops.locks.time, "sleep", fake.sleep)
    return fake


@pytest.mark.parametrize("timeout,cost", [(600, 25.0), (20, 0.0), (20, 7.0), (0, 3.0)])
def test_lock_wait_reports_the_time_actually_waited(clock: Clock, timeout: float, cost: float) -> None:
    """Adversarial pass: the message said "waited 600s" whatever the wait was. It now says the measured wait,
    never gives up before the timeout, never sleeps past it, and names the holder and `recover`."""
    start, action = clock.now, Locked(clock, cost)
    with pytest.raises(ops.LockTimeout) as err:
        ops.run_locked("dev", timeout, action)
    waited = clock.now - start
    assert waited >= timeout, "gave up before the timeout"
    assert waited <= timeout + cost + 1e-6, "waited past the timeout by more than one attempt"
    said = float(re.search(r"waited (\d+(?:\.\d+)?)s", str(err.value)).group(1))
    assert abs(said - waited) <= 0.5, (str(err.value), waited)
    assert "ci@runner-7, pid 42" in str(err.value) and "acs-infra recover dev" in str(err.value)
    assert f"timeout {timeout:g}s" in str(err.value)


def test_a_released_lock_is_taken(clock: Clock) -> None:
    """The wait ends as soon as the holder is gone: the next attempt runs the action."""
    locked = Locked(clock, 1.0)

    def action() -> str:
        if locked.calls < 3:
            locked()
        return "done"

    assert ops.run_locked("dev", 600, action) == "done" and locked.calls == 3 and clock.now - 1000.0 < 60


def dead_pid() -> int:
    """A pid that ran on this host and no longer exists (a killed run's engine)."""
    import subprocess
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


class HeldBy(Locked):
    def __init__(self, clock: Clock, host: str, pid: int) -> None:
        super().__init__(clock, 1.0)
        self.host, self.pid = host, pid

    def __call__(self) -> None:
        self.calls += 1
        self.clock.now += self.cost
        raise ops.auto.ConcurrentUpdateError(ops.auto.CommandResult(
            stdout="", stderr=f"error: the stack is currently locked by 1 lock(s): created by root@{self.host} "
                              f"(pid {self.pid}) at 2026-11-26T10:00:00Z", code=255))


def test_a_lock_whose_run_is_gone_from_this_host_points_to_recover_at_once(
        clock: Clock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """B9 (issue 16 adversarial pass): a retry after a killed release waited the whole 600 s on a lock whose
    holder, a pid on this very host, no longer existed. It says so at once (after one more look, so a run that
    just ended and released its lock is not mistaken for a dead one) and names `recover` (exit 3). Only a file://
    backend proves the pid is this machine's: set here, not inherited from the shell that runs the tests."""
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    import socket
    start, action = clock.now, HeldBy(clock, socket.gethostname(), dead_pid())
    with pytest.raises(ops.LockTimeout) as err:
        ops.run_locked("prod", 600, action)
    assert action.calls == 2 and clock.now - start < 10, (action.calls, clock.now - start)
    assert "no longer running" in str(err.value) and "acs-infra recover prod" in str(err.value)


@pytest.mark.parametrize("host,pid", [("another-runner", None), (None, 1)])
def test_a_lock_whose_run_may_be_alive_is_waited_for(clock: Clock, host: str | None, pid: int | None) -> None:
    """Another host's pid (its machine may still run it), or a live pid here: the whole wait, as before."""
    import socket
    action = HeldBy(clock, host or socket.gethostname(), pid or dead_pid())
    with pytest.raises(ops.LockTimeout) as err:
        ops.run_locked("prod", 60, action)
    assert clock.now - 1000.0 >= 60 and "waited" in str(err.value)


SHARED = "s3://acs-state?endpoint=127.0.0.1:9000&s3ForcePathStyle=true"


def lock_error(host: str, pid: int, since: str = "2026-11-26T10:00:00Z") -> str:
    return f"error: the stack is currently locked by 1 lock(s): created by root@{host} (pid {pid}) at {since}"


def test_on_a_shared_backend_a_lock_naming_this_host_is_waited_for(clock: Clock,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Break 4 (adv17): CI containers often share one host name across machines. On a shared backend (s3://) a
    lock naming this host whose pid runs nothing here may be a live run on another machine: the wait goes on
    to its timeout, it is not cut short as a killed run's."""
    import socket
    monkeypatch.setenv("PULUMI_BACKEND_URL", SHARED)
    action = HeldBy(clock, socket.gethostname(), dead_pid())
    with pytest.raises(ops.LockTimeout) as err:
        ops.run_locked("prod", 60, action)
    assert clock.now - 1000.0 >= 60 and "waited" in str(err.value), str(err.value)


@pytest.mark.parametrize("backend", [SHARED, "file:///tmp/state"])
def test_recover_releases_on_a_shared_backend_only_a_lock_older_than_stale_after(
        monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    """Break 4 (adv17): `recover` released a live run's lock on another machine that had this host's name. On
    s3:// a missing pid here proves nothing: only --stale-after releases it; on file:// (one machine by
    construction) a dead pid of this host still does."""
    import socket
    from datetime import datetime, timedelta, timezone

    from infra.ops import locks
    monkeypatch.setenv("PULUMI_BACKEND_URL", backend)
    now = datetime.now(timezone.utc)
    fresh = lock_error(socket.gethostname(), dead_pid(), now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    old = lock_error(socket.gethostname(), dead_pid(), (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    shared = backend.startswith("s3://")
    assert bool(locks.live_holders(fresh, None)) == shared
    assert bool(locks.live_holders(fresh, 3600)) == shared, "a seconds-old lock is not older than 1h"
    assert locks.live_holders(old, 3600) == [], "older than --stale-after: released"
