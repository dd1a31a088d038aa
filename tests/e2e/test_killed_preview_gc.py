"""adv15 B1/B2: a PR stack that exists holds its fork, whatever its outputs say. `pr gc` called the fork of a
`pr up` killed during its shaping patch (and of one still waiting for that patch's answer) "orphaned" and deleted
it, also with its PR in `--open`; `pr down` of such a preview refused, calling the fork's own copy of dev's web
"what no stack manages" and advising to remove a service that is also dev's."""
from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from infra.ownership import OWNER_VARIABLE
from tests.conftest import Emulator, PulumiProject, kill_while_held
from tests.e2e.test_killed_fork import SHARED, environments
from tests.e2e.test_pr_data_safety import environment, ids
from tests.e2e.test_pr_previews import cli, result

pytestmark = pytest.mark.e2e

HAND_MADE_SERVICE = ('mutation($p:String!,$e:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, '
                     'name:"qa", source:{image:"qa/tool:1"}}){ id } }')


def marked_fork(emulator: Emulator, project_id: str, number: int) -> str | None:
    """The id of pr-<number> once it carries its stack's marker (the shaping patch was applied)."""
    envs = environments(emulator, project_id, f"pr-{number}")
    if not envs:
        return None
    owner = emulator.data(SHARED, p=project_id, e=envs[0]["id"])["variables"].get(OWNER_VARIABLE) or ""
    return envs[0]["id"] if f"/pr-{number}@" in owner else None


def killed_while_shaping(project: PulumiProject, emulator: Emulator, dev: dict[str, Any], number: int) -> str:
    """`pr up <number>` killed after Railway applied its shaping patch, while the run waits for the answer: the
    stack records the fork (with what it copied), not the shape, and no output; the killed run's lock stays."""
    kill_while_held(project, emulator, "EnvironmentPatchCommit", ("pr", "up", str(number)),
                    lambda: marked_fork(emulator, dev["projectId"], number))
    emulator.admin("/faults/release", {})  # the held answer goes to nobody
    fork = marked_fork(emulator, dev["projectId"], number)
    assert fork and "environmentId" not in project.outputs(f"pr-{number}")
    return fork


def release_dead_lock(project: PulumiProject, stack: str) -> None:
    """What `recover` does first (its run is gone); the state stays as the killed run left it."""
    project.run("cancel", "--yes", stack=stack)


def test_gc_keeps_a_killed_pr_ups_fork_and_removes_it_only_through_its_stack(project: PulumiProject,
                                                                           emulator: Emulator) -> None:
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    fork = killed_while_shaping(project, emulator, dev, 47)
    before, world = environment(emulator, fork), ids(emulator)
    for dry in (("--dry-run",), ()):  # the PR is open, its stack exists (and is still locked by the dead run)
        gc = result(cli(project, "pr", "gc", "--open", "47", *dry))
        assert gc["removed_environments"] == [] and gc["objects"] == [] and gc["removed_stacks"] == [], gc
    assert ids(emulator) == world and environment(emulator, fork) == before

    release_dead_lock(project, "pr-47")
    before_dev = environment(emulator, dev["environmentId"])
    dry = result(cli(project, "pr", "gc", "--open", "none", "--dry-run"))
    listed = {o["id"] for o in dry["objects"]}
    assert [r["stack"] for r in dry["removed_stacks"]] == ["pr-47"] and fork in listed, dry
    assert dry["removed_environments"] == [] and ids(emulator) == world, dry
    gc = result(cli(project, "pr", "gc", "--open", "none"))
    assert {o["id"] for o in gc["objects"]} == listed and world - ids(emulator) == listed, gc
    assert environments(emulator, dev["projectId"], "pr-47") == [] and result(cli(project, "pr", "list")) == []
    assert environment(emulator, dev["environmentId"]) == before_dev, "dev's web and its instance stay"


