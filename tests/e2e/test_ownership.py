"""Issue 14 items 1 and 5: a stack adopts at create time only what it made itself (its marker) or was given by id.

Each test builds the foreign object first, runs the real CLI/engine, and reads everything back through the
emulator."""
from __future__ import annotations

import json
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
    assert "Traceback" not in error
    print(error)

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
