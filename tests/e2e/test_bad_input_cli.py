"""Issue 14 items 9, 10, 12, 13 through `acs-infra` and `pulumi` themselves (real engine, emulator over HTTP):
bad input stops before a stack exists or an API call is made, and never ends in a traceback."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from infra.ops.engine_command import GUARD, KILLED_ENGINE, marked
from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_drift_during_up import wait_for_hold

pytestmark = pytest.mark.e2e
# dev's encrypted JWT_SECRET as the committed stack file holds it (a test stores it as plain text instead)
JWT_BLOCK = re.search(r"  acs:JWT_SECRET:\n    secure: \S+\n",
                      (Path(__file__).resolve().parents[2] / "Pulumi.dev.yaml").read_text()).group(0)


def acs(project: PulumiProject, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "infra", "--project-dir", str(project.dir), *args],
                          env={**project.env, **(env or {})}, capture_output=True, text=True, timeout=600)
    project.log.append(f"$ acs-infra {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    return proc


def stacks(project: PulumiProject) -> list[str]:
    return [s["name"] for s in json.loads(project.run("stack", "ls", "--json").stdout)]


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text


@pytest.mark.parametrize("content", ["", "config:\n"])
def test_empty_stack_file_is_refused_and_leaves_no_stack(content: str, project: PulumiProject,
                                                         emulator: Emulator) -> None:
    """Issue 14 item 9: an empty stack file gave an AttributeError traceback and left an empty stack behind."""
    (project.dir / "Pulumi.staging.yaml").write_text(content)
    proc = acs(project, "up", "staging")
    assert proc.returncode == 1 and "acs:environment: missing" in proc.stderr, proc.stderr
    no_traceback(proc)
    assert "staging" not in stacks(project)
    assert emulator.stats()["total"] == 0


def test_program_without_any_config_gets_a_clear_error(project: PulumiProject, emulator: Emulator) -> None:
    """Issue 14 item 9: `pulumi up` of a stack with no config at all (the language host hands the program the JSON
    text `null`) names the missing key instead of a traceback, before any API call."""
    project.run("stack", "init", "staging")
    (project.dir / "Pulumi.staging.yaml").unlink(missing_ok=True)
    proc = project.run("up", "--yes", "--skip-preview", stack="staging", check=False)
    assert proc.returncode != 0
    assert "acs:environment: missing" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "AttributeError" not in proc.stdout + proc.stderr
    assert emulator.stats()["total"] == 0


@pytest.mark.parametrize("args", [("up", "pr-99999999"), ("pr", "up", "0"), ("up", "pr-007"), ("pr", "up", "007"),
                                  ("up", "pr-1; rm -rf /"), ("pr", "down", "99999999")])
def test_one_rule_for_pr_numbers_before_any_stack(args: tuple[str, ...], project: PulumiProject,
                                                  emulator: Emulator) -> None:
    """Issue 14 item 10: out-of-rule PR stacks were created (and listed by `pr list`, or a traceback, or "organization
    name must be 'organization'"); now every command refuses them with the one rule, before a stack exists."""
    proc = acs(project, *args)
    assert proc.returncode == 1 and "a PR number from 1 to 9999999 without leading zeros" in proc.stderr, proc.stderr
    no_traceback(proc)
    assert stacks(project) == []
    assert json.loads(acs(project, "--json", "pr", "list").stdout) == []
    assert emulator.stats()["total"] == 0


def test_cli_mistakes_end_in_a_message_not_a_traceback(project: PulumiProject, emulator: Emulator) -> None:
    """Issue 14 item 12: `pr gc --open 1,a`, `monitor dev --window abc` and `pr up 8` without a token each end in
    one line naming the problem (exit 1), and `pr up 8` leaves no empty `pr-8` behind."""
    gc = acs(project, "pr", "gc", "--open", "1,a")
    assert gc.returncode == 1 and "--open: 'a' is not a PR number" in gc.stderr, gc.stderr
    monitor = acs(project, "monitor", "dev", "--window", "abc")
    assert monitor.returncode == 1 and "--window: 'abc' is not a duration" in monitor.stderr, monitor.stderr
    no_token = acs(project, "pr", "up", "8", env={"RAILWAY_API_TOKEN": "", "RAILWAY_TOKEN": ""})
    assert no_token.returncode == 1 and "no Railway token" in no_token.stderr, no_token.stderr
    for proc in (gc, monitor, no_token):
        no_traceback(proc)
    assert stacks(project) == [] and emulator.stats()["total"] == 0


def test_json_is_accepted_after_the_subcommand(project: PulumiProject) -> None:
    """Issue 14 item 12: `drift dev --json` was refused; `--json` now goes before or after the subcommand."""
    for args in (("drift", "dev", "--json"), ("--json", "drift", "dev"), ("pr", "list", "--json"),
                 ("pr", "gc", "--open", "x", "--json")):
        proc = acs(project, *args)
        assert "No such option" not in proc.stderr, proc.stderr
        payload: Any = json.loads(proc.stdout)
        assert isinstance(payload, (list, dict)), proc.stdout
    assert json.loads(acs(project, "pr", "gc", "--open", "x", "--json").stdout)["error"].startswith("--open")


def _set_variable(emulator: Emulator, out: dict[str, Any], name: str, value: str) -> None:
    emulator.data("mutation($i:VariableUpsertInput!){ variableUpsert(input:$i) }",
                  i={"projectId": out["projectId"], "environmentId": out["environmentId"],
                     "serviceId": out["serviceIds"]["web"], "name": name, "value": value, "skipDeploys": True})


def test_drift_reports_never_show_secret_or_undeclared_values(project: PulumiProject, emulator: Emulator) -> None:
    """Issue 14 item 13: an out-of-band STRIPE_KEY was printed verbatim, and a changed JWT_SECRET went unmentioned
    when another field drifted too. Every report format is checked for the values (grep), and for the names."""
    project.up("dev")
    out = project.outputs("dev")
    stripe, jwt = "sk_live_51HxAbCdEfGhIjKlMnOp", "stolen-and-replaced-jwt"
    _set_variable(emulator, out, "STRIPE_KEY", stripe)
    _set_variable(emulator, out, "JWT_SECRET", jwt)
    _set_variable(emulator, out, "LOG_LEVEL", "warn")
    reports = [acs(project, "drift", "dev"), acs(project, "drift", "dev", "--json"),
               acs(project, "drift", "dev", "--markdown")]
    for proc in reports:
        assert proc.returncode == 2, proc.stdout + proc.stderr
        text = proc.stdout + proc.stderr
        assert stripe not in text and "sk_live" not in text and jwt not in text, text
        assert "STRIPE_KEY" in text and "JWT_SECRET" in text and "LOG_LEVEL" in text, text
    assert "variables.LOG_LEVEL: declared debug, live warn" in reports[0].stdout


def _marked(mark: str) -> list[int]:
    """Live processes (not zombies) whose environment carries this test's mark: the CLI and all it started."""
    return marked(mark, "ACS_TEST_RUN")


def _wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds}s waiting for: {what}"
        time.sleep(0.2)


