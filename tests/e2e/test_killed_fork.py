"""Adversarial pass on issue 14: `pr up N` killed between Railway making the preview's fork and the engine
recording it left an unmarked fork that every later create refused ("not owned"), so the preview could never be
made again. `recover` finishes it: it marks only the fork the stack's own pending create record names."""
from __future__ import annotations

from typing import Any

import pytest

from infra.ownership import OWNER_VARIABLE
from tests.conftest import Emulator, PulumiProject, kill_while_held
from tests.e2e.test_pr_previews import cli, result

pytestmark = pytest.mark.e2e

ENVS = "query($p:String!){ environments(projectId:$p){ edges { node { id name isEphemeral } } } }"
SHARED = "query($p:String!,$e:String!){ variables(projectId:$p, environmentId:$e, unrendered:true) }"


def environments(emulator: Emulator, project_id: str, name: str) -> list[dict[str, Any]]:
    edges = emulator.data(ENVS, p=project_id)["environments"]["edges"]
    return [e["node"] for e in edges if e["node"]["name"] == name]


def killed_while_forking(project: PulumiProject, emulator: Emulator, project_id: str) -> None:
    """`pr up 7` killed after Railway made its fork, while the run waits for the answer."""
    kill_while_held(project, emulator, "EnvironmentFork", ("pr", "up", "7"),
                    lambda: environments(emulator, project_id, "pr-7"))


def test_pr_up_killed_between_fork_and_marker_is_finished_by_recover(project: PulumiProject,
                                                                     emulator: Emulator) -> None:
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    # Railway makes the fork, then its answer is held: the run is killed while it waits, before the engine
    # records the fork and before the shape's patch marks it.
    killed_while_forking(project, emulator, dev["projectId"])
    (fork,) = environments(emulator, dev["projectId"], "pr-7")
    left = emulator.data(SHARED, p=dev["projectId"], e=fork["id"])["variables"].get(OWNER_VARIABLE)
    assert left is None or left.endswith("/dev@" + left.rsplit("@", 1)[-1]), left  # unmarked: at most dev's copy

    rerun = cli(project, "pr", "up", "7", "--lock-timeout", "1", check=False)
    assert rerun.returncode == 3 and "acs-infra recover" in rerun.stdout + rerun.stderr, rerun.stdout + rerun.stderr
    recovered = cli(project, "recover", "pr-7", check=False)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "the fork a killed run made is marked" in recovered.stderr, recovered.stderr
    out = project.outputs("pr-7")
    assert out["environmentId"] == fork["id"], "the killed run's fork is adopted, not made twice"
    assert [e["id"] for e in environments(emulator, dev["projectId"], "pr-7")] == [fork["id"]]
    marker = emulator.data(SHARED, p=dev["projectId"], e=fork["id"])["variables"][OWNER_VARIABLE]
    assert marker.split("@")[0].endswith("/pr-7"), marker
    assert project.outputs("dev")["environmentId"] == dev["environmentId"]
    again = result(cli(project, "pr", "up", "7"))
    assert set(again["changes"]) == {"same"}, again
    cli(project, "pr", "down", "7")
    assert environments(emulator, dev["projectId"], "pr-7") == []


DELETE = "mutation($id:String!){ environmentDelete(id:$id) }"
CREATE = ("mutation($p:String!,$s:String!){ environmentCreate(input:{projectId:$p, name:\"pr-7\", "
          "sourceEnvironmentId:$s, ephemeral:true}){ id createdAt } }")


def test_recover_leaves_alone_a_fork_made_by_hand_minutes_after_the_killed_run(project: PulumiProject,
                                                                               emulator: Emulator) -> None:
    """adv14c B2: the killed run's fork went away; minutes later someone made their own pr-7 from dev. recover
    must not mark it as the stack's (pr down would then delete it): it names it and refuses, as pr up does."""
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    killed_while_forking(project, emulator, dev["projectId"])
    (killed,) = environments(emulator, dev["projectId"], "pr-7")
    emulator.data(DELETE, id=killed["id"])  # the killed run's fork goes away (a colleague, Railway's PR bot)
    emulator.advance(300)  # five minutes later, someone makes their own pr-7 from dev
    theirs = emulator.data(CREATE, p=dev["projectId"], s=dev["environmentId"])["environmentCreate"]

    emulator.reset_stats()
    recovered = cli(project, "recover", "pr-7", check=False)
    assert emulator.stats()["total"] <= 8 and emulator.stats()["write_total"] <= 1, emulator.stats()  # measured: 8
    said = recovered.stdout + recovered.stderr
    assert recovered.returncode != 0 and theirs["id"] in said and "left alone" in said, said
    assert [e["id"] for e in environments(emulator, dev["projectId"], "pr-7")] == [theirs["id"]]
    left = emulator.data(SHARED, p=dev["projectId"], e=theirs["id"])["variables"].get(OWNER_VARIABLE)
    assert left is None or "/pr-7@" not in left, left  # never marked as the stack's


def test_pr_down_finishes_when_the_environment_is_already_gone_and_recover_does_not_rebuild(
        project: PulumiProject, emulator: Emulator) -> None:
    """adv14c B8: an environment already gone (deleted out of band, or by a `pr down` killed before the engine
    recorded it) counts as deleted: `pr down` finishes. `recover` after a killed `pr down` finishes the removal
    and never forks the preview again: the killed run's pending operation was a delete."""
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    for n in ("4", "5"):
        cli(project, "pr", "up", n)
    (four,) = environments(emulator, dev["projectId"], "pr-4")
    emulator.data(DELETE, id=four["id"])  # gone out of band (e.g. Railway's PR bot)
    down = cli(project, "pr", "down", "4", check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert result(down)["action"] == "destroyed" and not (project.dir / "Pulumi.pr-4.yaml").exists()

    kill_while_held(project, emulator, "EnvironmentDelete", ("pr", "down", "5"),
                    lambda: not environments(emulator, dev["projectId"], "pr-5"))
    assert [r["stack"] for r in result(cli(project, "pr", "list"))] == ["pr-5"]  # what the kill left

    emulator.reset_stats()
    recovered = cli(project, "recover", "pr-5", check=False)
    assert emulator.stats()["total"] <= 2 and emulator.stats()["write_total"] == 0, emulator.stats()  # measured: 1
    assert environments(emulator, dev["projectId"], "pr-5") == [], "recover forked the preview again"
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert result(recovered)["action"] == "destroyed", recovered.stdout
    assert result(cli(project, "pr", "list")) == [] and not (project.dir / "Pulumi.pr-5.yaml").exists()
