"""Issue 17: a run the token's hourly budget cannot cover waits or stops before it takes the stack's lock, not in
the middle of its update while holding it."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_release import set_variable

pytestmark = pytest.mark.e2e
HOURLY = 100


def spend(emulator: Emulator, leave: int, window_seconds: float = 3600) -> None:
    """Uses the token's hourly budget down to `leave` calls (another runner's work, on the same token)."""
    emulator.admin("/limits", {"per_second": 1000, "per_hour": HOURLY, "window_seconds": window_seconds})  # fresh
    for _ in range(HOURLY - leave):
        emulator.data("{ __typename }")


def acs(project: PulumiProject, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "infra", "--json", "--project-dir", str(project.dir), *args],
                            env={**project.env, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def locks(project: PulumiProject) -> list[Path]:
    return list((project.dir.parent / "state" / ".pulumi" / "locks").rglob("*.json"))


def test_a_run_the_budget_cannot_cover_stops_before_the_lock(project: PulumiProject, emulator: Emulator) -> None:
    project.up("dev")
    set_variable(project, "dev", "FEATURE", "on")  # work to do
    spend(emulator, leave=3)
    emulator.reset_stats()
    refused = acs(project, "up", "dev", ACS_RAILWAY_MAX_WAIT="60")
    out, err = refused.communicate(timeout=300)
    assert refused.returncode == 1, out + err
    error = json.loads(out)["error"]
    assert "hourly budget has 2 of 100 left" in error and "nothing was started" in error, error
    assert "Traceback" not in err
    assert emulator.stats()["total"] == 1 and emulator.stats()["write_total"] == 0, emulator.stats()

    spend(emulator, leave=3, window_seconds=30)  # a short window: the runner sleeps until its reset, in real time
    waiting = acs(project, "up", "dev", ACS_RAILWAY_MAX_WAIT="7200")
    try:
        lines: list[str] = []
        while not lines or "waiting up to" not in lines[-1]:
            lines.append(waiting.stderr.readline())
            assert lines[-1] or waiting.poll() is None, "".join(lines)
        assert locks(project) == [], "it waits before taking the stack's lock"
        assert emulator.stats()["write_total"] == 0
        out, err = waiting.communicate(timeout=300)  # the window is over: the budget starts again
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, out + err
    assert json.loads(out)["changes"].get("update", 0) >= 1 and locks(project) == []


def test_deploy_rollback_and_destroy_stop_on_the_budget_before_their_first_write(project: PulumiProject,
                                                                                 emulator: Emulator) -> None:
    """Issue 17: every verb that writes reads the token's hourly budget before its first write and before the
    stack's lock, like `up`: a release (whose first write is the pre-deployment backup), a rollback and a destroy
    the budget cannot cover stop with nothing started, instead of running into 429s half-way."""
    project.up("dev")
    spend(emulator, leave=8)
    image = f"ghcr.io/acs/app@sha256:{'b' * 64}"
    for args in (("deploy", "dev", "--image", image), ("rollback", "dev"), ("destroy", "dev")):
        emulator.reset_stats()
        proc = acs(project, *args, ACS_RAILWAY_MAX_WAIT="60")
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, out + err
        error = json.loads(out)["error"]
        assert re.search(rf"hourly budget has \d of {HOURLY} left", error) and "nothing was started" in error, error
        assert "Traceback" not in err, err
        assert emulator.stats()["write_total"] == 0, (args, emulator.stats())
        assert locks(project) == []
    assert [s["name"] for s in json.loads(project.run("stack", "ls", "--json").stdout)] == ["dev"]
    assert project.outputs("dev")["environmentId"]  # the destroy did not start


def test_drift_says_it_waits_for_the_hourly_budget(project: PulumiProject, emulator: Emulator) -> None:
    """adv25 m2: a drift whose reads waited for the token's hourly budget printed nothing for as long as it
    waited (its provider said so, in engine output drift does not show). It says so on stderr, named by stack,
    then reads once the window has passed."""
    project.up("dev")
    spend(emulator, leave=0, window_seconds=20)  # a short window stands in for the hour
    drift = acs(project, "drift", "dev")
    out, err = drift.communicate(timeout=300)
    assert drift.returncode == 0, out + err
    assert re.search(r"^dev: acs-infra: Railway's hourly API budget for this token is used up .*; waiting \d+s",
                     err, re.M), err
    assert json.loads(out)[0]["drifted"] is False, out
