"""A PR preview's secrets through the real CLI and the emulator: they are only the ones the tool generated for the
preview (or CI gave as ACS_PREVIEW_<NAME>), never dev's or prod's (issue 14, adversarial report 2, B4), and every
clone sharing the backend uses the ones the stack recorded (B3)."""
from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Emulator, PulumiProject, copy_project
from tests.e2e.test_pr_data_safety import environment
from tests.e2e.test_pr_previews import cli, result

pytestmark = pytest.mark.e2e

NAMES = ("API_KEY", "JWT_SECRET", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET")


@pytest.fixture
def dev(project: PulumiProject) -> dict[str, Any]:
    project.up("dev")
    return project.outputs("dev")


def stack_secrets(project: PulumiProject, stack: str) -> dict[str, str]:
    """The secrets a stack file holds, decrypted (the stack must exist in the backend)."""
    raw = json.loads(project.run("config", "--show-secrets", "--json", stack=stack).stdout)
    return {k.split(":", 1)[1]: v["value"] for k, v in raw.items() if k.split(":", 1)[1] in NAMES}


def prod_secrets(project: PulumiProject) -> dict[str, str]:
    project.run("stack", "init", "prod")  # no resources: only so the CLI decrypts prod's committed file
    values = stack_secrets(project, "prod")
    assert sorted(values) == sorted(NAMES), "prod's file holds its secrets (the checks below prove nothing otherwise)"
    return values


def live_secrets(emulator: Emulator, env_id: str) -> dict[str, str]:
    config = environment(emulator, env_id)["config"]
    (service,) = config["services"].values()
    return {k: v["value"] for k, v in service["variables"].items() if k in NAMES}


def assert_refused(proc: Any, emulator: Emulator, *needles: str, values: dict[str, str], reads: int = 0) -> None:
    assert proc.returncode != 0, proc.stdout
    error = json.loads(proc.stdout)["error"]
    assert "Traceback" not in proc.stdout + proc.stderr
    for needle in needles:
        assert needle in error, error
    stats = emulator.stats()
    assert stats["write_total"] == 0 and stats["total"] <= reads, ("refused before any API write", stats)
    assert not [v for v in values.values() if v in proc.stdout + proc.stderr], "no secret value in the output"


def test_a_copy_of_prods_stack_file_is_refused_as_a_preview(project: PulumiProject, emulator: Emulator,
                                                            dev: dict[str, Any]) -> None:
    """B4: `cp Pulumi.prod.yaml Pulumi.pr-7.yaml; acs-infra up pr-7` put prod's API key, JWT secret and OAuth
    credentials into the preview. A preview file holding an acs:environment is refused, naming key and file."""
    prod = prod_secrets(project)
    shutil.copy(project.dir / "Pulumi.prod.yaml", project.dir / "Pulumi.pr-7.yaml")
    emulator.reset_stats()
    for args in (("up", "pr-7"), ("pr", "up", "7")):
        assert_refused(cli(project, *args, check=False), emulator, "Pulumi.pr-7.yaml", "acs:environment",
                       values=prod)
    assert not [e for e in emulator.inventory()["environments"] if e["name"] == "pr-7"]


def test_a_preview_file_with_prods_salt_and_ciphertexts_is_refused(project: PulumiProject, emulator: Emulator,
                                                                   dev: dict[str, Any]) -> None:
    """B4, minimal variant: the shape of a generated preview file, carrying prod's salt and ciphertexts."""
    prod = prod_secrets(project)
    doc = yaml.safe_load((project.dir / "Pulumi.prod.yaml").read_text())
    shaped = {"encryptionsalt": doc["encryptionsalt"],
              "config": {k: v for k, v in doc["config"].items() if k != "acs:environment"}}
    (project.dir / "Pulumi.pr-8.yaml").write_text(yaml.safe_dump(shaped))
    emulator.reset_stats()
    assert_refused(cli(project, "pr", "up", "8", check=False), emulator, "Pulumi.pr-8.yaml", "encryptionsalt",
                   "Pulumi.prod.yaml", values=prod)
    assert not [e for e in emulator.inventory()["environments"] if e["name"] == "pr-8"]


def test_a_preview_file_holding_prods_secret_values_is_refused(project: PulumiProject, emulator: Emulator,
                                                               dev: dict[str, Any]) -> None:
    """B4, re-encrypted variant: a preview file of its own salt whose secrets were set to prod's (or dev's)
    values. The values are compared decrypted, in process; the error names the key, never the value."""
    prod = prod_secrets(project)
    project.run("stack", "init", "pr-9")
    for name in NAMES:
        project.run("config", "set", "--secret", f"acs:{name}", prod[name] if name == "JWT_SECRET" else "x" * 40,
                    stack="pr-9")
    emulator.reset_stats()
    assert_refused(cli(project, "pr", "up", "9", check=False), emulator, "Pulumi.pr-9.yaml", "acs:JWT_SECRET",
                   "prod", values=prod, reads=1)  # the token and budget read an existing stack's up makes first


def clone(project: PulumiProject, tmp_path: Path) -> PulumiProject:
    """A second clone of the repository on the same backend (same passphrase, same token)."""
    (tmp_path / "clone2").mkdir()
    return PulumiProject(copy_project(tmp_path / "clone2"), project.env)


def test_two_clones_use_the_secrets_the_stack_recorded(project: PulumiProject, emulator: Emulator,
                                                       dev: dict[str, Any], tmp_path: Path) -> None:
    """B3: each clone held its own generated Pulumi.pr-6.yaml, and every `pr up 6` from the other clone rotated the
    live secrets. Sequentially: clone 1's first run fails after generating its file (no record yet), clone 2
    makes the preview (and the record), then clone 1 runs again: it takes the recorded secrets, changes nothing."""
    other = clone(project, tmp_path)
    emulator.admin("/faults", {"fail_next": {"EnvironmentPatchCommit": 50}})
    assert cli(project, "pr", "up", "6", check=False).returncode != 0
    assert emulator.stats()["faults"].get("error", 0) >= 1, "clone 1's first run was failed by the fault"
    emulator.admin("/faults", {"fail_next": {}})
    up = result(cli(other, "pr", "up", "6"))
    env_id = up["outputs"]["environmentId"]
    recorded = live_secrets(emulator, env_id)
    assert sorted(recorded) == sorted(NAMES)
    assert stack_secrets(project, "pr-6") != recorded, "clone 1's own generated file disagrees (the bug's set-up)"
    outputs = []
    for runner in (project, other, project):
        emulator.reset_stats()
        proc = cli(runner, "pr", "up", "6")
        outputs.append(proc.stdout + proc.stderr)
        assert emulator.stats()["write_total"] == 0, ("no rotation", emulator.stats())
        assert live_secrets(emulator, env_id) == recorded
    assert stack_secrets(project, "pr-6") == recorded, "clone 1's file now holds the recorded secrets"
    assert not [v for v in recorded.values() for text in outputs if v in text], "no secret value in the output"


def test_two_first_runs_at_once_from_two_clones_end_with_one_set(project: PulumiProject, emulator: Emulator,
                                                                 dev: dict[str, Any], tmp_path: Path) -> None:
    """B3: two clones run the first `pr up 6` at once. Whatever the order, the end has one set of secrets: live,
    recorded and in both clones' files after their next run, which changes nothing."""
    other = clone(project, tmp_path)
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda p: cli(p, "pr", "up", "6", check=False), (project, other)))
    assert [p.returncode for p in procs] == [0, 0], [p.stderr[-800:] for p in procs]
    # adv17 break 2: the run that came second (it waited on the lock, or found the preview made) changes nothing
    changes = sorted((set(result(p)["changes"]) for p in procs), key=lambda c: "create" in c)
    assert changes[0] == {"same"} and "create" in changes[1], changes
    env_id = result(procs[0])["outputs"]["environmentId"]
    live = live_secrets(emulator, env_id)
    assert project.outputs("pr-6", secrets=True)["previewSecrets"] == live
    for runner in (project, other):
        emulator.reset_stats()
        cli(runner, "pr", "up", "6")
        assert emulator.stats()["write_total"] == 0, ("no rotation", emulator.stats())
        assert stack_secrets(runner, "pr-6") == live
    assert live_secrets(emulator, env_id) == live
    assert not [v for v in live.values() for p in procs if v in p.stdout + p.stderr], "no secret value in the output"


