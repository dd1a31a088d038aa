"""Issue 14 items 1 and 5: a stack adopts at create time only what it made itself (its marker) or was given by id.

Each test builds the foreign object first, runs the real CLI/engine, and reads everything back through the
emulator."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_pr_previews import cli

pytestmark = pytest.mark.e2e


def snapshot(emulator: Emulator, project_id: str) -> dict[str, Any]:
    """Everything of one project, by kind, as the emulator holds it (ids, names, sizes, variables)."""
    inv = emulator.inventory()
    envs = {e["id"] for e in inv["environments"] if e["projectId"] == project_id}
    return {
        "project": [p for p in inv["projects"] if p["id"] == project_id],
        "environments": sorted(envs),
        "services": sorted(s["id"] for s in inv["services"] if s["projectId"] == project_id),
        "instances": sorted(i["id"] for i in inv["instances"] if i["environmentId"] in envs),
        "volumes": sorted((v["volumeId"], v["sizeMB"]) for v in inv["volume_instances"] if v["environmentId"] in envs),
        "domains": sorted(d["domain"] for d in inv["service_domains"] if d["environmentId"] in envs),
        "variables": {k: v for k, v in inv["variables"].items() if k.split("|")[0] in envs},
        "rules": sorted(r["id"] for r in inv["notification_rules"] if r["projectId"] == project_id),
    }


def copy_prod_as_staging(project: PulumiProject) -> None:
    """What a new user does: `cp Pulumi.prod.yaml Pulumi.staging.yaml`, rename, new subdomain, drop protect."""
    text = (project.dir / "Pulumi.prod.yaml").read_text()
    text = text.replace("name: production", "name: staging").replace("subdomain: kars", "subdomain: acs-staging")
    (project.dir / "Pulumi.staging.yaml").write_text(text.replace("    protect: true\n", ""))


def test_copied_stack_does_not_take_over_another_stacks_project(project: PulumiProject, emulator: Emulator) -> None:
    """Issue 14 item 1: a copy of prod's stack file keeps `project.name: acs-production`; its `up` used to adopt
    prod's project (found by name + marker) and `destroy staging` then deleted it. Now the create stops before
    its first write and names prod's stack as the owner; destroying staging touches nothing of prod."""
    project.up("prod")
    prod_id = project.outputs("prod")["projectId"]
    before = snapshot(emulator, prod_id)
    copy_prod_as_staging(project)

    emulator.reset_stats()
    up = cli(project, "up", "staging", check=False)
    assert up.returncode == 1, up.stdout + up.stderr
    error = json.loads(up.stdout)["error"]
    assert "acs-production" in error and "organization/acs/prod@" in error, error
    assert emulator.stats()["write_total"] == 0, emulator.stats()
    # Adversarial B8: one line before the engine runs (no provider traceback, no stack left behind), and no advice
    # to take another stack's project over by id.
    assert "Traceback" not in up.stderr and "project.id" not in error, up.stderr
    assert "staging" not in project.run("stack", "ls").stdout

    cli(project, "destroy", "staging")
    assert snapshot(emulator, prod_id) == before
    assert len(emulator.inventory()["projects"]) == 1


def test_same_name_project_made_by_hand_is_not_adopted(project: PulumiProject, emulator: Emulator) -> None:
    """Issue 14 item 1: a project named like the stack's, made by hand, stops `up` (naming no acs-infra owner)
    instead of being adopted or duplicated."""
    made = emulator.data('mutation{ projectCreate(input:{name:"acs", description:"ours, by hand"}){ id } }')
    hand_id = made["projectCreate"]["id"]
    refused = cli(project, "up", "dev", check=False)
    assert refused.returncode == 1 and "made by hand or by another tool" in json.loads(refused.stdout)["error"]
    assert [p["id"] for p in emulator.inventory()["projects"]] == [hand_id]


def _hand_made_preview(emulator: Emulator, project_id: str, owner: str | None, source: str) -> str:
    """An environment `pr-7` in dev's project, forked from dev as Railway makes PR environments, holding a service
    of its own (in a fork only there) with a volume, made outside the pr-7 stack."""
    env = emulator.data('mutation($p:String!,$s:String!){ environmentCreate(input:{projectId:$p, name:"pr-7", '
                        'sourceEnvironmentId:$s, ephemeral:true}){ id } }', p=project_id, s=source)[
        "environmentCreate"]["id"]
    svc = emulator.data('mutation($p:String!,$e:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, '
                        'name:"qa-app", source:{image:"qa/app:1"}}){ id } }', p=project_id, e=env)["serviceCreate"]["id"]
    emulator.data('mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, '
                  'serviceId:$s, mountPath:"/data"}){ id } }', p=project_id, e=env, s=svc)
    if owner:
        emulator.data("mutation($i:VariableCollectionUpsertInput!){ variableCollectionUpsert(input:$i) }",
                      i={"projectId": project_id, "environmentId": env, "variables": {"ACS_INFRA_OWNER": owner}})
    return env