def test_pr_down_after_a_killed_pr_up_takes_the_forks_copies_and_names_only_what_was_made_by_hand(
        project: PulumiProject, emulator: Emulator) -> None:
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    fork = killed_while_shaping(project, emulator, dev, 48)
    qa = emulator.data(HAND_MADE_SERVICE, p=dev["projectId"], e=fork)["serviceCreate"]["id"]
    refused = cli(project, "pr", "down", "48", check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "service qa in pr-48" in said, said
    assert "service web" not in said, "the fork's copy of dev's web is the preview's own"
    assert "acs-infra recover pr-48" in said, "the killed run is finished by recover"
    emulator.data("mutation($s:String!){ serviceDelete(id:$s) }", s=qa)  # it lives only in the fork

    release_dead_lock(project, "pr-48")
    before_dev, world = environment(emulator, dev["environmentId"]), ids(emulator)
    down = cli(project, "pr", "down", "48", check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert environments(emulator, dev["projectId"], "pr-48") == []
    assert environment(emulator, dev["environmentId"]) == before_dev
    assert not (world - ids(emulator)) & set(dev["serviceIds"].values()), "dev's services stay"


def test_gc_during_a_running_pr_up_leaves_its_fork_alone(project: PulumiProject, emulator: Emulator) -> None:
    """The live race: `pr up 50` has forked and its shaping patch is applied (the fork carries the marker), its
    answer is held; `pr gc --open 50` runs then. The update then finishes with its fork."""
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    emulator.admin("/faults", {"hold_after_next": {"EnvironmentPatchCommit": 1}, "timeout_seconds": 600})
    run = subprocess.Popen([sys.executable, "-m", "infra", "--json", "--project-dir", str(project.dir),
                            "pr", "up", "50"], env={**project.env, "ACS_RAILWAY_TIMEOUT": "900"},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while emulator.admin("/faults/holding")["holding"] == 0:
            assert run.poll() is None and time.monotonic() < deadline, "the patch was never held"
            time.sleep(0.1)
        fork = marked_fork(emulator, dev["projectId"], 50)
        assert fork, "the held patch marked the fork"
        gc = result(cli(project, "pr", "gc", "--open", "50"))
        assert emulator.admin("/faults/holding")["holding"] == 1, "gc ran while the update waited"
    finally:
        emulator.admin("/faults/release", {})
        out, err = run.communicate(timeout=300)
    assert gc["removed_environments"] == [] and gc["objects"] == [], gc
    assert run.returncode == 0, out + err
    assert emulator.stats()["faults"].get("hold_after") == 1
    assert project.outputs("pr-50")["environmentId"] == fork
    assert [e["id"] for e in environments(emulator, dev["projectId"], "pr-50")] == [fork]


def test_gc_goes_past_a_killed_runs_lock_and_its_dry_run_says_what_it_then_does(project: PulumiProject,
                                                                                emulator: Emulator) -> None:
    """adv15b N4, adv17 break 5: closed pr-47's `pr up` was killed after Railway made its fork (its lock stays,
    its fork is unmarked). gc stopped there with exit 3, its JSON losing pr-42 it had removed and never reaching
    pr-50; its dry run called pr-47 both removed and "left alone". Now each preview gets one verdict, the same in
    the dry run and the real run: pr-42 and pr-50 removed, pr-47 failed naming `recover`, exit 3 at the end."""
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    for n in ("42", "50"):
        cli(project, "pr", "up", n)
    kill_while_held(project, emulator, "EnvironmentFork", ("pr", "up", "47"),
                    lambda: environments(emulator, dev["projectId"], "pr-47"))
    emulator.admin("/faults/release", {})
    (fork,) = environments(emulator, dev["projectId"], "pr-47")
    for dry in (("--dry-run",), ()):
        gc = cli(project, "pr", "gc", "--open", "none", *dry, check=False)
        assert gc.returncode == 3, gc.stdout + gc.stderr
        out = result(gc)
        assert [r["stack"] for r in out["removed_stacks"]] == ["pr-42", "pr-50"], out
        assert [f["stack"] for f in out["failed_stacks"]] == ["pr-47"], out
        assert "acs-infra recover pr-47" in out["failed_stacks"][0]["error"], out
        assert "pr-47" not in [e["name"] for e in out["left_environments"]], "one verdict per preview"
        assert fork["id"] not in {o["id"] for o in out["objects"]} and "acs-infra recover pr-47" in gc.stderr
    assert [s["stack"] for s in result(cli(project, "pr", "list"))] == ["pr-47"]
    assert [e["id"] for e in environments(emulator, dev["projectId"], "pr-47")] == [fork["id"]]
    assert environments(emulator, dev["projectId"], "pr-42") == environments(emulator, dev["projectId"], "pr-50") == []


def test_pr_down_after_a_killed_pr_up_and_a_cancel_removes_exactly_the_killed_runs_fork(project: PulumiProject,
                                                                                        emulator: Emulator) -> None:
    """adv15b N2: `pr up 48` killed after Railway made its fork, before the engine recorded it (its pending create
    is in the state), then `pulumi cancel`. `pr down 48` said "destroyed and removed" and left the unmarked fork
    (dev's copies, its database instance) running for good. Now it removes exactly the fork that pending create
    names (marked first, as `recover` would), refusing while it holds what was made in it by hand."""
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    kill_while_held(project, emulator, "EnvironmentFork", ("pr", "up", "48"),
                    lambda: environments(emulator, dev["projectId"], "pr-48"))
    emulator.admin("/faults/release", {})
    (fork,) = environments(emulator, dev["projectId"], "pr-48")
    release_dead_lock(project, "pr-48")
    qa = emulator.data(HAND_MADE_SERVICE, p=dev["projectId"], e=fork["id"])["serviceCreate"]["id"]
    refused = cli(project, "pr", "down", "48", check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "service qa in pr-48" in said and "service web" not in said, said
    assert [e["id"] for e in environments(emulator, dev["projectId"], "pr-48")] == [fork["id"]]
    emulator.data("mutation($s:String!){ serviceDelete(id:$s) }", s=qa)  # it lives only in the fork

    before_dev, world = environment(emulator, dev["environmentId"]), ids(emulator)
    down = cli(project, "pr", "down", "48", check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert environments(emulator, dev["projectId"], "pr-48") == [], "the killed run's fork is gone"
    gone = world - ids(emulator)
    assert fork["id"] in gone and not gone & set(dev["serviceIds"].values()), gone
    assert environment(emulator, dev["environmentId"]) == before_dev
    assert result(cli(project, "pr", "list")) == []
