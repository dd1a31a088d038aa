"""`acs-infra`: the command line CI uses, one module per command group (stacks, release, pr, drift) on one app
(`common`). `main(argv)` returns the exit code: 0 success, 1 failure, 2 drift found, 3 another run holds the stack.
"""
from __future__ import annotations

import errno
import os
import sys

from infra.ops.cli import stacks, release, pr, drift  # noqa: F401,I001  (each registers its commands, in this order)
from infra.ops.cli.common import app, normalise_argv


def main(argv: list[str] | None = None) -> int:
    """Runs one command; `--json` may stand before or after the subcommand."""
    args = normalise_argv(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=args, prog_name="acs-infra")
        sys.stdout.flush()
    except SystemExit as exc:  # click ends every run with sys.exit: its code is the command's answer
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
