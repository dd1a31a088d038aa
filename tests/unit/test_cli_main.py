"""`acs-infra`'s entry point returns the exit code instead of exiting, and `--json` stands on either side of the
subcommand (a refusal made before any engine or API call, so no stack is needed)."""
from __future__ import annotations

import json

import pytest

from infra.ops.cli import main


@pytest.mark.parametrize("argv", [["--json", "pr", "up", "007"], ["pr", "up", "007", "--json"]])
def test_main_returns_the_exit_code_and_json_on_either_side(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith("PR number: '007'")


def test_a_usage_error_is_exit_2_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up"]) == 2
    assert "Traceback" not in capsys.readouterr().err
