"""Adversarial pass on issue 14: a stack adopts by marker only what carries its own identity, a random id kept in
its state (not its name, not the text of the backend's URL), and what it was given by id it never deletes.

Each test builds the world first, runs the real CLI and engine against the emulator, and reads everything back."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_bad_input_cli import acs, no_traceback
from tests.e2e.test_ownership import snapshot
from tests.e2e.test_pr_previews import cli

pytestmark = pytest.mark.e2e


def refused_without_a_write(project: PulumiProject, emulator: Emulator, stack: str) -> str:
    emulator.reset_stats()
    up = cli(project, "up", stack, check=False)
    assert up.returncode == 1, up.stdout + up.stderr
    assert emulator.stats()["write_total"] == 0, emulator.stats()
    error = json.loads(up.stdout)["error"]
    assert "Traceback" not in error, error
    return error


def test_renamed_stack_is_not_adopted_by_a_new_stack_of_its_old_name(project: PulumiProject,
                                                                       emulator: Emulator) -> None:
    """Item 1 (data loss): `pulumi stack rename dev dev-old`, then the stack file put back as Pulumi.dev.yaml and
    `up dev`: the new dev stack adopted dev-old's project by its marker (same org/project/stack@backend) and
    `destroy dev` deleted it. Now the marker carries the identity only dev-old's state holds: refused before a
    write, and destroy dev touches nothing."""
    cli(project, "up", "dev")
    project_id = project.outputs("dev")["projectId"]
    before = snapshot(emulator, project_id)
    project.run("stack", "rename", "organization/acs/dev-old", stack="dev")
    renamed = project.dir / "Pulumi.dev-old.yaml"
    if renamed.exists():  # the engine renames the stack file too; the clone's committed file comes back
        shutil.move(renamed, project.dir / "Pulumi.dev.yaml")
    error = refused_without_a_write(project, emulator, "dev")
    assert "railway project 'acs'" in error and "organization/acs/dev@" in error, error
    cli(project, "destroy", "dev")
    assert snapshot(emulator, project_id) == before
    assert len(emulator.inventory()["projects"]) == 1


def test_removed_stack_is_not_adopted_by_a_new_stack_of_its_name(project: PulumiProject, emulator: Emulator) -> None:
    """Item 1, the other way to it: `pulumi stack rm --force dev` (the project stays), then `up dev` again makes a
    new stack of that name. Its identity is new: the project left behind is named, not adopted."""
    cli(project, "up", "dev")
    project_id = project.outputs("dev")["projectId"]
    before = snapshot(emulator, project_id)
    project.run("stack", "rm", "--force", "--yes", "--preserve-config", stack="dev")
    error = refused_without_a_write(project, emulator, "dev")
    assert "another identity" in error and "delete it by hand" in error, error
    assert snapshot(emulator, project_id) == before


def test_same_backend_url_on_two_machines_is_not_one_owner(project: PulumiProject, emulator: Emulator) -> None:
    """Item 2 (data loss): the marker's backend was a hash of the URL text, so two CI runners with one workspace
    path (or two laptops with `file://~/.pulumi-state`) wrote the same marker and each adopted the other's project;
    destroy on one deleted the other's. Runner B here has its own, empty backend at the same path: it is refused
    before a write and its destroy deletes nothing of A's."""
    cli(project, "up", "dev")
    project_id = project.outputs("dev")["projectId"]
    before = snapshot(emulator, project_id)
    state = project.dir.parent / "state"
    state.rename(state.with_name("state-of-runner-a"))  # runner B: same URL text, another disk
    state.mkdir()
    error = refused_without_a_write(project, emulator, "dev")
    assert "railway project 'acs'" in error and "another identity" in error, error
    cli(project, "destroy", "dev")
    assert snapshot(emulator, project_id) == before


def test_checkpoint_lost_after_a_first_up_names_the_leftover(project: PulumiProject, emulator: Emulator) -> None:
    """Item 1+2, recover after a killed FIRST up whose checkpoint was lost with no intact copy: `recover` starts
    from an empty checkpoint, so the stack gets a new identity. What the killed run made carries the old one: it
    is named (delete it by hand), never adopted, and nothing is duplicated or deleted."""
    cli(project, "up", "dev")
    project_id = project.outputs("dev")["projectId"]
    before = snapshot(emulator, project_id)
    stacks = project.dir.parent / "state/.pulumi/stacks/acs"
    (stacks / "dev.json").write_text("")
    for kept in [*stacks.glob("dev.json.*"), *(project.dir.parent / "state/.pulumi").glob("backups/acs/dev/*")]:
        kept.unlink()
    emulator.reset_stats()
    recovered = cli(project, "recover", "dev", check=False)
    assert recovered.returncode == 1, recovered.stdout + recovered.stderr
    error = json.loads(recovered.stdout)["error"]
    assert "another identity" in error and "delete it by hand" in error, error
    assert emulator.stats()["write_total"] == 0, emulator.stats()
    assert snapshot(emulator, project_id) == before and len(emulator.inventory()["projects"]) == 1


