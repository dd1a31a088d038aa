"""Adversarial pass on issue 18, break 1: `drift` ran beside an `up` of the same stack (a preview takes no stack
lock), read Railway half-way through the up's changes and recorded a drift the up was about to remove. A read of a
stack waits while a run writes it (infra.ops.settled_read)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_pr_previews import cli

pytestmark = pytest.mark.e2e


def acs(project: PulumiProject, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "infra", "--json", "--project-dir", str(project.dir), *args],
                            env={**project.env, "ACS_RAILWAY_TIMEOUT": "900"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def snapshot_reads(emulator: Emulator) -> int:
    return emulator.stats()["by_operation"].get("EnvironmentSnapshot", 0)


def wait_for_hold(emulator: Emulator, run: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while emulator.admin("/faults/holding")["holding"] == 0:
        assert run.poll() is None and time.monotonic() < deadline, "the up's write was never held"
        time.sleep(0.1)


def test_drift_waits_for_a_running_up_and_reads_after_it(project: PulumiProject, emulator: Emulator) -> None:
    """The up has written dev's new LOG_LEVEL and waits for Railway's answer (held), holding dev's lock with its
    step pending. `drift dev` meanwhile says it waits and reads nothing; once the up is done it reads, and finds
    no drift (the stack file and Railway agree)."""
    cli(project, "up", "dev")
    stack_file = project.dir / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("LOG_LEVEL: debug", "LOG_LEVEL: info", 1))
    emulator.admin("/faults", {"hold_after_next": {"VariableCollectionUpsert": 1}, "timeout_seconds": 600})
    up = acs(project, "up", "dev")
    drift: subprocess.Popen[str] | None = None
    try:
        wait_for_hold(emulator, up)
        reads = snapshot_reads(emulator)
        drift = acs(project, "drift", "dev")
        said = drift.stderr.readline() if drift.stderr else ""
        assert "dev is locked by another run" in said and "waiting up to" in said, said
        assert drift.poll() is None and snapshot_reads(emulator) == reads, "it reads nothing while the up runs"
        assert emulator.admin("/faults/holding")["holding"] == 1, "the up was still held when drift waited"
    finally:
        emulator.admin("/faults/release", {})
        up_out, up_err = up.communicate(timeout=300)
        out, err = drift.communicate(timeout=600) if drift else ("", "")
    assert up.returncode == 0, up_out + up_err
    assert emulator.stats()["faults"].get("hold_after") == 1
    assert drift.returncode == 0, out + err
    report: list[dict[str, Any]] = json.loads(out)
    assert report[0]["stack"] == "dev" and not report[0].get("error"), report
    assert snapshot_reads(emulator) > reads, "it read once the up was done"


def test_drift_read_again_reports_only_what_its_last_read_saw(project: PulumiProject, emulator: Emulator) -> None:
    """adv22 B1 (7 of 7): drift read dev while an up changed it, said "reading it again", and still reported the
    first read's live value: the events of both reads were kept, the first read's drift among them. Here the up
    runs to its end while drift's first read of Railway is held (so the read is old and the checkpoint changes
    under it); drift reads again and finds the file and Railway agreeing."""
    cli(project, "up", "dev")
    stack_file = project.dir / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("memory: 512MB", "memory: 640MB", 1))
    emulator.admin("/faults", {"hold_after_next": {"EnvironmentSnapshot": 1}, "timeout_seconds": 600})
    drift = acs(project, "drift", "dev")
    try:
        wait_for_hold(emulator, drift)  # drift's first read: Railway still has 512MB
        cli(project, "up", "dev")  # the preview takes no lock: the up runs to its end meanwhile
    finally:
        emulator.admin("/faults/release", {})
        out, err = drift.communicate(timeout=600)
    assert emulator.stats()["faults"].get("hold_after") == 1
    assert "changed while it was read" in err, err
    assert drift.returncode == 0, out + err
    report: list[dict[str, Any]] = json.loads(out)
    assert report[0]["stack"] == "dev" and not report[0].get("error") and not report[0].get("resources"), report


def test_a_read_that_ends_while_a_run_holds_the_lock_waits_for_that_run(project: PulumiProject,
                                                                       emulator: Emulator, tmp_path: Path) -> None:
    """adv23 B1 (6 of 6 with drift started under 1 s into an up): drift's read began before the up took dev's
    lock and ended after it, before the up had written its checkpoint. The checkpoint looked unchanged, so the
    read counted as settled, and the live value the up was about to change was recorded as drift. A read is
    settled only when no run holds the stack after it either. Here a run (a live process of this host) takes
    dev's lock while drift's read is held: drift waits for it, and only then reports (a real drift: nobody
    applied the file)."""
    cli(project, "up", "dev")
    stack_file = project.dir / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("memory: 512MB", "memory: 640MB", 1))
    emulator.admin("/faults", {"hold_after_next": {"EnvironmentSnapshot": 1}, "timeout_seconds": 600})
    drift = acs(project, "drift", "dev")
    run = subprocess.Popen(["sleep", "600"])  # the run holding the lock: alive on this host
    lock = project.dir.parent / "state/.pulumi/locks/organization/acs/dev" / f"{uuid.uuid4()}.json"
    try:
        wait_for_hold(emulator, drift)
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(json.dumps({"pid": run.pid, "username": "ci", "hostname": socket.gethostname(),
                                    "timestamp": "2026-11-27T10:00:00Z"}))
        emulator.admin("/faults/release", {})  # the read ends while the run holds the lock
        said = drift.stderr.readline() if drift.stderr else ""
        assert "dev is locked by another run" in said and f"pid {run.pid}" in said, said
        assert drift.poll() is None, "drift reports nothing while the run holds the stack"
    finally:
        lock.unlink(missing_ok=True)
        run.kill()
        emulator.admin("/faults/release", {})
        out, err = drift.communicate(timeout=600)
    assert emulator.stats()["faults"].get("hold_after") == 1
    assert drift.returncode == 2, out + err
    report: list[dict[str, Any]] = json.loads(out)
    assert "memory_bytes" in json.dumps(report[0]["resources"]), report
