"""What every command group shares: the app, the global options, output (text for people, `--json` for
machines; engine output goes to stderr) and the mapping of known failures to a message and an exit code.

Exit codes: 0 success, 1 failure, 2 drift found (drift) or previews kept (pr gc), 3 another run holds the stack.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from typer._click.exceptions import UsageError  # typer 0.2x parses with its own copy of click, not `click`
from typer.core import TyperGroup
from rich.console import Console
from rich.markup import escape

from infra.config import ConfigError, check_stack_name
from infra.ops import automation as ops
from infra.ops.engine_command import KILLED_ENGINE, TORN_CHECKPOINT, EngineKilled
from infra.ops.engine_stream import EngineStream
from infra.ops.release import ReleaseError
from infra.railway import RailwayApiError
from infra.railway.settings import check_env
from infra.railway.facts import parse_duration_ms

class _Commands(TyperGroup):
    """A usage error (unknown flag, bad or missing argument) is a failure, exit 1: click's 2 means "drift found"
    and "a preview was kept" here (adv22 B3: a mistyped flag in a scheduled drift read as drift). With --json it
    is also the usual {"error": ...} on stdout."""

    def make_context(self, info_name: str | None, args: list[str], *rest: Any, **kwargs: Any) -> typer.Context:
        with _usage_failures(any(a == "--json" or a.startswith("--json=") for a in args)):  # before it is parsed
            return super().make_context(info_name, args, *rest, **kwargs)

    def invoke(self, ctx: typer.Context) -> Any:
        with _usage_failures(bool(ctx.params.get("json_output"))):  # also before the options' callback ran
            return super().invoke(ctx)


class SubCommands(TyperGroup):
    """A command group (`pr`): under --json, no subcommand is a usage error in JSON, not the help on stdout
    (rich prints the help the moment click builds its "no args is help" error; adv24 minor)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if not args and STATE["json"]:
            raise UsageError(f"missing command: one of {', '.join(self.list_commands(ctx))}", ctx=ctx)
        return super().parse_args(ctx, args)


@contextlib.contextmanager
def _usage_failures(json_output: bool) -> Iterator[None]:
    try:
        yield
    except UsageError as exc:
        if json_output or STATE["json"]:
            out.print_json(json.dumps({"error": exc.format_message()}))
        exc.exit_code = 1
        raise


app = typer.Typer(help="ACS infrastructure on Railway: stacks, PR previews, drift.", no_args_is_help=True,
                  pretty_exceptions_enable=False, cls=_Commands)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
STATE: dict[str, Any] = {"json": False, "root": None}


@app.callback()
def main_options(json_output: bool = typer.Option(False, "--json", help="machine-readable output on stdout"),
                 project_dir: Optional[Path] = typer.Option(None, "--project-dir", help="the Pulumi project")) -> None:
    STATE["json"], STATE["root"] = json_output, project_dir
    try:  # a setting like ACS_RAILWAY_MAX_WAIT=nan is named before any command (adv25: it turned the budget off)
        check_env(dict(os.environ))
    except RailwayApiError as exc:
        fail(str(exc))


def settings_refused(args: list[str]) -> int | None:
    """The exit code when a setting is bad, after saying so (JSON under `--json`); None when all are good."""
    try:
        check_env(dict(os.environ))
    except RailwayApiError as exc:
        STATE["json"] = bool(args) and args[0] == "--json"
        try:
            fail(str(exc))
        except typer.Exit as stop:
            return stop.exit_code
    return None


def root() -> Path:
    return ops.project_dir(str(STATE["root"]) if STATE["root"] else None)


# the engine's output, on stderr; a refusal a provider raised is one line there (infra.ops.engine_stream)
engine_output = EngineStream(lambda text: sys.stderr.write(text))


def emit(payload: dict[str, Any], text: str) -> None:
    if STATE["json"]:
        out.print_json(json.dumps(payload, default=str))
    else:
        out.print(text, markup=False)  # user and config text is printed as written


def fail(message: str, code: int = 1) -> None:
    if STATE["json"]:
        out.print_json(json.dumps({"error": message}))
    err.print(f"[red]error:[/red] {escape(message)}")  # `[a-z]` in a message is text, not markup
    raise typer.Exit(code)


