"""The engine guard hands on everything the engine said, however slowly acs-infra reads it, and ends with its engine
(infra.ops.engine_guard)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from infra.ops.engine_command import EngineKilled

# More than one pipe holds (64 KiB), less than two: the engine ends, and the guard's pump is left blocked on
# its write until the reader comes back.
SPEECH = "import sys; sys.stderr.write('x' * 100_000 + 'LAST WORDS'); sys.exit(3)"


def test_a_slow_reader_still_gets_the_engines_last_words() -> None:
    """Session 18: under load the guard gave up on its output pumps 5 s after the engine ended, and a destroy
    failed with an empty "pulumi failed: stderr:". Here the reader comes back after 6 s."""
    guard = subprocess.Popen([sys.executable, "-m", "infra.ops.engine_guard", str(os.getpid()),
                              sys.executable, "-c", SPEECH], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(6)  # a starved acs-infra, not a clock: the pipe really is full this long
    _, err = guard.communicate(timeout=60)
    assert guard.returncode == 3
    assert err.endswith(b"LAST WORDS") and len(err) == 100_010, len(err)


# An engine that cancels on SIGINT as pulumi does: it says so in a file and ends.
CANCELLING_ENGINE = """
import pathlib, signal, sys, time
done = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGINT, lambda *_: (done.write_text("cancelled"), sys.exit(0)))
done.with_suffix(".ready").write_text("")
time.sleep(600)
"""
# acs-infra: starts the guard and waits; the test kills it as a cancelled CI step would.
CLI = """
import os, subprocess, sys
guard = subprocess.Popen([sys.executable, "-m", "infra.ops.engine_guard", str(os.getpid()),
                          sys.executable, "-c", sys.argv[1], sys.argv[2]])
print(guard.pid, flush=True)
guard.wait()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_guard_ends_when_the_cancelled_engine_does_not_at_the_grace(tmp_path) -> None:
    """Session 19 (CI of 39f42ae): with acs-infra killed, the guard gave the engine SIGINT and then always waited
    out the whole grace, though the engine had ended at once: its wait ran in the signal handler and could not
    reap. The grace here is an hour; the guard must end with the engine."""
    done = tmp_path / "engine.done"
    env = {**os.environ, "ACS_ENGINE_GRACE_SECONDS": "3600"}
    cli = subprocess.Popen([sys.executable, "-c", CLI, CANCELLING_ENGINE, str(done)], env=env,
                           stdout=subprocess.PIPE, start_new_session=True)
    guard = int(cli.stdout.readline())
    deadline = time.monotonic() + 120
    while not done.with_suffix(".ready").exists():
        assert time.monotonic() < deadline, "the engine did not start"
        time.sleep(0.05)
    os.killpg(cli.pid, signal.SIGKILL)
    cli.wait(60)
    try:
        while _alive(guard):
            assert time.monotonic() < deadline + 120, "the guard outlived its engine (it waited out the grace)"
            time.sleep(0.05)
    finally:  # a failing test leaves no guard behind
        if _alive(guard):
            os.kill(guard, signal.SIGKILL)
    assert done.read_text() == "cancelled", "the engine got SIGINT"


def test_a_killed_engine_is_said_in_a_line_acs_infra_knows() -> None:
    """adv20 B2: an engine killed by a signal made the guard exit 247 (-9 as a status) and acs-infra printed
    "pulumi failed: code: 247" with the engine's output; the guard says what killed it, and acs-infra knows it."""
    guard = subprocess.run([sys.executable, "-m", "infra.ops.engine_guard", str(os.getpid()), sys.executable, "-c",
                            "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], capture_output=True, text=True,
                           timeout=120)
    assert guard.returncode == 128 + signal.SIGKILL and guard.stderr.endswith("pulumi was killed by SIGKILL\n")
    engine = EngineKilled.of(f"\n code: {guard.returncode}\n stdout: \n stderr: {guard.stderr}")
    assert engine is not None and (engine.what, engine.signal_name) == ("pulumi", "SIGKILL")
    itself = EngineKilled.of("\n code: -9\n stdout: Updating (dev):\n stderr: ")  # the guard killed
    assert itself is not None and (itself.what, itself.signal_name) == ("the engine guard", "SIGKILL")
    assert EngineKilled.of("\n code: 255\n stdout: \n stderr: error: update failed") is None
