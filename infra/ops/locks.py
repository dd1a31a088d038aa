"""Whose stack lock is it, and may `recover` release it.

Pulumi's DIY backends (file, S3) name each lock's holder in the error of a run that finds the stack locked:
`created by <user>@<host> (pid <N>) at <RFC 3339 time>` (the lock object's JSON content). On a shared bucket a
lock may belong to a live run on another machine: `recover` releases one only when its run is provably gone
(this host, and no such process, on a file:// backend) or when the caller says a lock older than some age is stale.
"""
from __future__ import annotations

import json
import os
import random
import re
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

class Wait:
    """A wait for another run, up to `timeout` seconds: doubling pauses (1 s to 15 s) with jitter, so two
    waiters do not retry in step."""

    def __init__(self, timeout: float) -> None:
        self.started = time.monotonic()
        self.deadline, self.delay = self.started + timeout, 1.0

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def waited(self) -> float:
        return time.monotonic() - self.started

    def pause(self) -> None:
        time.sleep(max(0.0, min(self.left(), self.delay * random.uniform(0.5, 1.0))))
        self.delay = min(self.delay * 2, 15.0)


class LockTimeout(RuntimeError):
    """Another run holds the stack."""

    engine_error = ""  # the backend's own lock error: it names every holder (user@host, pid, since)


HOLDER = re.compile(r"created by (\S*)@(\S*) \(pid (-?\d+)\) at (\S+)")


@dataclass
class Holder:
    user: str
    host: str
    pid: int
    since: datetime | None

    def __str__(self) -> str:
        when = self.since.strftime("%Y-%m-%dT%H:%M:%SZ") if self.since else "an unknown time"
        return f"{self.user}@{self.host}, pid {self.pid}, since {when}"


def holders(text: str) -> list[Holder]:
    """Every lock the engine's error names."""
    return [Holder(m.group(1), m.group(2), int(m.group(3)), _time(m.group(4))) for m in HOLDER.finditer(text)]


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # a killed process its parent has not reaped yet runs nothing
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def same_machine_backend() -> bool:
    """Whether every run that can hold a lock of this backend runs on this machine: a file:// backend is a
    directory of this machine (by construction), so a lock naming this host and a pid that runs nothing here is
    a killed run's. On any shared backend (s3://, ...) it proves nothing: CI containers and runner pods often share
    a host name across machines (a fixed `--hostname`, a name pattern), so that pid may run on another machine
    (adversarial issue 17, break 4)."""
    return os.environ.get("PULUMI_BACKEND_URL", "").startswith("file://")


def provably_dead(h: Holder) -> bool:
    """The lock's run is gone: this host, a file:// backend and no such process (see same_machine_backend)."""
    return same_machine_backend() and h.host == socket.gethostname() and h.pid > 0 and not pid_alive(h.pid)


def why_releasable(h: Holder, stale_after: float | None, now: datetime | None = None) -> str | None:
    """Why this lock may be released, or None when its run may still be alive."""
    if not h.host or h.pid <= 0:
        return "it names no run"
    if provably_dead(h):
        return f"its run ({h}) is no longer running on this host"
    if stale_after is not None and h.since is not None:
        age = ((now or datetime.now(timezone.utc)) - h.since).total_seconds()
        if age >= stale_after:
            return f"it is {age:.0f}s old, older than --stale-after {stale_after:.0f}s"
    return None


def live_holders(text: str, stale_after: float | None) -> list[Holder]:
    """The holders `recover` must not release the lock of (unknown holders count as live)."""
    found = holders(text)
    if not found:
        return [Holder("?", "?", 0, None)]
    return [h for h in found if why_releasable(h, stale_after) is None]


def file_backend_holders(project: str, stack: str) -> list[Holder] | None:
    """The holders of a stack's lock on a `file://` backend, read without taking it (a dry run must not lock);
    None on another backend, where only an engine run that takes the lock can see it. The lock objects are the
    engine's own JSON (`pid`, `username`, `hostname`, `timestamp`) under `.pulumi/locks/` (the layout Pulumi's
    DIY backend writes; assumed stable, as its lock error quoting them is)."""
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        return None
    folder = Path(url[len("file://"):].split("?", 1)[0]) / ".pulumi" / "locks" / "organization" / project / stack
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # removed meanwhile (its run ended), or being written: a live run
        found.append(Holder(str(data.get("username", "")), str(data.get("hostname", "")), int(data.get("pid") or 0),
                            _time(str(data.get("timestamp", "")))))
    return found


def all_gone(found: list[Holder]) -> list[Holder]:
    """The holders when every one is provably gone (provably_dead), the fact a lock wait stops at and `recover`
    releases a lock on; [] when any may be alive (another host, a live pid, a shared backend)."""
    gone = [h for h in found if provably_dead(h)]
    return gone if found and len(gone) == len(found) else []