@pytest.mark.parametrize("owner", [None, "organization/acs/pr-7@0123456789ab"])
def test_environment_of_the_same_name_is_not_adopted(owner: str | None, project: PulumiProject,
                                                     emulator: Emulator) -> None:
    """Issue 14 item 1: an environment `pr-7` in dev's project that this pr-7 stack did not make (by hand, or by a
    pr-7 stack on another backend) stops `pr up 7` before it writes anything; `pr down 7` then deletes nothing."""
    project.up("dev")
    project_id = project.outputs("dev")["projectId"]
    _hand_made_preview(emulator, project_id, owner, project.outputs("dev")["environmentId"])
    before = snapshot(emulator, project_id)
    up = cli(project, "pr", "up", "7", check=False)
    assert up.returncode == 1, up.stdout
    error = json.loads(up.stdout)["error"]
    assert "railway environment 'pr-7'" in error, error
    assert (owner or "made by hand or by another tool") in error, error
    # Adversarial pass: the streamed engine output showed the provider's traceback (pulumi/dynamic/__main__.py)
    # around the refusal; now the refusal is one line there too.
    assert "Traceback" not in up.stderr and "dynamic/__main__.py" not in up.stderr, up.stderr
    refusal = error.split("NotOwnedError: ", 1)[1].split(" | ")[0]
    assert f"error: infra.ownership.NotOwnedError: {refusal}" in [line.strip() for line in up.stderr.splitlines()]
    assert snapshot(emulator, project_id) == before
    cli(project, "pr", "down", "7")
    assert snapshot(emulator, project_id) == before


def test_environment_left_by_a_removed_stack_of_this_name_is_not_adopted(project: PulumiProject,
                                                                         emulator: Emulator) -> None:
    """The other side of item 1: the stack removed without destroying (`pulumi stack rm --force pr-7`) left its
    preview; a new pr-7 stack has another identity (adversarial pass: a reused stack name adopted and its destroy
    deleted). It is named, never adopted; what a killed run of this very stack made is adopted (test_fault_matrix,
    test_data_safety: its identity is in the checkpoint before the first object is made)."""
    project.up("dev")
    project_id = project.outputs("dev")["projectId"]
    cli(project, "pr", "up", "7")
    made = snapshot(emulator, project_id)
    project.run("stack", "rm", "--force", "--yes", stack="pr-7")
    emulator.reset_stats()
    again = cli(project, "pr", "up", "7", check=False)
    assert again.returncode == 1, again.stdout + again.stderr
    error = json.loads(again.stdout)["error"]
    assert "railway environment 'pr-7'" in error and "another identity" in error, error
    # The fork's create is refused by Railway ("already exists"), then the environment's marker is read.
    assert emulator.stats()["writes"] == {"EnvironmentFork": 1}, emulator.stats()
    assert snapshot(emulator, project_id) == made


LOST_ANSWERS = {  # how the answer to the rule's create gets lost, and the fault the emulator counts for it
    "5xx after commit": ({"error_after_commit": True, "fail_next": {"NotificationRuleCreate": 1}}, "error_after"),
    "timeout": ({"timeout_next": {"NotificationRuleCreate": 1}, "timeout_seconds": 3}, "timeout"),
}


@pytest.mark.parametrize("lost", sorted(LOST_ANSWERS))
def test_alert_rule_answer_lost_after_commit_is_not_duplicated(lost: str, project: PulumiProject,
                                                               emulator: Emulator) -> None:
    """Issue 14 item 5: a 5xx after Railway committed `notificationRuleCreate`, or an answer slower than the client's
    timeout, on a fresh stack; the rerun used to create a second alert rule. Every create is find-then-adopt: one
    rule, also when the run that made it was killed before recording it (state removed, rerun)."""
    faults, counted = LOST_ANSWERS[lost]
    project.env["ACS_RAILWAY_TIMEOUT"] = "1"
    emulator.admin("/faults", faults)
    cli(project, "up", "dev", check=False)  # may end failed: the answer never came
    assert emulator.stats()["faults"].get(counted, 0) == 1, emulator.stats()["faults"]
    deadline = time.monotonic() + 60  # the slow create commits after the client gave up: wait for it, not a time
    while not emulator.inventory()["notification_rules"] and time.monotonic() < deadline:
        time.sleep(0.05)
    cli(project, "up", "dev")  # the rerun CI would do
    project_id = project.outputs("dev")["projectId"]
    rules = [r for r in emulator.inventory()["notification_rules"] if r["projectId"] == project_id]
    assert len(rules) == 1, rules
    project.run("preview", "--expect-no-changes", "--refresh", stack="dev")
    project.run("stack", "rm", "--force", "--yes", "--preserve-config", stack="dev")
    refused = cli(project, "up", "dev", check=False)  # a new stack of that name: another identity, refused
    assert refused.returncode == 1 and "another identity" in json.loads(refused.stdout)["error"], refused.stdout
    assert [r["id"] for r in emulator.inventory()["notification_rules"]] == [rules[0]["id"]]
