"""A release's records and the board say what Railway runs (adversarial issue 16: B1, B2, B3, B5): a rollback
never returns to a rejected release nor forward to the one it left, a pinned image that does not run is deployed,
interleaved releases do not credit each other's deployment, and the board flags a live image that is not the pin."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.conftest import Emulator, PulumiProject, kill_engine, kill_while_held
from tests.e2e.test_pr_previews import cli
from tests.e2e.test_versions import REPO, A, B, health, running

pytestmark = pytest.mark.e2e

C = f"{REPO}@sha256:{'c' * 64}"
DEPLOYS = "query($p:String!,$s:String!){ deployments(first:20, input:{projectId:$p, serviceId:$s}){ edges { node { id status meta } } } }"


def deployments(emulator: Emulator, out: dict[str, Any]) -> list[dict[str, Any]]:
    """Railway's word only: polling the state while an engine rewrites it could read a torn checkpoint."""
    data = emulator.data(DEPLOYS, p=out["projectId"], s=out["serviceIds"]["web"])
    return [e["node"] for e in data["deployments"]["edges"]]


def test_rollback_never_returns_to_a_rejected_release_nor_forward(project: PulumiProject, emulator: Emulator) -> None:
    cli(project, "deploy", "dev", "--image", A)
    web = project.outputs("dev")["serviceIds"]["web"]
    emulator.admin(f"/services/{web}/behaviour", {"healthy": False})
    bad = cli(project, "deploy", "dev", "--image", B, "--health-timeout", "1", check=False)
    assert bad.returncode == 1 and running(emulator, project, "dev")["image"] == A, bad.stderr
    emulator.admin(f"/services/{web}/behaviour", {"healthy": True})
    refused = cli(project, "rollback", "dev", check=False)
    assert refused.returncode == 1 and "no earlier healthy release" in refused.stderr, refused.stdout + refused.stderr
    assert running(emulator, project, "dev")["image"] == A, "B was rejected: never deployed again"

    cli(project, "deploy", "dev", "--image", C)
    done = json.loads(cli(project, "rollback", "dev").stdout)
    assert done["image"] == A and running(emulator, project, "dev")["image"] == A
    left = [r for r in json.loads(cli(project, "history", "dev").stdout)["releases"] if r["image"] == C][-1]
    assert (left["outcome"], left["rolled_back_to"]) == ("rolled back", A), left
    again = cli(project, "rollback", "dev", check=False)
    assert again.returncode == 1 and "no earlier healthy release" in again.stderr, again.stdout + again.stderr
    assert running(emulator, project, "dev")["image"] == A, "never forward to the release it just left"


def test_a_pinned_image_that_does_not_run_is_deployed(project: PulumiProject, emulator: Emulator) -> None:
    """A release killed right after the source update pins C without a deployment of it: the board says so,
    recover closes the killed run's record as interrupted (never `in progress` forever), and the re-run deploys C
    and takes that record over."""
    cli(project, "deploy", "dev", "--image", A)
    web = project.outputs("dev")["serviceIds"]["web"]
    env_id = project.outputs("dev")["environmentId"]
    source = "query($s:String!,$e:String!){ serviceInstance(serviceId:$s, environmentId:$e){ source { image } } }"
    kill_while_held(project, emulator, "ServiceInstanceUpdate", ("deploy", "dev", "--image", C),
                    lambda: emulator.data(source, s=web, e=env_id)["serviceInstance"]["source"]["image"] == C)
    cli(project, "recover", "dev")
    assert (project.outputs("dev")["release"]["image"], running(emulator, project, "dev")["image"]) == (C, A)
    killed = project.outputs("dev")["releases"][-1]
    assert (killed["image"], killed["outcome"]) == (C, "interrupted") and "not gated" in killed["reason"], killed

    row = json.loads(cli(project, "status", "--stack", "dev").stdout)[0]
    assert row["runs_pinned_image"] is False and row["deployment_image"] == A, row
    for fmt in ((), ("--markdown",)):
        board = subprocess.run([sys.executable, "-m", "infra", "--project-dir", str(project.dir), "status",
                                "--stack", "dev", *fmt], env=project.env, capture_output=True, text=True, check=True)
        assert f"live deployment runs {A}" in board.stdout, board.stdout

    again = json.loads(cli(project, "deploy", "dev", "--image", C).stdout)
    assert again["healthy"] and again["release"]["outcome"] == "healthy", again
    assert running(emulator, project, "dev")["image"] == C and again["deployments"]["web"] == \
        running(emulator, project, "dev")["deployment"]
    records = [r for r in project.outputs("dev")["releases"] if r["image"] == C]
    assert [r["outcome"] for r in records] == ["healthy"] and records[0]["id"] == killed["id"], records