def guarded(fn: Any) -> Any:
    """Turns the known failures into a message and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        waits = ops.LOCK_TIMEOUT.set(kwargs["lock_timeout"]) if "lock_timeout" in kwargs else None
        try:
            _check_stack_names(kwargs)
            return _streamed(fn, *args, **kwargs)
        except ops.LockTimeout as exc:
            fail(str(exc), 3)
        except (ConfigError, RailwayApiError, ReleaseError) as exc:
            fail(str(exc))
        except EngineKilled as exc:
            fail(KILLED_ENGINE.format(what=exc.what, signal=exc.signal_name, stack=_stack_of(kwargs)))
        except ops.auto.CommandError as exc:
            stack = _stack_of(kwargs)
            if "currently locked" in str(exc):  # the backend's own lock: another run, or a killed one
                fail(f"the stack is locked by another run; if none is running (a killed run left its lock), "
                     f"release it with `acs-infra recover {stack}`", 3)
            gone = ops.missing_stack(str(exc))
            if gone:
                fail(gone)
            if TORN_CHECKPOINT.search(str(exc).strip()):  # still torn after retries: a run killed mid-write
                fail(f"the stack's state file was left half-written by a killed run; `acs-infra recover {stack}` "
                     "repairs it from the newest intact copy", 3)
            if UNSAVED_STATE.search(str(exc)):  # the backend (S3 gone, disk full) failed mid-update: adv25 M2
                fail(f"{engine_error(exc)}. The state backend could not be written during the update, so Railway "
                     f"may hold what this run made without its state recording it: once the backend is reachable, "
                     f"`acs-infra recover {stack}` finishes or clears it", 3)
            fail(engine_error(exc))
        finally:
            if waits is not None:  # a command's --lock-timeout holds for every engine run it makes, and no longer
                ops.LOCK_TIMEOUT.reset(waits)
    return wrapper


STACK_ARGUMENTS = ("stack", "stacks", "source", "dest")  # every command's stack arguments, by parameter name


def _check_stack_names(arguments: dict[str, Any]) -> None:
    """One rule for stack names and PR numbers in every command, before any engine call (`up` made it first)."""
    for key in STACK_ARGUMENTS:
        value = arguments.get(key)
        for name in value if isinstance(value, list) else [value] if value is not None else []:
            check_stack_name(name)


def _streamed(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    finally:  # what the engine said comes before the command's own last word
        engine_output.flush()


def _stack_of(arguments: dict[str, Any]) -> str:
    """The stack a command ran on, for the command to type next (`pr` commands take the PR number)."""
    if arguments.get("stack") or arguments.get("dest"):  # a promotion writes its DEST
        return str(arguments.get("stack") or arguments["dest"])
    return f"pr-{arguments['pr']}" if arguments.get("pr") else "<stack>"


# The engine could not write the checkpoint mid-update (Pulumi's words: "failed to save snapshot", a DIY backend's
# "writing snapshot" and "An IO error occurred while writing the new snapshot file").
UNSAVED_STATE = re.compile(r"failed to save snapshot|writing snapshot:|error occurred while writing the new snapshot")
EMPTY_LABEL = re.compile(r"^(stdout|stderr):\s*$")  # CommandError's own labels, said even when nothing follows


# What is not the error: the AWS SDK's warnings an S3 backend prints ("SDK 2026/11/28 03:03:00 WARN Response has no
# supported checksum..."), and a provider's Python traceback (its frames and code lines; the exception line that
# ends it says it all, without its module path).
SDK_NOISE = re.compile(r"SDK \d{4}/\d\d/\d\d \d\d:\d\d:\d\d WARN [^|]*?(?=\berror:|$)")
TRACEBACK = "Traceback (most recent call last):"
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(Error|Exception|Exit|Interrupt)\b")
RAILWAY_EXCEPTION = re.compile(r"\binfra\.railway\.errors\.\w+: ")


def engine_error(exc: Exception) -> str:
    """The engine's error lines; when it said none (an empty stderr), its exit code and last output instead."""
    text = "\n".join(_continued(_without_tracebacks(SDK_NOISE.sub("", str(exc)).splitlines())))
    lines = [RAILWAY_EXCEPTION.sub("", line.strip()) for line in text.splitlines()
             if (line.strip().startswith(("error:", "stderr:")) or "error" in line.lower())
             and not EMPTY_LABEL.match(line.strip())]
    said = [line.strip() for line in text.splitlines() if line.strip() and not EMPTY_LABEL.match(line.strip())]
    return "pulumi failed: " + " | ".join(lines[-4:] if lines else said[-6:] or ["no output"])


def _without_tracebacks(lines: list[str]) -> list[str]:
    """The lines without a Python traceback's frames and code (adv25 m3, adv26 N6: `raise RateLimitedError(...)`
    and `return fn(self, request, context)` were shown as the error); its exception line stays."""
    out: list[str] = []
    inside = False
    for line in lines:
        if TRACEBACK in line:
            head = line.split(TRACEBACK)[0].rstrip()
            out += [head] if head.strip() else []
            inside = True
        elif not inside:
            out.append(line)
        elif EXCEPTION_LINE.match(line.strip()):
            out.append(line)
            inside = False
    return out


def _continued(lines: list[str]) -> list[str]:
    """An error line ending in ':' continues on the lines indented under it (a config error's keys): one line
    each (adv22 B2: the line naming the key was dropped)."""
    out: list[str] = []
    for line in lines:
        head = out[-1] if out else ""
        indent = len(head) - len(head.lstrip())
        if head.rstrip().endswith(":") and "error" in head.lower() and line.strip() and \
                len(line) - len(line.lstrip()) > indent:
            out[-1] = f"{head.rstrip()} {line.strip()}"
        else:
            out.append(line)
    return out


def seconds(option: str, text: str) -> float:
    """A duration given on the command line, in seconds; a bad one names its option."""
    try:
        return parse_duration_ms(text) / 1000
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def describe(changes: dict[str, int]) -> str:
    moved = {k: v for k, v in changes.items() if k != "same"}
    return ", ".join(f"{v} {k}" for k, v in sorted(moved.items())) or "no changes"


def normalise_argv(argv: list[str]) -> list[str]:
    """`--json` is accepted anywhere before `--`, for every command: moved in front of the subcommand."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--json" not in argv[:end]:
        return argv
    return ["--json"] + [a for i, a in enumerate(argv) if not (a == "--json" and i < end)]
