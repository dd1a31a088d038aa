"""`acs-infra`'s entry point returns the exit code instead of exiting, and `--json` stands on either side of the
subcommand (a refusal made before any engine or API call, so no stack is needed)."""
from __future__ import annotations

import json

import pytest
import typer

from infra.ops.cli import main
from infra.ops.cli.common import STATE


@pytest.fixture(autouse=True)
def fresh_options() -> None:
    """`main` runs in this process: the global options of one test's run must not carry into the next."""
    STATE.update(json=False, root=None)


@pytest.mark.parametrize("argv", [["--json", "pr", "up", "007"], ["pr", "up", "007", "--json"]])
def test_main_returns_the_exit_code_and_json_on_either_side(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith("PR number: '007'")


@pytest.mark.parametrize("argv", [["up"], ["drift", "dev", "--bogus"], ["drift", "--fxi", "dev"], ["--bogus", "status"],
                                  ["pr", "gc", "--bogus"], ["pr", "up", "-5"], ["up", "dev", "--lock-timeout", "x"]])
def test_a_usage_error_is_a_failure_not_a_traceback(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """adv22 B3: click's usage errors exit 2, which is "drift found" for drift and "a preview was kept" for gc:
    a mistyped flag in a scheduled job read as drift. They exit 1, as every other user mistake does."""
    assert main(argv) == 1
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("argv,said", [(["drift", "dev", "--bogus", "--json"], "--bogus"),
                                       (["--json", "--bogus", "drift", "dev"], "--bogus"),  # adv23: before the
                                       (["--json", "bogus"], "bogus"),                       # command, too
                                       (["--json=1", "drift", "dev"], "--json"),
                                       (["--json", "pr"], "missing command: one of up, down, list, gc")])  # adv24
def test_a_usage_error_is_json_with_json(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    """adv22 B3: with --json a usage error left stdout empty; it is the usual {"error": ...}."""
    assert main(argv) == 1
    assert said in json.loads(capsys.readouterr().out)["error"]


@pytest.mark.parametrize("engine_text", ["error: the stack is currently locked by 1 lock(s)",
                                         "error: failed to load checkpoint: EOF",
                                         # adv25 M2: the S3 backend went down mid-`pr up`, after Railway made the fork
                                         "error: post-step event returned an error: failed to save snapshot: "
                                         "PutObject: dial tcp 127.0.0.1:9000: connect: connection refused"])
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


@pytest.mark.parametrize("argv, said", [
    (["drift", "pr-1; rm -rf /"], "a PR stack is named pr-<N>"),
    (["drift", "../dev"], "a stack name is 1-63"),
    (["drift", "dev", "pr-007"], "a PR stack is named pr-<N>"),
    (["drift", "--fix", "pr-0"], "a PR stack is named pr-<N>"),
    (["backup", "dev;x", "--label", "y"], "a stack name is 1-63"),
    (["promote", "dev", "Prod"], "a stack name is 1-63"),
    (["history", "pr-01"], "a PR stack is named pr-<N>"),
    (["monitor", "dev", "--window", "100000d"], "--window: 100000d is longer than a rollout watch may run"),
    (["deploy", "dev", "--image", "ghcr.io/acs-team/acs@sha256:" + "a" * 64, "--monitor", "8d"],
     "--monitor: 8d is longer than a rollout watch may run"),
    (["rollback", "dev", "--service", ""], "--service: give a service name"),
])
def test_every_command_checks_its_arguments_before_any_engine_call(argv: list[str], said: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Adversarial pass 3, B10: `drift`, `backup` and `monitor` skipped the stack-name, PR-number and duration
    rules `up` applies (`drift 'pr-1; rm -rf /'` reached the engine: "organization name must be 'organization'";
    a 100,000-day watch was accepted; `--service ''` meant "no --service")."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert said in err and "organization name" not in err and "Traceback" not in err


def test_an_engine_failure_with_an_empty_stderr_still_says_something() -> None:
    """Session 18: a destroy under load failed with only "pulumi failed: stderr:"; the exit code and the engine's
    last output are what is left to go on."""
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import CommandError

    from infra.ops.cli.common import engine_error
    silent = CommandError(CommandResult(stdout="Destroying (dev)\nResources:\n    5 unchanged\n", stderr="", code=255))
    assert engine_error(silent) == "pulumi failed: code: 255 | stdout: Destroying (dev) | Resources: | 5 unchanged"
    refused = CommandError(CommandResult(stdout="Updating (dev)", stderr="error: the stack is locked\n", code=255))
    assert engine_error(refused) == "pulumi failed: stderr: error: the stack is locked"


CONFIG_ERROR = "invalid stack configuration:\n  acs:environment.variables.LOG_LEVEL: Input should be a valid string"


def test_an_engine_failure_keeps_the_lines_that_name_the_key() -> None:
    """adv22 B2: `up` said "error: invalid stack configuration: | error: an unhandled error occurred: ..." and
    dropped the indented line under it, the one naming the key."""
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import CommandError

    from infra.ops.cli.common import engine_error
    stdout = ("Updating (dev):\n\nDiagnostics:\n  pulumi:pulumi:Stack (acs-dev):\n    error: "
              + CONFIG_ERROR.replace("\n", "\n    ") + "\n\n    error: an unhandled error occurred: Program exited "
              "with non-zero exit code: 1\n\nResources:\n    1 errored\n")
    said = engine_error(CommandError(CommandResult(stdout=stdout, stderr="", code=255)))
    assert "error: invalid stack configuration: acs:environment.variables.LOG_LEVEL: Input should be a valid " \
           "string" in said, said


def test_drift_names_the_programs_own_error_not_its_exit() -> None:
    """adv22 B2: drift's "CHECK FAILED" kept only the program's exit ("an unhandled error occurred: Program exited
    with non-zero exit code: 1"), not the error that named the key."""
    from pulumi.automation.events import DiagnosticEvent, EngineEvent

    from infra.ops.drift import engine_errors
    said = [EngineEvent(1, 0, diagnostic_event=DiagnosticEvent(CONFIG_ERROR, "never", "error")),
            EngineEvent(2, 0, diagnostic_event=DiagnosticEvent(
                "an unhandled error occurred: Program exited with non-zero exit code: 1", "never", "error"))]
    assert engine_errors(said) == " ".join(CONFIG_ERROR.split())


@pytest.mark.parametrize("command", ["destroy", "recover"])
def test_a_stack_file_that_is_not_yaml_is_named_by_destroy_and_recover(command: str, tmp_path, capsys) -> None:
    """adv22 minor 2: `destroy dev` and `recover dev` with a broken Pulumi.dev.yaml printed the engine's raw
    "pulumi failed: stderr: error: getting stack configuration: ..."; `up` and `drift` name the file and line."""
    (tmp_path / "Pulumi.yaml").write_text("name: acs\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  acs:environment: {name: dev\n")
    assert main(["--project-dir", str(tmp_path), command, "dev"]) == 1
    err = capsys.readouterr().err
    assert "Pulumi.dev.yaml line" in err and "not valid YAML" in err and "pulumi failed" not in err, err


@pytest.mark.parametrize("was,now,key", [("LOG_LEVEL: debug", "LOG_LEVEL: 0O17", "acs:environment.variables.LOG_LEVEL"),
                                         ("JWT", "  acs:JWT_SECRET: plain-jwt-value\n", "acs:JWT_SECRET"),
                                         ("JWT", "  acs:JWT_SECRET:\n    secure: notaciphertext\n",  # adv26 N7
                                          "acs:JWT_SECRET: its secure value is not one Pulumi encrypted")],
                         ids=["yaml-1.2-number", "plain-secret", "not-a-ciphertext"])
def test_destroy_refuses_a_stack_file_up_refuses(was: str, now: str, key: str, tmp_path, capsys,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """adv24 B2: with `LOG_LEVEL: 0O17` or a plain-text secret in Pulumi.dev.yaml, `destroy dev` made 8 API calls
    and destroyed dev, where every other command names the key first. It is refused before any engine call too."""
    import re
    from pathlib import Path

    from infra.ops.cli import stacks
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "Pulumi.dev.yaml").read_text()
    if was == "JWT":
        text = re.sub(r"  acs:JWT_SECRET:\n    secure: \S+\n", now, text)
    else:
        text = text.replace(was, now, 1)
    assert now in text
    (tmp_path / "Pulumi.yaml").write_text("name: acs\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    monkeypatch.setattr(stacks, "_protected_resources", lambda stack: pytest.fail("the engine was called"))
    assert main(["--project-dir", str(tmp_path), "destroy", "dev"]) == 1
    err = capsys.readouterr().err
    assert key in err and "plain-jwt-value" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("name,value", [("ACS_RAILWAY_MAX_WAIT", "nan"), ("ACS_RAILWAY_MAX_WAIT", "inf"),
                                        ("ACS_RAILWAY_MAX_WAIT", "abc"), ("ACS_RAILWAY_MAX_WAIT", "-1"),
                                        ("ACS_RAILWAY_RPS", "0"), ("ACS_RAILWAY_TIMEOUT", "-inf"),
                                        ("ACS_ENGINE_GRACE_SECONDS", "NaN"), ("ACS_ENGINE_GRACE_SECONDS", "abc"),
                                        ("ACS_RAILWAY_TIMEOUT", "1e300"), ("ACS_RAILWAY_RPS", "1e-300")])  # adv26
def test_a_numeric_setting_is_checked_before_any_command(name: str, value: str, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """adv25: `ACS_RAILWAY_MAX_WAIT=nan` turned the hourly-budget check off (a NaN wait compares false), `inf`
    was taken, `abc` ended `pr up` in a traceback. Every numeric setting is named, with what it may be, first."""
    monkeypatch.setenv(name, value)
    assert main(["--json", "status"]) == 1
    said = json.loads(capsys.readouterr().out)["error"]
    assert said.startswith(f"{name}={value!r} is not allowed: give a number"), said


def test_a_bad_grace_setting_does_not_end_the_program_at_import() -> None:
    """adv26 N3: `ACS_ENGINE_GRACE_SECONDS=abc` ended every command, `--help` too, in a traceback: the engine guard
    read it when imported. It reads a bad one as the default; the CLI names it before any command."""
    from infra.ops.engine_guard import _grace
    assert [_grace(v) for v in ("abc", "0x10", "nan", "1e300", "-1", None, "0", "2.5")] == [10, 10, 10, 10, 10, 10, 0, 2.5]


def test_the_budget_wait_takes_only_a_finite_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget check reads the same rule where it runs (a provider or a library call skips the CLI)."""
    from infra.ops import budget
    from infra.railway.errors import SettingError
    monkeypatch.setenv("ACS_RAILWAY_MAX_WAIT", "nan")
    monkeypatch.setattr(budget, "verify_token", lambda: pytest.fail("the budget was read"))
    with pytest.raises(SettingError, match="ACS_RAILWAY_MAX_WAIT='nan'"):
        budget.ensure("pr-15", 25)


def test_an_engine_error_is_the_error_not_sdk_noise_or_python_internals() -> None:
    """adv25 m3/m5: a 429 that failed a run was shown as "raise RateLimitedError(...) | infra.railway.errors.
    RateLimitedError: ...", and an S3 backend's SDK warnings were put before the error."""
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import CommandError

    from infra.ops.cli.common import engine_error
    provider = ("Updating (pr-22):\n    error: Exception calling application: Traceback (most recent call last):\n"
                '      File "/x/infra/railway/client.py", line 240, in mutate\n'
                "        raise RateLimitedError(self._too_long(retry_after), operation, retry_after)\n"
                "    infra.railway.errors.RateLimitedError: EnvironmentFork: Railway ran nothing: the token's hourly "
                "API budget is spent\n")
    said = engine_error(CommandError(CommandResult(stdout=provider, stderr="", code=255)))
    assert "raise " not in said and "infra.railway.errors" not in said and "File " not in said, said
    assert "EnvironmentFork: Railway ran nothing: the token's hourly API budget is spent" in said, said
    grpc = ("Updating (dev):\n    error: Exception calling application: Traceback (most recent call last):\n"
            '      File "/v/grpc/_server.py", line 1, in _call_behavior\n'
            "        response_or_iterator = behavior(argument, context)\n"
            '      File "/v/pulumi/dynamic/__main__.py", line 2, in Create\n        return fn(self, request, context)\n'
            "    infra.railway.errors.ApiUnavailableError: ServiceCreate: Railway answered 503 three times\n")
    said = engine_error(CommandError(CommandResult(stdout=grpc, stderr="", code=255)))  # adv26 N6
    assert "return fn" not in said and "File " not in said and "infra.railway" not in said, said
    assert said.endswith("ServiceCreate: Railway answered 503 three times"), said
    noisy = ("SDK 2026/11/28 03:03:00 WARN Response has no supported checksum. Not validating response payload.\n"
             "error: could not create secrets manager for new stack: incorrect passphrase\n")
    said = engine_error(CommandError(CommandResult(stdout="", stderr=noisy, code=255)))
    assert said == "pulumi failed: stderr: error: could not create secrets manager for new stack: incorrect " \
                   "passphrase", said


def test_the_project_is_found_from_the_current_directory(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """adv25 m4: a runner's clone that shares another clone's virtualenv ran `acs-infra up dev` on the other clone's
    stack files (the package's directory came first). As `pulumi` does: the nearest Pulumi.yaml up from here."""
    from pathlib import Path

    from infra.config import ConfigError
    from infra.ops.automation import project_dir
    monkeypatch.delenv("ACS_PROJECT_DIR", raising=False)
    (tmp_path / "Pulumi.yaml").write_text("name: acs\nruntime: python\n")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    assert project_dir() == tmp_path
    monkeypatch.chdir("/")
    assert project_dir() == Path(__file__).resolve().parents[2]  # no project here: the package's own
    assert project_dir(str(tmp_path)) == tmp_path
    other = tmp_path / "other"
    other.mkdir()
    (other / "Pulumi.yaml").write_text("name: billing\nruntime: go\n")
    monkeypatch.chdir(other)
    with pytest.raises(ConfigError, match="is the project 'billing', not 'acs'"):  # adv26: another project's files
        project_dir()