def test_recover_from_a_fresh_clone_reuses_the_recorded_secrets(project: PulumiProject, emulator: Emulator,
                                                                dev: dict[str, Any], tmp_path: Path) -> None:
    """Break 3 (adv17): `recover pr-<N>` on a runner with a fresh clone (no Pulumi.pr-N.yaml) failed with "missing
    secret" for every secret and left a stack file holding only the salt. It takes the recorded secrets, as
    `pr up` does: nothing changes in Railway, and the clone's file then holds them."""
    env_id = result(cli(project, "pr", "up", "5"))["outputs"]["environmentId"]
    recorded = live_secrets(emulator, env_id)
    other = clone(project, tmp_path)
    assert not (other.dir / "Pulumi.pr-5.yaml").exists()
    emulator.reset_stats()
    proc = cli(other, "recover", "pr-5", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-1500:]
    assert result(proc)["action"] == "recovered"
    assert emulator.stats()["write_total"] == 0, ("no rotation", emulator.stats())
    assert live_secrets(emulator, env_id) == recorded
    assert stack_secrets(other, "pr-5") == recorded
    assert not [v for v in recorded.values() if v in proc.stdout + proc.stderr], "no secret value in the output"


def test_a_choice_made_before_the_lock_loses_to_the_record_made_meanwhile(project: PulumiProject, emulator: Emulator,
                                                                          dev: dict[str, Any], tmp_path: Path) -> None:
    """Break 2 (adv17): two clones ran `pr up 21` at once; the one that waited on the stack's lock had chosen its
    secrets before the wait (its own new values: no record yet) and re-keyed the live preview the other had just
    made. The record is read again under the lock, by the engine run itself: a clone whose file holds other values
    when its engine run gets the lock (the waiter's state) keeps the recorded set and changes nothing."""
    env_id = result(cli(project, "pr", "up", "6"))["outputs"]["environmentId"]
    recorded = live_secrets(emulator, env_id)
    other = clone(project, tmp_path)
    for name in NAMES:  # the waiter's own choice, made before the record existed
        other.run("config", "set", "--secret", f"acs:{name}", f"stale-{name.lower()}-value", stack="pr-6")
    emulator.reset_stats()
    other.run("up", "--yes", "--skip-preview", stack="pr-6")
    assert emulator.stats()["write_total"] == 0, ("no rotation", emulator.stats())
    assert live_secrets(emulator, env_id) == recorded
    assert project.outputs("pr-6", secrets=True)["previewSecrets"] == recorded
    assert not [v for v in recorded.values() if v in project.state_text()], "no secret value in the state"