def _held_up(project: PulumiProject, emulator: Emulator, env: dict[str, str], **popen: Any) -> subprocess.Popen[Any]:
    """`acs-infra up dev` caught mid-update: Railway has made the first of dev's services and holds the answer, so
    a signal sent now lands while the engine runs. (Waiting for a write count instead raced a fast up: on a fresh
    clone the whole up ended before the signal, and the Ctrl-C test found no "interrupted" line.)"""
    emulator.admin("/faults", {"hold_after_next": {"ServiceCreate": 1}, "timeout_seconds": 600})
    run = subprocess.Popen([sys.executable, "-m", "infra", "--project-dir", str(project.dir), "up", "dev"], env=env,
                           preexec_fn=_as_a_step, **popen)
    wait_for_hold(emulator, run)
    return run


def _as_a_step() -> None:
    """The run starts as a terminal's or a CI step's command does: Ctrl-C delivered. A suite started in the
    background of a non-interactive shell (`bash -c 'pytest ... &'`) has SIGINT ignored, and every child inherits
    that: the Ctrl-C test then failed every time (two fresh-clone runs started that way), the up running to its end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _let_go(emulator: Emulator) -> None:
    """The held answer goes out (to a run that may be gone); the fault is proven to have happened."""
    emulator.admin("/faults/release", {})
    assert emulator.stats()["faults"].get("hold_after") == 1, emulator.stats()["faults"]


def _end_marked(mark: str, emulator: Emulator) -> None:
    """A failing test leaves none of its processes, and no held answer, behind."""
    emulator.admin("/faults/release", {})
    for pid in _marked(mark):
        os.kill(pid, signal.SIGKILL)


def _engine(mark: str) -> int:
    """The `pulumi up` process of the marked run."""
    for pid in _marked(mark):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if Path(argv[0].decode()).name == "pulumi" and b"up" in argv:
            return pid
    raise AssertionError("no engine process found")


@pytest.mark.parametrize("victim", ["engine", "cli", "group"])
def test_sigkilled_run_leaves_nothing_running_and_the_rerun_reports_the_lock(victim: str, project: PulumiProject,
                                                                             emulator: Emulator) -> None:
    """Issue 14 item 12: after `kill -9` of a run's engine, its language host and dynamic provider kept running (the
    `engine` case fails on the old code), and the rerun reported the lock with exit 1. Now every process of the
    killed run ends (also when the CLI itself is killed), the rerun exits 3 naming `acs-infra recover`, and
    recover converges."""
    mark = uuid.uuid4().hex
    env = {**project.env, "ACS_TEST_RUN": mark, "ACS_ENGINE_GRACE_SECONDS": "0"}  # no grace: the lock stays
    run = _held_up(project, emulator, env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                   start_new_session=victim == "group")  # its own group, as a CI runner's step
    try:
        assert len(_marked(mark)) >= 4, "the CLI, the engine and its plugins are running"
        if victim == "group":  # adv15 B9: a cancelled CI step kills the whole process group at once
            os.killpg(run.pid, signal.SIGKILL)
        else:
            os.kill(_engine(mark) if victim == "engine" else run.pid, signal.SIGKILL)
        _let_go(emulator)
        code = run.wait(300)
        said = run.stderr.read() if run.stderr else ""
        assert code == (1 if victim == "engine" else -signal.SIGKILL), said
        if victim == "engine":  # adv20 B2: it said "pulumi failed: code: 247 | stdout: ..." and no way out
            assert said.strip().splitlines()[-1] == "error: " + KILLED_ENGINE.format(
                what="pulumi", signal="SIGKILL", stack="dev"), said
        _wait_until(lambda: not _marked(mark), 60, "every process of the killed run to end")
    finally:  # a failing test leaves none of its processes behind either
        _end_marked(mark, emulator)
    # The kill lands at a random point: the rerun finds the dead run's lock, or (killed while writing the
    # checkpoint) a half-written state file. Both must name the same way out (the flake: the second said
    # `acs-infra recover <stack>`); test_half_written_state_names_the_stack_to_recover holds that path every time.
    rerun = acs(project, "up", "dev", "--lock-timeout", "1")
    assert rerun.returncode == 3, rerun.stderr
    assert "acs-infra recover dev" in rerun.stderr and "Traceback" not in rerun.stderr
    assert acs(project, "recover", "dev").returncode == 0
    assert acs(project, "up", "dev").returncode == 0


def test_half_written_state_names_the_stack_to_recover(project: PulumiProject) -> None:
    """The flake of the kill test above, made deterministic: a kill while the file backend rewrites the checkpoint's
    `.attrs` sidecar leaves it empty ("failed to load checkpoint: EOF"). The rerun said `acs-infra recover <stack>`;
    it names the stack, exit 3, as the lock case does."""
    project.up("dev")
    (project.dir.parent / "state/.pulumi/stacks/acs/dev.json.attrs").write_text("")
    proc = acs(project, "up", "dev")
    assert proc.returncode == 3 and "`acs-infra recover dev`" in proc.stderr, proc.stderr
    no_traceback(proc)


@pytest.mark.parametrize("content", ["config: [\n", "config:\n  acs:environment: {name: dev\n", "a: b: c\n"])
def test_unparseable_stack_file_is_one_line_and_leaves_no_stack(content: str, project: PulumiProject,
                                                               emulator: Emulator) -> None:
    """Tester break: a stack file PyYAML cannot parse gave a ParserError/ScannerError traceback; now one line naming
    the file and the line, exit 1, before any stack or API call."""
    (project.dir / "Pulumi.dev.yaml").write_text(content)
    proc = acs(project, "up", "dev")
    assert proc.returncode == 1, proc.stderr
    assert "Pulumi.dev.yaml line " in proc.stderr and "not valid YAML" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    no_traceback(proc)
    assert stacks(project) == [] and emulator.stats()["total"] == 0


@pytest.mark.parametrize("args", [("pr", "up", "13"), ("up", "prod"), ("up", "dev")])
@pytest.mark.parametrize("variable", ["RAILWAY_API_TOKEN", "RAILWAY_TOKEN"])
def test_wrong_token_is_one_line_and_leaves_no_stack(args: tuple[str, ...], variable: str, project: PulumiProject,
                                                     emulator: Emulator) -> None:
    """Tester break: a wrong or revoked token ended in three tracebacks (`EnvironmentFork: Not Authorized`) and left
    the stack (and pr-13's stack file) behind. Now one read checks the token before a stack is created: one line,
    exit 1, no stack, no file; the token itself is never printed."""
    wrong = "wrong-" + uuid.uuid4().hex
    env = {"RAILWAY_API_TOKEN": "", "RAILWAY_TOKEN": "", variable: wrong}
    proc = acs(project, *args, env=env)
    assert proc.returncode == 1, proc.stderr
    assert f"Railway refused the token in {variable}" in proc.stderr and "Not Authorized" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    no_traceback(proc)
    assert wrong not in proc.stdout + proc.stderr
    read = "TokenProjects" if variable == "RAILWAY_API_TOKEN" else "ProjectTokenScope"
    assert emulator.stats()["by_operation"] == {read: 1}, emulator.stats()  # the one refused read was made
    assert stacks(project) == [] and not (project.dir / "Pulumi.pr-13.yaml").exists()
    assert json.loads(acs(project, "--json", "pr", "list").stdout) == []


def test_pr_up_without_a_dev_environment_is_one_line_and_leaves_no_stack(project: PulumiProject,
                                                                        emulator: Emulator) -> None:
    """Adversarial pass on issue 14: after `destroy dev` (the dev stack stays, empty) `pr up 22` ended in
    `KeyError: 'environmentId'` and left `pr-22` in `pr list`. A preview is a fork of dev's environment: without
    one it is refused in one line before its stack exists, and nothing is written to Railway."""
    project.up("dev")
    acs(project, "destroy", "dev")
    emulator.reset_stats()
    proc = acs(project, "pr", "up", "22")
    assert proc.returncode == 1 and "acs-infra up dev" in proc.stderr, proc.stdout + proc.stderr
    no_traceback(proc)
    assert "pr-22" not in stacks(project) and not (project.dir / "Pulumi.pr-22.yaml").exists()
    assert emulator.stats()["write_total"] == 0


def _edit_dev(project: PulumiProject, old: str, new: str) -> None:
    path = project.dir / "Pulumi.dev.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_config_errors_are_printed_literally(project: PulumiProject, emulator: Emulator) -> None:
    """Adversarial pass on issue 14: `fail()` printed through rich markup, so a service-name pattern error lost its
    `[a-z]` classes (and a `[/...]` in a stack name ended in a MarkupError traceback). Printed as written now."""
    _edit_dev(project, "- name: web", "- name: Web")
    proc = acs(project, "up", "dev")
    assert proc.returncode == 1 and "acs:environment.services[0].name" in proc.stderr, proc.stderr
    assert "'^[a-z][a-z0-9-]{0,31}$'" in proc.stderr, proc.stderr
    odd = acs(project, "up", "x[/red]")
    assert odd.returncode == 1 and "stack 'x[/red]'" in odd.stderr, odd.stderr
    for p in (proc, odd):
        no_traceback(p)
    assert stacks(project) == [] and emulator.stats()["total"] == 0


def test_unset_secret_is_named_with_the_way_to_set_it(project: PulumiProject, emulator: Emulator) -> None:
    """Adversarial pass on issue 14: a secret listed in acs:environment.secrets but never set failed without naming
    the key. Now one message names acs:JWT_SECRET and the command that sets it, before a stack or API call."""
    path = project.dir / "Pulumi.dev.yaml"
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("  acs:JWT_SECRET:"))
    path.write_text("".join(lines[:at] + lines[at + 2:]))  # the key and its `secure:` line
    proc = acs(project, "up", "dev")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "acs:JWT_SECRET" in proc.stderr and "pulumi config set --secret acs:JWT_SECRET" in proc.stderr, proc.stderr
    no_traceback(proc)
    assert stacks(project) == [] and emulator.stats()["total"] == 0


@pytest.mark.parametrize("age", ["0d", "0h", "0m"])
def test_pr_gc_refuses_a_zero_max_age(age: str, project: PulumiProject, emulator: Emulator) -> None:
    """Adversarial pass on issue 14: `pr gc --max-age 0d` was accepted and treats every preview as expired."""
    proc = acs(project, "pr", "gc", "--max-age", age)
    assert proc.returncode == 1 and f"--max-age: '{age}'" in proc.stderr and "positive" in proc.stderr, proc.stderr
    no_traceback(proc)
    assert emulator.stats()["total"] == 0


def test_secret_referencing_an_undeclared_service_is_refused_before_any_write(project: PulumiProject,
                                                                              emulator: Emulator) -> None:
    """adv14c B3: `pulumi config set --secret acs:JWT_SECRET 'TOPSECRET-${{Foo.BAR}}-tail'` was applied and
    Railway rendered the secret empty in the middle. Now the program refuses it before any resource, naming the key
    and the service; the value is never printed (grep), and Railway is asked nothing but the token check."""
    project.run("stack", "select", "--create", "dev")
    project.run("config", "set", "--secret", "acs:JWT_SECRET", "TOPSECRET-${{Foo.BAR}}-tail", stack="dev")
    emulator.reset_stats()
    proc = acs(project, "up", "dev")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert "acs:JWT_SECRET" in text and "'Foo'" in text and "TOPSECRET" not in text and "-tail" not in text, text
    no_traceback(proc)
    stats = emulator.stats()
    assert stats["write_total"] == 0 and set(stats["by_operation"]) <= {"TokenProjects"}, stats


def test_a_stack_that_does_not_exist_is_named_in_one_line(project: PulumiProject, emulator: Emulator) -> None:
    """adv15 B10: `recover 76` and `recover foo` ended in "pulumi failed: stderr: error: no stack named '76'
    found" (and so did a `pr up` whose stack a concurrent `pr down` removed). One line naming the stack, exit 1,
    no API call."""
    for name in ("76", "foo"):
        proc = acs(project, "recover", name)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stderr.startswith(f"error: no stack named {name} in this backend"), proc.stderr
        assert "pulumi failed" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        no_traceback(proc)
    assert emulator.stats()["total"] == 0, emulator.stats()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["cancelled CI step", "Ctrl-C"])
def test_a_cancelled_ci_step_releases_the_lock_within_the_grace(sig: int, project: PulumiProject,
                                                                emulator: Emulator, tmp_path: Path) -> None:
    """adv16b N5: a whole-group SIGKILL (a cancelled CI step) left the stack locked, though the engine gets a grace
    period to cancel: it got SIGTERM, which it does not handle (it ended on the spot), and its output pipe to the
    dead CLI would have killed it mid-cancel anyway. Now it gets SIGINT and the guard drains its output: the lock
    is released and the next run needs no `recover`. Session 19's CI: the guard's wait for the engine ran in its
    signal handler, could not reap it, and left pending operations 1 run in 4. adv20 B1: Ctrl-C (SIGINT to the
    CLI's group) ended in a traceback of Pulumi's output reader; it ends in one line, exit 130."""
    mark = uuid.uuid4().hex
    env = {**project.env, "ACS_TEST_RUN": mark, "ACS_ENGINE_GRACE_SECONDS": "300"}  # ample on a loaded host
    with open(tmp_path / "stderr", "w") as err:
        run = _held_up(project, emulator, env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        os.killpg(run.pid, sig)
        _let_go(emulator)
        code = run.wait(300)
        _wait_until(lambda: not _marked(mark), 330, "the engine to cancel and end")
    finally:
        _end_marked(mark, emulator)
    said = (tmp_path / "stderr").read_text()
    if sig == signal.SIGINT:
        assert code == 130 and "Traceback" not in said, said
        assert said.strip().splitlines()[-1].startswith("interrupted: the engine cancels"), said
    rerun = acs(project, "up", "dev", "--lock-timeout", "1")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr


def test_a_killed_runs_lock_on_a_preview_stops_the_wait_at_once(project: PulumiProject) -> None:
    """adv20 B3: after a killed `pr up`, the next `pr up` said "locked by another run ... waiting" and waited (the
    whole --lock-timeout when short) on a lock whose run this host no longer runs; `up dev` stopped at once."""
    project.run("stack", "init", "pr-5")
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no process has now: the killed run's
    folder = project.dir.parent / "state" / ".pulumi" / "locks" / "organization" / "acs" / "pr-5"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{uuid.uuid4()}.json").write_text(json.dumps({  # what the engine writes, and a killed one leaves
        "pid": gone.pid, "username": "ci", "hostname": socket.gethostname(), "timestamp": "2026-11-27T10:00:00Z"}))
    proc = acs(project, "pr", "down", "5", "--lock-timeout", "120")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "waiting" not in proc.stderr and "`acs-infra recover pr-5`" in proc.stderr, proc.stderr
    no_traceback(proc)


@pytest.mark.parametrize("was,now,said", [
    ("memory: 512MB", "memory: 1.1GB", "acs:environment.services[0].memory: '1.1GB' is 1126.4 MB (1 GB = 1024 "
                                       "MB); it must be a whole number of MB"),
    ("LOG_LEVEL: debug", "LOG_LEVEL: 1e3", "acs:environment.variables.LOG_LEVEL"),  # adv22 B2: 1000 to the engine
    (JWT_BLOCK, "  acs:JWT_SECRET: plain-jwt-value\n", "acs:JWT_SECRET"),  # adv22 B2: stored as plain text
], ids=["size", "yaml-1.2-number", "plain-secret"])
def test_drift_names_a_bad_value_before_any_call(was: str, now: str, said: str, project: PulumiProject,
                                                 emulator: Emulator) -> None:
    """adv18 break 3: `drift` of a stack file with `memory: 1.1GB` read Railway, then failed with "Program exited
    with non-zero exit code: 1". It is refused as `up` refuses it: the key and the rule, no API call."""
    dev = project.dir / "Pulumi.dev.yaml"
    assert was in dev.read_text()
    dev.write_text(dev.read_text().replace(was, now, 1))
    proc = acs(project, "drift", "dev")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert said in proc.stdout and "plain-jwt-value" not in proc.stdout + proc.stderr, proc.stdout
    no_traceback(proc)
    assert emulator.stats()["total"] == 0, emulator.stats()


@pytest.mark.parametrize("command", ["deploy", "recover"])
def test_a_plain_secret_stops_deploy_and_recover_before_any_call(command: str, project: PulumiProject,
                                                                 emulator: Emulator) -> None:
    """adv23 B2: with a secret stored as plain text, `deploy dev` (1 call) and `recover dev` (2 calls) reached
    Railway before the engine refused the program; `up` and `drift` refuse it first. So do they."""
    dev = project.dir / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace(JWT_BLOCK, "  acs:JWT_SECRET: plain-jwt-value\n"))
    assert "plain-jwt-value" in dev.read_text()
    if command == "recover":  # a stack to recover (no API call): one that does not exist is named as such
        project.run("stack", "init", "dev")
    proc = acs(project, command, "dev")
    assert proc.returncode == 1 and "acs:JWT_SECRET" in proc.stderr, proc.stdout + proc.stderr
    assert "plain-jwt-value" not in proc.stdout + proc.stderr
    no_traceback(proc)
    assert emulator.stats()["total"] == 0, emulator.stats()


def test_a_mistyped_stack_name_is_an_error_not_an_empty_success(project: PulumiProject, emulator: Emulator) -> None:
    """adv18 break 4: `status --stack prdo` printed an empty board and `destroy prdo` said "absent", both exit 0:
    a typo in CI passed. Both name the stack and exit 1, with no API call."""
    status = acs(project, "--json", "status", "--stack", "prdo")
    assert status.returncode == 1 and "no stack named prdo" in status.stderr, status.stdout + status.stderr
    destroy = acs(project, "destroy", "prdo")
    assert destroy.returncode == 1 and "no stack named prdo" in destroy.stderr, destroy.stdout + destroy.stderr
    for proc in (status, destroy):
        no_traceback(proc)
    assert emulator.stats()["total"] == 0, emulator.stats()


def test_drift_of_a_stack_not_in_the_backend_says_so_in_its_own_words(project: PulumiProject,
                                                                       emulator: Emulator) -> None:
    """adv18b A: `drift dev` with Pulumi.dev.yaml but no dev stack printed the engine's raw "stderr: error: no
    stack named 'dev' found", where `status`, `recover` and `destroy` name the stack in one checked line."""
    proc = acs(project, "drift", "dev")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "dev: CHECK FAILED: no stack named dev in this backend" in proc.stdout, proc.stdout
    assert "stderr:" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    no_traceback(proc)
    assert emulator.stats()["total"] == 0, emulator.stats()


def test_a_killed_engine_guard_leaves_nothing_running(project: PulumiProject, emulator: Emulator) -> None:
    """adv18b B: `kill -9` of the engine guard alone (an OOM kill, a stray `kill`) left the run's language host
    and dynamic providers running for good: they were the guard's to end. acs-infra ends them when the guard
    ends, whatever ended it."""
    mark = uuid.uuid4().hex
    run = _held_up(project, emulator, {**project.env, "ACS_TEST_RUN": mark}, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, text=True)
    try:
        guards = [pid for pid in _marked(mark) if GUARD.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(guards) == 1, [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in guards]
        plugins = [pid for pid in _marked(mark) if pid not in (run.pid, guards[0])]
        assert plugins, "the engine, its language host and providers run"
        os.kill(guards[0], signal.SIGKILL)
        _let_go(emulator)
        _, err = run.communicate(timeout=300)
        assert run.returncode == 1 and err.strip().splitlines()[-1] == "error: " + KILLED_ENGINE.format(
            what="the engine guard", signal="SIGKILL", stack="dev"), err  # adv20 B2: "pulumi failed: code: -9 |"
        assert _marked(mark) == [], [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in _marked(mark)]
    finally:
        _end_marked(mark, emulator)


@pytest.mark.parametrize("flag", [[], ["--json"]])
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(project: PulumiProject, flag: list[str]) -> None:
    """Session 19 (noticed): `acs-infra --json status >/dev/full` ended in an OSError traceback. One line on stderr,
    exit 1; a reader that left (a closed pipe) gets no word at all."""
    command = [sys.executable, "-m", "infra", *flag, "--project-dir", str(project.dir), "status"]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(command, env=project.env, stdout=full, stderr=subprocess.PIPE, text=True, timeout=600)
    assert proc.returncode == 1 and proc.stderr == "error: the output could not be written: No space left on " \
        "device\n", proc.stderr
    reader, writer = os.pipe()
    os.close(reader)
    with os.fdopen(writer, "w") as gone:
        proc = subprocess.run(command, env=project.env, stdout=gone, stderr=subprocess.PIPE, text=True, timeout=600)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
