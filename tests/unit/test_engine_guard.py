"""The engine guard hands on everything the engine said, however slowly acs-infra reads it (infra.ops.engine_guard)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

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