def test_interleaved_releases_do_not_credit_each_other(project: PulumiProject, emulator: Emulator) -> None:
    """Release A's deployment is still deploying (the emulator's clock is stopped) when release B starts: B
    deploys its own image instead of taking A's deployment as its own, and A, whose deployment no longer serves,
    fails naming what runs instead, without rolling B back."""
    cli(project, "deploy", "dev", "--image", C)
    out = project.outputs("dev")
    emulator.freeze()
    argv = [sys.executable, "-m", "infra", "--json", "--project-dir", str(project.dir), "deploy", "dev"]
    first = subprocess.Popen(argv + ["--image", A], env=project.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    second = None
    try:
        deadline = time.monotonic() + 600
        while not [d for d in deployments(emulator, out) if d["meta"].get("image") == A]:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "release A never deployed"  # never communicate(): it still runs
            time.sleep(0.2)  # waits for the CLI under test, not for the emulator's clock
        emulator.advance(0.05)  # B's deployment is the newer one (a stopped clock would stamp both alike); A builds on
        second = subprocess.Popen(argv + ["--image", B], env=project.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 600  # each wait its own bound: an engine run takes minutes on a loaded host
        while not [d for d in deployments(emulator, out) if d["meta"].get("image") == B]:  # after B's up pinned B
            assert second.poll() is None, second.communicate()
            assert time.monotonic() < deadline, "release B never deployed its own image"
            time.sleep(0.2)
        emulator.advance(1)  # both deployments finish
        out_a, err_a = first.communicate(timeout=300)
        out_b, err_b = second.communicate(timeout=300)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert second.returncode == 0, out_b + err_b
    assert first.returncode == 1 and f"runs {B}" in err_a, out_a + err_a
    now = running(emulator, project, "dev")
    assert (now["image"], now["status"], project.outputs("dev")["release"]["image"]) == (B, "SUCCESS", B)
    records = {r["image"]: r for r in project.outputs("dev")["releases"]}
    assert records[B]["outcome"] == "healthy" and records[B]["deployments"]["web"] == now["deployment"]
    assert records[A]["outcome"] == "interleaved" and B in records[A]["reason"], records[A]
    assert health(emulator, "acs-dev.up.railway.app") == 200


def test_a_release_killed_in_its_gate_is_closed_by_the_next(project: PulumiProject, emulator: Emulator) -> None:
    """A release killed after its up (its deployment made, no lock held, nothing pending for recover) leaves its
    record open; the next release of another image closes it as superseded instead of leaving it in progress."""
    cli(project, "deploy", "dev", "--image", A)
    out = project.outputs("dev")
    kill_while_held(project, emulator, "ServiceInstanceDeploy", ("deploy", "dev", "--image", C),
                    lambda: any(d["meta"].get("image") == C for d in deployments(emulator, out)))
    assert project.outputs("dev")["releases"][-1]["outcome"] == "in progress"
    cli(project, "deploy", "dev", "--image", B)
    records = project.outputs("dev")["releases"]
    assert [r["outcome"] for r in records if r["image"] == C] == ["superseded"], records
    assert B in next(r for r in records if r["image"] == C)["reason"]
    assert (records[-1]["image"], records[-1]["outcome"]) == (B, "healthy"), records[-1]


def test_a_rerun_of_a_release_killed_in_its_gate_gates_and_rolls_back(project: PulumiProject,
                                                                       emulator: Emulator) -> None:
    """adv16b N1: a release killed while its gate probed an unhealthy B (B deployed and live, the record open)
    was re-run: "no changes", the gate failed, nothing was rolled back and the record stayed in progress. The
    re-run takes the open record over, gates B and returns to A, recording B rolled back."""
    cli(project, "deploy", "dev", "--image", A)
    web = project.outputs("dev")["serviceIds"]["web"]
    emulator.admin(f"/services/{web}/behaviour", {"healthy": False})
    run = subprocess.Popen([sys.executable, "-m", "infra", "--project-dir", str(project.dir), "deploy", "dev",
                            "--image", B, "--health-timeout", "3000"], env=project.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while (now := running(emulator, project, "dev"))["image"] != B or now["status"] != "SUCCESS":
        assert run.poll() is None and time.monotonic() < deadline, "the release ended before it was gating B"
        time.sleep(0.2)  # waits for the CLI under test, not for the emulator's clock
    assert run.poll() is None, "killed while gating"
    kill_engine(run.pid)
    run.wait()
    assert project.outputs("dev")["releases"][-1]["outcome"] == "in progress"
    again = cli(project, "deploy", "dev", "--image", B, "--health-timeout", "1", check=False)
    assert again.returncode == 1 and "503" in again.stderr, again.stdout + again.stderr
    assert running(emulator, project, "dev")["image"] == A, "the unhealthy release is rolled back"
    b = [r for r in project.outputs("dev")["releases"] if r["image"] == B]
    assert [(r["outcome"], r["rolled_back_to"]) for r in b] == [("rolled back", A)], b
    assert project.outputs("dev")["release"]["image"] == A


def test_one_image_one_commit_in_any_form_across_stacks(project: PulumiProject, emulator: Emulator) -> None:
    """adv16b N3, N4: the full SHA of the commit A was released with redeployed A (backup, update, deployment)
    instead of writing nothing; and dev credited prod's image B to another commit (the check read dev's records
    only), after which `promote` was refused with advice it has no option for."""
    cli(project, "deploy", "dev", "--image", A, "--commit", "1111111")
    emulator.reset_stats()
    same = json.loads(cli(project, "deploy", "dev", "--image", A, "--commit", "1111111" + "b" * 33).stdout)
    assert emulator.stats()["write_total"] == 0 and not same["changes"], same
    cli(project, "up", "prod")
    cli(project, "deploy", "prod", "--image", B, "--commit", "2222222")
    refused = cli(project, "deploy", "dev", "--image", B, "--commit", "5555555", check=False)
    assert refused.returncode == 1 and "2222222" in refused.stderr, refused.stdout + refused.stderr
    known = json.loads(cli(project, "deploy", "dev", "--image", B).stdout)  # no --commit: the one B is known by
    assert known["release"]["commit"] == "2222222", known