def test_old_markers_are_migrated_by_the_stack_that_holds_them(project: PulumiProject, emulator: Emulator) -> None:
    """Markers of the previous format (`org/project/stack@backend`, no identity) keep working for the stack whose
    state holds the object: its next up makes its identity and rewrites them; afterwards an up writes nothing."""
    cli(project, "up", "dev")
    project_id = project.outputs("dev")["projectId"]
    state = json.loads(project.export("dev"))
    ident = [r["urn"] for r in state["deployment"]["resources"] if r["urn"].endswith("-identity")]
    assert len(ident) == 1
    state["deployment"]["resources"] = [r for r in state["deployment"]["resources"] if r["urn"] not in ident]
    for res in state["deployment"]["resources"]:  # as a state written before the identity existed
        res["dependencies"] = [d for d in res.get("dependencies") or [] if d not in ident]
        res["propertyDependencies"] = {k: [d for d in v if d not in ident]
                                       for k, v in (res.get("propertyDependencies") or {}).items()}
    old_state = project.dir / "old.json"
    old_state.write_text(re.sub(r"#[0-9a-f]{16}", "", json.dumps(state)))
    project.run("stack", "import", "--file", str(old_state), stack="dev")
    old = re.sub(r"#[0-9a-f]{16}", "", next(p for p in emulator.inventory()["projects"]
                                             if p["id"] == project_id)["description"])
    emulator.data('mutation($id:String!,$d:String!){ projectUpdate(id:$id, input:{description:$d}){ id } }',
                  id=project_id, d=old)
    cli(project, "up", "dev")
    now = next(p for p in emulator.inventory()["projects"] if p["id"] == project_id)["description"]
    assert re.fullmatch(re.escape(old) + r"#[0-9a-f]{16}", now), (old, now)
    emulator.reset_stats()
    cli(project, "up", "dev")
    assert emulator.stats()["write_total"] == 0


def _set_project(project: PulumiProject, stack: str, ref: str) -> None:
    path = project.dir / f"Pulumi.{stack}.yaml"
    path.write_text(path.read_text().replace("    project:\n      name: acs\n", f"    project:\n      {ref}\n", 1))


def test_switching_to_the_same_project_by_id_never_deletes_it(project: PulumiProject, emulator: Emulator) -> None:
    """Item 3 (data loss): `project: {name: acs}` -> `project: {id: <that project's id>}` made the engine delete the
    project (the Project resource left the program). Refused before any call, naming the key."""
    cli(project, "up", "dev")
    project_id = project.outputs("dev")["projectId"]
    before = snapshot(emulator, project_id)
    _set_project(project, "dev", f"id: {project_id}")
    path = project.dir / "Pulumi.dev.yaml"  # alerts are the project-making stack's: gone with project.name
    text = path.read_text()
    path.write_text(text[:text.index("    alerts:")] + text[text.index("    secrets:"):])
    emulator.reset_stats()
    up = cli(project, "up", "dev", check=False)
    assert up.returncode == 1, up.stdout + up.stderr
    error = json.loads(up.stdout)["error"]
    assert "acs:environment.project" in error and project_id in error, error
    assert emulator.stats()["write_total"] == 0, emulator.stats()
    assert snapshot(emulator, project_id) == before


def test_alerts_on_a_project_given_by_id_are_refused_before_any_call(project: PulumiProject,
                                                                     emulator: Emulator) -> None:
    """Item 6: `project: {id: <prod's id>}` plus `alerts:` on another stack made the environment, then raised the
    alerts error. Bad config: refused before any API call, naming the key."""
    project.up("prod")
    prod_id = project.outputs("prod")["projectId"]
    staging = (project.dir / "Pulumi.dev.yaml").read_text().replace("    name: dev\n", "    name: staging\n", 1)
    (project.dir / "Pulumi.staging.yaml").write_text(staging.replace("subdomain: acs-dev", "subdomain: acs-stg"))
    _set_project(project, "staging", f"id: {prod_id}")
    before = snapshot(emulator, prod_id)
    emulator.reset_stats()
    up = cli(project, "up", "staging", check=False)
    assert up.returncode == 1, up.stdout + up.stderr
    error = json.loads(up.stdout)["error"]
    assert "alerts" in error and "project.name" in error, error
    assert emulator.stats()["write_total"] == 0, emulator.stats()
    assert snapshot(emulator, prod_id) == before


def test_wrong_token_on_an_existing_stack_is_one_line(project: PulumiProject, emulator: Emulator) -> None:
    """Item 5: `acs-infra up dev` with a wrong RAILWAY_TOKEN on an existing stack ended in a Python traceback. One
    line naming the token's variable, exit 1, the token never printed."""
    cli(project, "up", "dev")
    stack_file = project.dir / "Pulumi.dev.yaml"  # a change to make: a no-op up makes no call at all
    stack_file.write_text(stack_file.read_text().replace("LOG_LEVEL: debug", "LOG_LEVEL: info"))
    wrong = "wrong-token-0123456789"
    proc = acs(project, "up", "dev", env={"RAILWAY_API_TOKEN": "", "RAILWAY_TOKEN": wrong})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    no_traceback(proc)
    assert "RAILWAY_TOKEN" in proc.stderr and "Not Authorized" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert wrong not in proc.stdout + proc.stderr
