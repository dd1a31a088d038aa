"""`acs-infra`: the command line CI uses, one module per command group (stacks, release, pr, drift) on one app
(`common`). `main(argv)` returns the exit code: 0 success, 1 failure, 2 drift found, 3 another run holds the stack.
"""
from __future__ import annotations

import sys

from infra.ops.cli import stacks, release, pr, drift  # noqa: F401,I001  (each registers its commands, in this order)
from infra.ops.cli.common import app, normalise_argv


def main(argv: list[str] | None = None) -> int:
    """Runs one command; `--json` may stand before or after the subcommand."""
    args = normalise_argv(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=args, prog_name="acs-infra")
    except SystemExit as exc:  # click ends every run with sys.exit: its code is the command's answer
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
