"""Runs one `pulumi` command so that nothing it starts outlives the run (issue 14 item 12).

`python -m infra.ops.engine_guard <parent-pid> pulumi <args...>` runs the engine as its child. The engine starts
its language host and dynamic providers in process groups of their own, so when the engine dies they are
orphaned; the guard is their "child subreaper" (PR_SET_CHILD_SUBREAPER), so they stay its descendants and it
can end them:
- when its parent (`acs-infra`) dies, even by SIGKILL, the kernel tells it (PR_SET_PDEATHSIG): the engine gets
  SIGINT, the one signal it handles (it cancels, waits for the operations in flight, writes its checkpoint and
  releases its lock; SIGTERM ends it on the spot, lock left behind: adversarial issue 16, second pass, N5), and
  after a grace period every descendant is killed;
- when the engine ends, on its own or killed, whatever it left running is killed.
The guard and the engine leave `acs-infra`'s process group: a cancelled CI step kills that whole group at once
(SIGKILL), which used to take the guard along before it could end the plugins (adversarial issue 15, B9); now
only `acs-infra` dies there and the guard ends the rest as above. Ctrl-C reaches `acs-infra`, whose end is the
engine's SIGINT. The engine's output goes through the guard: once `acs-infra` is gone, a write to its pipe would
kill the engine (Go exits on EPIPE at stdout) in the middle of cancelling; the guard keeps reading and drops it.
Linux only (prctl); elsewhere the guard just runs the engine.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from typing import IO

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
# How long the engine gets to cancel (and release its lock) once acs-infra is gone; then everything is killed.
def _grace(raw: str | None, default: float = 10.0) -> float:
    """The setting's value; a bad one is refused by the CLI before any command (infra.railway.settings), so here,
    where it is read at import (every command imports this module), it only must not end the program (adv26 N3)."""
    try:
        value = float(raw or default)
    except ValueError:
        return default
    return value if 0 <= value <= 3600 else default


GRACE_SECONDS = _grace(os.environ.get("ACS_ENGINE_GRACE_SECONDS"))
# Once the engine and all it started are dead, nothing holds its pipes open, so the pumps reach EOF; the bound
# only guards against a writer outside our tree. It was 5 s, and a loaded machine lost the engine's last words.
PUMP_SECONDS = 120.0
KILLED_BY = "engine_guard: pulumi was killed by"  # + the signal's name: the guard's last line for a killed engine


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal has no name
        return f"signal {number}"


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as fh:  # "pid (comm) state ppid ...": comm may hold spaces
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_descendants() -> None:
    for pid in _descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pump(source: IO[bytes], fd: int) -> None:
    """Copies the engine's output to ours; once ours is gone (acs-infra died), keeps draining it."""
    gone = False
    for chunk in iter(lambda: os.read(source.fileno(), 65536), b""):
        while chunk and not gone:
            try:
                chunk = chunk[os.write(fd, chunk):]
            except OSError:
                gone = True


def _cancel(engine: subprocess.Popen[bytes]) -> None:
    """acs-infra is gone: the engine gets SIGINT and the grace to cancel, then all that is left is killed."""
    if GRACE_SECONDS > 0:  # no grace: killed as it stands (tests of what a hard kill leaves rely on it)
        engine.send_signal(signal.SIGINT)
        try:
            engine.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    _kill_descendants()


def main(argv: list[str]) -> int:
    parent, command = int(argv[0]), argv[1:]
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        return 1
    try:
        os.setpgid(0, 0)  # out of acs-infra's group: a kill of that group must leave the guard to clean up
    except OSError:
        pass
    parent_gone = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        # Only a flag: a handler runs in the main thread, inside whatever wait it interrupted; a wait for the
        # engine there found the Popen's waitpid lock held by that wait, never reaped it and took the whole grace.
        signal.signal(signum, lambda _signum, _frame: parent_gone.set())
    engine = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pumps = [threading.Thread(target=_pump, args=(pipe, fd), daemon=True)
             for pipe, fd in ((engine.stdout, 1), (engine.stderr, 2))]
    for pump in pumps:
        pump.start()
    # After the engine started: an ignored signal stays ignored across exec, and SIGINT is how it cancels.
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt reaches us through acs-infra's end (SIGTERM)
    while (code := engine.poll()) is None and not parent_gone.wait(0.2):
        pass
    if code is None:
        _cancel(engine)
        os._exit(128 + signal.SIGTERM)
    _kill_descendants()  # what a killed engine left behind; normally nothing is left
    for pump in pumps:  # the engine's last words reach acs-infra before the guard ends
        pump.join(timeout=PUMP_SECONDS)
    if code < 0:  # killed (an OOM kill, a stray `kill -9`): said in a line acs-infra knows, not an exit code of 247
        os.write(2, f"\n{KILLED_BY} {signal_name(-code)}\n".encode())
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
