"""`acs-infra`: the command line CI uses, one module per command group (stacks, release, pr, drift) on one app
(`common`). `main(argv)` returns the exit code: 0 success, 1 failure, 2 drift found, 3 another run holds the stack.
"""
from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from typing import Any

from infra.ops import engine_command

from infra.ops.cli import stacks, release, pr, drift  # noqa: F401,I001  (each registers its commands, in this order)
from infra.ops.cli.common import app, normalise_argv, settings_refused


def main(argv: list[str] | None = None) -> int:
    """Runs one command; `--json` may stand before or after the subcommand."""
    args = normalise_argv(list(sys.argv[1:] if argv is None else argv))
    refused = settings_refused(args)  # before click: `acs-infra --help` runs no callback (adv27 B9)
    if refused is not None:
        return refused
    _catch_interrupts()
    try:
        app(args=args, prog_name="acs-infra")
        sys.stdout.flush()
    except SystemExit as exc:  # click ends every run with sys.exit: its code is the command's answer
        if INTERRUPTED.is_set():  # typer's answer to Ctrl-C is exit 130
            sys.stderr.write(INTERRUPTED_ENGINE if engine_command.cancelling() else "interrupted\n")
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRORS:
            raise
        return _output_lost(exc)
    return 0


# Writes to stdout that fail for the reader's sake, not ours: a closed pipe (`| head`), a full disk, /dev/full.
OUTPUT_ERRORS = {errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _output_lost(exc: OSError) -> int:
    """One line on stderr instead of a traceback; stdout goes to /dev/null so the exit's flush cannot fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if exc.errno != errno.EPIPE:  # a reader that left wants no word; a full disk is worth one
        sys.stderr.write(f"error: the output could not be written: {os.strerror(exc.errno or 0)}\n")
    return 1


INTERRUPTED = threading.Event()
INTERRUPTED_ENGINE = ("interrupted: the engine cancels in the background: it finishes the operations in flight, "
                      "writes the stack's state and releases its lock (ACS_ENGINE_GRACE_SECONDS, 10 s by default); "
                      "run the command again then (it names `acs-infra recover <stack>` if the stack was left "
                      "half-done)\n")


def _catch_interrupts() -> None:
    """Ctrl-C ends acs-infra in one line: Pulumi's automation API reads the engine's output in threads of its own,
    and an interrupt closes those pipes under them (a ValueError traceback per thread: adversarial issue 20, B1)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:  # ignored, or a caller's own
        return

    def interrupted(_signum: int, _frame: Any) -> None:
        INTERRUPTED.set()
        raise KeyboardInterrupt

    def quiet_readers(hook: threading.ExceptHookArgs, previous: Any = threading.excepthook) -> None:
        if not (INTERRUPTED.is_set() and issubclass(hook.exc_type, ValueError)):
            previous(hook)
    signal.signal(signal.SIGINT, interrupted)
    threading.excepthook = quiet_readers
