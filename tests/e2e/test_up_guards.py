"""Issue 14, adversarial report adv14c B1, B6, B7: an `up` that would write into, or delete from, what other
stacks own is refused before its first write, in one line naming the owner. Each test builds the world through
the real CLI and engine, and reads everything back through the emulator."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_ownership import snapshot
from tests.e2e.test_pr_previews import cli

pytestmark = pytest.mark.e2e


def refused_line(proc: Any) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert "\n" not in error.strip(), error
    return error


def refused_up(project: PulumiProject, emulator: Emulator, stack: str, watched: str, label: str) -> str:
    """`up <stack>` refused in one line with no write, and the watched project read back unchanged."""
    before = snapshot(emulator, watched)
    emulator.reset_stats()
    error = refused_line(cli(project, "up", stack, check=False))
    assert emulator.stats()["write_total"] == 0, emulator.stats()
    print(f"{label} refusal:", emulator.stats()["total"], "calls:", error)
    assert snapshot(emulator, watched) == before
    return error


def staging_in(project: PulumiProject, project_id: str) -> None:
    """A persistent stack `staging` given an existing project by id (dev's file, its own names)."""
    doc = yaml.safe_load((project.dir / "Pulumi.dev.yaml").read_text())
    env = doc["config"]["acs:environment"]
    env.update(name="staging", project={"id": project_id}, database={"kind": "sqlite"}, secrets=[])
    env.pop("alerts", None)
    env["domain"]["subdomain"] = "acs-staging"
    env["services"][0]["name"] = "api"
    (project.dir / "Pulumi.staging.yaml").write_text(yaml.safe_dump({"config": {"acs:environment": env}},
                                                                     sort_keys=False))


def stacks(project: PulumiProject) -> list[str]:
    return [s.strip(" *") for s in project.run("stack", "ls").stdout.split()]


def test_a_persistent_stack_given_another_stacks_project_by_id_is_refused(project: PulumiProject,
                                                                           emulator: Emulator) -> None:
    """B1: `project: {id: <dev's project>}` used to create the new stack's service in dev's own environment
    (Railway makes a service created in a non-fork environment in every non-fork environment of the project),
    bypassing the `project: {stack: dev}` refusal. Refused before any write, naming dev's stack; a project made by
    hand whose environment runs a service is refused too, naming the service; an empty one given by id is fine."""
    project.up("dev")
    dev_project = project.outputs("dev")["projectId"]
    staging_in(project, dev_project)
    error = refused_up(project, emulator, "staging", dev_project, "B1 (marked project)")
    assert "organization/acs/dev@" in error and dev_project in error, error
    assert "staging" not in stacks(project)

    hand = emulator.data('mutation{ projectCreate(input:{name:"shop", description:"ours"}){ id } }')["projectCreate"]["id"]
    env = next(e["id"] for e in emulator.inventory()["environments"] if e["projectId"] == hand)
    emulator.data('mutation($p:String!,$e:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, '
                  'name:"shopfront", source:{image:"nginx"}}){ id } }', p=hand, e=env)
    staging_in(project, hand)
    error = refused_up(project, emulator, "staging", hand, "B1 (hand-made project)")
    assert "shopfront" in error and "production" in error, error

    empty = emulator.data('mutation{ projectCreate(input:{name:"empty"}){ id } }')["projectCreate"]["id"]
    staging_in(project, empty)
    cli(project, "up", "staging")
    assert project.outputs("staging")["projectId"] == empty


def with_worker(stack_file: Path, original: str) -> None:
    doc = yaml.safe_load(original)
    services = doc["config"]["acs:environment"]["services"]
    services.append({"name": "worker", "source": {"image": "ghcr.io/acs-team/acs:develop"}, "memory": "256MB",
                     "public": False})
    stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_up_never_deletes_a_service_live_previews_run(project: PulumiProject, emulator: Emulator) -> None:
    """B6: dropping a service from dev's stack file made `up dev` delete it project-wide, forks included: the
    instance a live PR preview ran went silently. Refused before any write, naming the preview and how to go on."""
    stack_file = project.dir / "Pulumi.dev.yaml"
    original = stack_file.read_text()
    with_worker(stack_file, original)
    cli(project, "up", "dev")
    cli(project, "pr", "up", "4")
    dev_project = project.outputs("dev")["projectId"]
    stack_file.write_text(original)  # the PR that drops worker is merged
    error = refused_up(project, emulator, "dev", dev_project, "B6")
    assert "pr-4" in error and "worker" in error and "pr down 4" in error and "--allow-data-loss" in error, error


def test_renaming_the_public_service_with_its_subdomain_is_refused_up_front(project: PulumiProject,
                                                                             emulator: Emulator) -> None:
    """B7: renaming dev's public service while keeping its subdomain can never converge (the new service's domain
    is made before the old one goes: "Domain is not available", a traceback, both services left). Refused before
    any write in one line, saying how to do it in two steps."""
    project.up("dev")
    dev_project = project.outputs("dev")["projectId"]
    stack_file = project.dir / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("      - name: web\n", "      - name: api\n", 1))
    error = refused_up(project, emulator, "dev", dev_project, "B7")
    assert "acs-dev" in error and "web" in error and "api" in error and "two steps" in error, error
