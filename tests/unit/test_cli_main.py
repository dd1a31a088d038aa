"""`acs-infra`'s entry point returns the exit code instead of exiting, and `--json` stands on either side of the
subcommand (a refusal made before any engine or API call, so no stack is needed)."""
from __future__ import annotations

import json

import pytest
import typer

from infra.ops.cli import main


@pytest.mark.parametrize("argv", [["--json", "pr", "up", "007"], ["pr", "up", "007", "--json"]])
def test_main_returns_the_exit_code_and_json_on_either_side(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith("PR number: '007'")


def test_a_usage_error_is_exit_2_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up"]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("engine_text", ["error: the stack is currently locked by 1 lock(s)",
                                         "error: failed to load checkpoint: EOF"])
def test_an_engine_refusal_names_the_stack_to_recover(engine_text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The rerun after a killed run was told `acs-infra recover <stack>` (the placeholder, not the stack's name)
    when the engine, not the runner's lock wait, reported the lock (seen as a flaky e2e failure)."""
    from pulumi.automation import CommandError
    from pulumi.automation._cmd import CommandResult

    from infra.ops.cli.common import guarded

    @guarded
    def command(stack: str) -> None:
        raise CommandError(CommandResult(stdout="", stderr=engine_text, code=255))

    with pytest.raises(typer.Exit) as exit_:
        command(stack="dev")
    assert exit_.value.exit_code == 3
    assert "acs-infra recover dev`" in capsys.readouterr().err
