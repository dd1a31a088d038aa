"""State for teams: every command on Pulumi's DIY S3 backend, with runners that share nothing but the bucket.

Each runner is a separate clone of the project with its own workspace, temp dir and PULUMI_HOME; the object
store is a real S3-compatible server over HTTP (tests/s3store.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator, PulumiProject, copy_project, engine_env
from tests.e2e.test_pr_previews import cli, result
from tests.s3store import S3Store, s3, s3_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e
STACKS = ".pulumi/stacks/acs/"
LOCKS = ".pulumi/locks/"


def runner(tmp_path: Path, name: str, emulator: Emulator, store: S3Store, **extra: str) -> PulumiProject:
    """A CI runner: its own clone, workspace, temp dir and Pulumi home; only the bucket and Railway are shared."""
    base = tmp_path / name
    for sub in ("project", "tmp", "home"):
        (base / sub).mkdir(parents=True)
    env = engine_env(base / "no-local-state", emulator)
    env.update(store.env(), TMPDIR=str(base / "tmp"), PULUMI_HOME=str(base / "home"), **extra)
    return PulumiProject(copy_project(base / "project"), env)


def token_in_config(project: PulumiProject, stack: str) -> None:
    """The runner's Railway token as secret stack config instead of the environment: it then makes no call of its
    own before the engine takes the stack's lock (the budget check before the lock reads an environment token),
    so an emulator held open stops it inside its update, or at the lock."""
    token = project.env.pop("RAILWAY_API_TOKEN")
    project.run("config", "set", "--secret", "acs:railwayToken", token, stack=stack)


def popen(project: PulumiProject, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "infra", "--json", "--project-dir", str(project.dir), *args],
                            env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate: Any, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_dev_prod_and_previews_on_s3(tmp_path: Path, emulator: Emulator, s3: S3Store) -> None:
    a, b = runner(tmp_path, "runner-a", emulator, s3), runner(tmp_path, "runner-b", emulator, s3)
    a.up("dev")
    a.up("prod")
    assert result(cli(a, "pr", "up", "7"))["url"] == "https://acs-pr-7.up.railway.app"
    assert {f"{STACKS}dev.json", f"{STACKS}prod.json", f"{STACKS}pr-7.json"} <= set(s3.keys(STACKS))
    assert json.loads(s3.read(f"{STACKS}dev.json"))["checkpoint"]["latest"]["resources"]
    assert s3.keys(LOCKS) == [], "every run released its lock"
    assert not list(tmp_path.rglob(".pulumi")) and not (tmp_path / "runner-a" / "no-local-state").exists()

    # Runner B never ran any of these stacks: it finds them, and the preview's secrets, in the bucket.
    listed = result(cli(b, "pr", "list"))
    assert [(r["stack"], r["url"]) for r in listed] == [("pr-7", "https://acs-pr-7.up.railway.app")]
    emulator.reset_stats()
    again = result(cli(b, "pr", "up", "7"))
    assert set(again["changes"]) == {"same"} and emulator.stats()["write_total"] == 0, again
    drift = cli(b, "drift", "--all", check=False)
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert sorted(r["stack"] for r in result(drift)) == ["dev", "pr-7", "prod"]

    gc = result(cli(b, "pr", "gc", "--open", "8"))
    assert gc["removed_stacks"] == [{"stack": "pr-7", "reason": "closed"}]
    assert result(cli(a, "pr", "list")) == []
    assert f"{STACKS}pr-7.json" not in s3.keys(STACKS)
    assert not [e for e in emulator.inventory()["environments"] if e["name"] == "pr-7"]


def test_two_runners_on_one_stack(tmp_path: Path, emulator: Emulator, s3: S3Store) -> None:
    """A holds dev's lock in the bucket (its first Railway call is held open); B gives up cleanly with exit 3;
    C waits, then converges after A. One environment, one state, nothing pending."""
    a = runner(tmp_path, "runner-a", emulator, s3, ACS_RAILWAY_TIMEOUT="900")
    b, c = runner(tmp_path, "runner-b", emulator, s3), runner(tmp_path, "runner-c", emulator, s3)
    a.run("stack", "select", "--create", "dev")
    for r in (a, b, c):
        token_in_config(r, "dev")
    hold = emulator.server.backend.lock  # every GraphQL request waits on it: A stays inside its update
    hold.acquire()
    try:
        first = popen(a, "up", "dev")
        wait_for(lambda: s3.keys(LOCKS) or first.poll() is not None, "runner A to lock the stack")
        assert first.poll() is None, first.communicate()
        refused = cli(b, "up", "dev", "--lock-timeout", "0", check=False)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "another run holds stack dev" in result(refused)["error"]
        assert "Traceback" not in refused.stderr
        waiting = popen(c, "up", "dev", "--lock-timeout", "600")
        lines: list[str] = []
        wait_for(lambda: lines.append(waiting.stderr.readline()) or "locked by another run" in lines[-1]
                 or waiting.poll() is not None, "runner C to wait for the lock")
        assert "locked by another run" in lines[-1], "".join(lines)
    finally:
        hold.release()
    out_a, err_a = first.communicate(timeout=600)
    assert first.returncode == 0, err_a
    out_c, err_c = waiting.communicate(timeout=900)
    assert waiting.returncode == 0, err_c
    assert set(json.loads(out_c)["changes"]) == {"same"}, "C ran after A and found nothing to do"
    assert json.loads(out_a)["changes"].get("create", 0) > 0

    state = json.loads(s3.read(f"{STACKS}dev.json"))["checkpoint"]["latest"]
    assert not state.get("pending_operations") and s3.keys(LOCKS) == []
    projects = emulator.inventory()["projects"]
    assert len(projects) == 1, projects
    b.run("preview", "--expect-no-changes", "--refresh", stack="dev")


def test_recover_releases_only_a_dead_runs_lock(tmp_path: Path, emulator: Emulator, s3: S3Store) -> None:
    """On a shared bucket `recover` must not clear a live run's lock: B's recover refuses while A's update holds
    dev (exit 3, naming A), refuses a lock naming this host whose pid runs nothing here (another machine may share
    the host name) and another machine's lock, and releases one only with --stale-after when it is older than that."""
    a = runner(tmp_path, "runner-a", emulator, s3, ACS_RAILWAY_TIMEOUT="900")
    b = runner(tmp_path, "runner-b", emulator, s3)
    a.run("stack", "select", "--create", "dev")  # A's first up creates: it has Railway calls to be held in
    token_in_config(a, "dev")
    hold = emulator.server.backend.lock  # every GraphQL request waits on it: A stays inside its update
    hold.acquire()
    recovering = None
    try:
        first = popen(a, "up", "dev")
        wait_for(lambda: s3.keys(LOCKS) or first.poll() is not None, "runner A to lock the stack")
        assert first.poll() is None, first.communicate()
        [key] = s3.keys(LOCKS)
        live = json.loads(s3.read(key))
        recovering = popen(b, "recover", "dev")
        wait_for(lambda: recovering.poll() is not None or key not in s3.keys(LOCKS), "B's recover to decide")
        assert key in s3.keys(LOCKS), "recover released the lock of a live run"
        out_b, err_b = recovering.communicate(timeout=60)
        assert recovering.returncode == 3, out_b + err_b
        error = json.loads(out_b)["error"]
        assert f"pid {live['pid']}" in error and "--stale-after" in error and "Traceback" not in err_b, error
    finally:
        hold.release()
        if recovering is not None and recovering.poll() is None:
            recovering.kill()
    out_a, err_a = first.communicate(timeout=600)
    assert first.returncode == 0 and s3.keys(LOCKS) == [], err_a

    # Break 4 (adv17): this host's name and a pid that runs nothing here. On a shared bucket that may be a live run
    # on another machine carrying the same host name (CI containers): recover refuses it, and an `up` waits for it.
    gone = subprocess.Popen(["true"])
    gone.wait()
    s3.client.put_object(Bucket=s3.bucket, Key=key, Body=json.dumps({**live, "pid": gone.pid}).encode())
    refused = cli(b, "recover", "dev", check=False)
    assert refused.returncode == 3 and f"pid {gone.pid}" in result(refused)["error"], refused.stdout + refused.stderr
    assert "--stale-after" in result(refused)["error"] and s3.keys(LOCKS) == [key]
    waited = cli(b, "up", "dev", "--lock-timeout", "5", check=False)
    assert waited.returncode == 3 and "waited" in result(waited)["error"], waited.stdout + waited.stderr
    assert s3.keys(LOCKS) == [key]

    old = (datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    s3.client.put_object(Bucket=s3.bucket, Key=key,
                         Body=json.dumps({**live, "hostname": "runner-elsewhere", "timestamp": old}).encode())
    refused = cli(b, "recover", "dev", check=False)
    assert refused.returncode == 3 and "runner-elsewhere" in result(refused)["error"], refused.stderr
    assert s3.keys(LOCKS) == [key]
    assert cli(b, "recover", "dev", "--stale-after", "180m", check=False).returncode == 3, "not that old"
    assert result(cli(b, "recover", "dev", "--stale-after", "60m"))["action"] == "recovered"
    assert s3.keys(LOCKS) == []
    b.run("preview", "--expect-no-changes", "--refresh", stack="dev")
