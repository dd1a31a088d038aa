"""PR previews are forks of dev: `pr up`, `pr down` and `pr gc` through the real CLI touch only the preview.

Each test first builds a world holding things the command must not touch (dev's services, shared by every fork;
a hand-made volume; a fork someone made by hand), runs the command, and reads everything back through the
emulator's API.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_pr_previews import cli, result

pytestmark = pytest.mark.e2e

ENV = """query($e:String!){ environment(id:$e){ id name sourceEnvironment { id }
  serviceInstances { edges { node { id serviceId serviceName source { image } preDeployCommand
    domains { serviceDomains { id domain } } } } }
  volumeInstances { edges { node { id volumeId serviceId mountPath sizeMB } } }
  config(decryptVariables: true) } }"""
PROJECT = """query($p:String!){ project(id:$p){ services { edges { node { id name } } }
  volumes { edges { node { id name } } } } }"""
FORK = ("mutation($p:String!,$s:String!,$n:String!){ environmentCreate(input:{projectId:$p, name:$n, "
        "sourceEnvironmentId:$s, ephemeral:true}){ id } }")
HAND_MADE_VOLUME = ("mutation($p:String!,$e:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, "
                    "mountPath:\"/qa-data\"}){ id } }")
MARK = ("mutation($p:String!,$e:String!,$v:EnvironmentVariables!){ variableCollectionUpsert(input:{projectId:$p, "
        "environmentId:$e, variables:$v, skipDeploys:true}) }")
GC_TABLES = ("environments", "instances", "volume_instances", "service_domains", "custom_domains", "backups",
             "services", "volumes")


def gc_keeping_some(project: PulumiProject, emulator: Emulator
                    ) -> Iterator[tuple[bool, subprocess.CompletedProcess[str], dict[str, Any]]]:
    """`pr gc --open none`, dry run then real run (stats reset before each), both keeping something (exit 2)."""
    for dry in (["--dry-run"], []):
        emulator.reset_stats()
        gc = cli(project, "pr", "gc", "--open", "none", *dry, check=False)
        assert gc.returncode == 2, gc.stdout + gc.stderr
        yield bool(dry), gc, result(gc)


def environment(emulator: Emulator, env_id: str) -> dict[str, Any]:
    return emulator.data(ENV, e=env_id)["environment"]


def project_view(emulator: Emulator, project_id: str) -> dict[str, set[str]]:
    p = emulator.data(PROJECT, p=project_id)["project"]
    return {kind: {e["node"]["id"] for e in p[kind]["edges"]} for kind in ("services", "volumes")}


def instance_names(env: dict[str, Any]) -> list[str]:
    return sorted(e["node"]["serviceName"] for e in env["serviceInstances"]["edges"])


def left_by_a_killed_preview(emulator: Emulator, project: PulumiProject, dev: dict[str, Any], number: int,
                             monkeypatch: pytest.MonkeyPatch) -> str:
    """A fork marked by stack pr-<number> of this backend whose stack is gone (its state was lost)."""
    from infra.ownership import OWNER_VARIABLE, backend_id
    monkeypatch.setenv("PULUMI_BACKEND_URL", project.env["PULUMI_BACKEND_URL"])
    env = emulator.data(FORK, p=dev["projectId"], s=dev["environmentId"], n=f"pr-{number}")["environmentCreate"]["id"]
    emulator.data(MARK, p=dev["projectId"], e=env, v={OWNER_VARIABLE: f"organization/acs/pr-{number}@{backend_id()}"})
    return env


def ids(emulator: Emulator) -> set[str]:
    inventory = emulator.inventory()
    return {row["id"] for table in GC_TABLES for row in inventory[table]}


@pytest.fixture
def dev(project: PulumiProject, emulator: Emulator) -> dict[str, Any]:
    """dev as its stack declares it, plus a volume QA made by hand (no stack owns it)."""
    project.up("dev")
    out = project.outputs("dev")
    out["handMadeVolume"] = emulator.data(HAND_MADE_VOLUME, p=out["projectId"], e=out["environmentId"])[
        "volumeCreate"]["id"]
    return out


def test_pr_up_and_down_leave_dev_and_the_project_as_they_were(project: PulumiProject, emulator: Emulator,
                                                                dev: dict[str, Any]) -> None:
    """Issue 15: `pr up 42` forks dev and shapes the fork; dev keeps exactly its declared services and the
    project gains no service; `pr down 42` removes only the fork. Up in at most 5 API calls (the token check of a new
    stack, then 4), down in 1."""
    before_dev, before_project = environment(emulator, dev["environmentId"]), project_view(emulator, dev["projectId"])
    assert instance_names(before_dev) == ["Postgres", "web"]

    emulator.reset_stats()
    up = result(cli(project, "pr", "up", "42"))
    assert emulator.stats()["total"] <= 5, emulator.stats()
    assert up["url"] == "https://acs-pr-42.up.railway.app"

    after_dev = environment(emulator, dev["environmentId"])
    assert after_dev == before_dev, "nothing of PR 42 reaches dev"
    assert project_view(emulator, dev["projectId"]) == before_project, "the project gains no service or volume"
    fork = environment(emulator, up["outputs"]["environmentId"])
    assert fork["sourceEnvironment"] == {"id": dev["environmentId"]}, "the preview is a fork of dev"
    assert instance_names(fork) == ["web"] and fork["volumeInstances"]["edges"] == [], \
        "the fork's Postgres and volume instances are removed: SQLite instead of dev's database"
    web = fork["serviceInstances"]["edges"][0]["node"]
    assert web["serviceId"] == dev["serviceIds"]["web"], "same service as dev's web, its own instance"
    assert web["source"]["image"] == "ghcr.io/acs-team/acs:pr-42"
    assert [d["domain"] for d in web["domains"]["serviceDomains"]] == ["acs-pr-42.up.railway.app"]
    variables = {k: v["value"] for k, v in fork["config"]["services"][web["serviceId"]]["variables"].items()}
    dev_variables = {k: v["value"] for k, v in before_dev["config"]["services"][web["serviceId"]]["variables"].items()}
    assert variables["DATABASE_KIND"] == "sqlite" and variables["PR_NUMBER"] == "42"
    assert not [k for k in variables if variables[k] == dev_variables.get(k) and k in ("API_KEY", "JWT_SECRET")]
    assert "postgres" not in variables["DATABASE_URL"].lower()
    assert fork["config"]["sharedVariables"]["ACS_INFRA_OWNER"]["value"].startswith("organization/acs/pr-42@")
    limits = fork["config"]["services"][web["serviceId"]]["deploy"]["limitOverride"]["containers"]
    assert limits["memoryBytes"] == 256 * 1024 ** 2
    drift = cli(project, "drift", "pr-42", check=False)
    assert drift.returncode == 0, drift.stdout  # the fork read back is what the preview declares
    emulator.data("mutation($i:ServiceInstanceLimitsUpdateInput!){ serviceInstanceLimitsUpdate(input:$i) }",
                  i={"environmentId": fork["id"], "serviceId": web["serviceId"], "memoryGB": 1})
    drift = cli(project, "drift", "pr-42", check=False)
    assert drift.returncode == 2 and "memory_bytes" in drift.stdout, drift.stdout

    emulator.reset_stats()
    down = result(cli(project, "pr", "down", "42"))
    # one read (does the fork hold anything the stack did not make?) and the one delete
    assert down["action"] == "destroyed" and emulator.stats()["write_total"] == 1, emulator.stats()
    assert emulator.stats()["total"] <= 2, emulator.stats()
    assert environment(emulator, dev["environmentId"]) == before_dev
    assert project_view(emulator, dev["projectId"]) == before_project
    assert emulator.gql(ENV, e=up["outputs"]["environmentId"])["errors"][0]["message"] == "Environment not found"


def test_gc_deletes_exactly_what_its_dry_run_lists_and_never_dev(project: PulumiProject, emulator: Emulator,
                                                                 dev: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14 item 2: a fork (the way Railway's own PR environments and `railway environment new --copy` make
    them) shares dev's service ids and holds an instance of dev's volumes. `pr gc` removes environments and their
    own instances only, never a service or volume that lives on in dev, and only environments a PR stack made:
    a fork made by hand is left alone. `--dry-run` lists every object and the real run deletes exactly those."""
    cli(project, "pr", "up", "1")
    cli(project, "pr", "up", "2")
    orphan = left_by_a_killed_preview(emulator, project, dev, 78, monkeypatch)
    by_hand = emulator.data(FORK, p=dev["projectId"], s=dev["environmentId"], n="pr-77")["environmentCreate"]["id"]
    assert instance_names(environment(emulator, orphan)) == ["Postgres", "web"]
    before_dev, before_project = environment(emulator, dev["environmentId"]), project_view(emulator, dev["projectId"])
    before_by_hand = environment(emulator, by_hand)
    pr2 = environment(emulator, result(cli(project, "pr", "list"))[1]["environment_id"])

    world = ids(emulator)
    dry = result(cli(project, "pr", "gc", "--open", "2", "--dry-run"))
    assert ids(emulator) == world, "a dry run deletes nothing"
    listed = {o["id"] for o in dry["objects"]}
    kinds = {o["kind"] for o in dry["objects"]}
    assert kinds == {"environment", "service instance", "volume instance", "domain"}, dry["objects"]
    assert orphan in listed and not listed & (before_project["services"] | before_project["volumes"])
    assert by_hand not in listed and [e["name"] for e in dry["left_environments"]] == ["pr-77"]

    gc = result(cli(project, "pr", "gc", "--open", "2"))
    assert {o["id"] for o in gc["objects"]} == listed
    assert world - ids(emulator) == listed, "the real run deletes exactly the listed objects"
    assert environment(emulator, dev["environmentId"]) == before_dev
    assert project_view(emulator, dev["projectId"]) == before_project
    assert environment(emulator, pr2["id"]) == pr2
    assert environment(emulator, by_hand) == before_by_hand, "a fork no PR stack made is not gc's to delete"


def test_pr_up_never_takes_over_a_fork_it_did_not_make(project: PulumiProject, emulator: Emulator,
                                                      dev: dict[str, Any]) -> None:
    """A fork named pr-9 made by hand (no marker of stack pr-9) stops `pr up 9` before its first write, naming
    the owner; the hand-made fork and dev stay as they were."""
    by_hand = emulator.data(FORK, p=dev["projectId"], s=dev["environmentId"], n="pr-9")["environmentCreate"]["id"]
    before, before_dev = environment(emulator, by_hand), environment(emulator, dev["environmentId"])
    emulator.reset_stats()
    refused = cli(project, "pr", "up", "9", check=False)
    assert refused.returncode == 1 and "belongs to nobody known to acs-infra" in refused.stdout, refused.stdout
    assert emulator.stats()["write_total"] == 1, "only the refused environmentCreate"
    assert environment(emulator, by_hand) == before and environment(emulator, dev["environmentId"]) == before_dev


HAND_MADE_DATABASE = ("mutation($p:String!,$e:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, "
                      "name:\"qa-db\", source:{image:\"postgres:16\"}}){ id } }")
HAND_MADE_DATA = ("mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, "
                  "serviceId:$s, mountPath:\"/var/lib/postgresql/data\"}){ id } }")


def hand_made_database(emulator: Emulator, project_id: str, env_id: str) -> tuple[str, str]:
    """(service id, volume id) of a Postgres someone made by hand in a preview's environment."""
    service = emulator.data(HAND_MADE_DATABASE, p=project_id, e=env_id)["serviceCreate"]["id"]
    return service, emulator.data(HAND_MADE_DATA, p=project_id, e=env_id, s=service)["volumeCreate"]["id"]


def test_pr_down_refuses_a_preview_holding_a_hand_made_database(project: PulumiProject, emulator: Emulator,
                                                                dev: dict[str, Any]) -> None:
    """Adversarial finding (a): a Postgres with its volume made by hand in pr-8 stops `pr down 8` before any
    delete, naming both; nothing is deleted and the stack stays (the same check `destroy` makes)."""
    env = result(cli(project, "pr", "up", "8"))["outputs"]["environmentId"]
    hand_made_database(emulator, dev["projectId"], env)
    world = ids(emulator)
    emulator.reset_stats()
    refused = cli(project, "pr", "down", "8", check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "service qa-db in pr-8" in refused.stdout and "volume at /var/lib/postgresql/data in pr-8" in \
        refused.stdout and "no stack manages" in refused.stdout, refused.stdout
    assert emulator.stats()["write_total"] == 0, emulator.stats()
    assert ids(emulator) == world
    assert [s["stack"] for s in result(cli(project, "pr", "list"))] == ["pr-8"]


def test_pr_gc_refuses_a_closed_preview_holding_a_hand_made_volume(project: PulumiProject, emulator: Emulator,
                                                                   dev: dict[str, Any]) -> None:
    """Adversarial finding (a) through gc: closed pr-7 holds a hand-made volume; `pr gc --open 8` (dry run and
    real run) keeps it, naming the volume, and exits 2; open pr-8 stays too, so nothing is deleted (B7: a kept
    preview no longer stops gc from removing the others, see below)."""
    cli(project, "pr", "up", "8")
    env = result(cli(project, "pr", "up", "7"))["outputs"]["environmentId"]
    emulator.data(HAND_MADE_VOLUME, p=dev["projectId"], e=env)
    world = ids(emulator)
    for dry in (["--dry-run"], []):
        emulator.reset_stats()
        refused = cli(project, "pr", "gc", "--open", "8", *dry, check=False)
        assert refused.returncode == 2 and "volume at /qa-data in pr-7" in refused.stdout, refused.stdout
        assert [k["stack"] for k in result(refused)["kept_stacks"]] == ["pr-7"]
        assert emulator.stats()["write_total"] == 0 and ids(emulator) == world
    assert [s["stack"] for s in result(cli(project, "pr", "list"))] == ["pr-7", "pr-8"]


def test_pr_gc_leaves_a_copy_of_a_preview_alone(project: PulumiProject, emulator: Emulator,
                                                dev: dict[str, Any]) -> None:
    """Adversarial finding (b): `railway environment new --copy` of pr-7 inherits pr-7's owner marker, but the
    marker owns only the environment named pr-7: gc removes pr-7 and lists pr-7-copy (with its hand-made
    volume) as left alone; dry run and real run agree."""
    cli(project, "pr", "up", "8")
    pr7 = result(cli(project, "pr", "up", "7"))["outputs"]["environmentId"]
    copy = emulator.data(FORK, p=dev["projectId"], s=pr7, n="pr-7-copy")["environmentCreate"]["id"]
    assert environment(emulator, copy)["config"]["sharedVariables"]["ACS_INFRA_OWNER"]["value"].startswith(
        "organization/acs/pr-7@"), "the copy carries pr-7's marker (the premise of the finding)"
    volume = emulator.data(HAND_MADE_VOLUME, p=dev["projectId"], e=copy)["volumeCreate"]["id"]
    before_copy = environment(emulator, copy)
    in_copy = {e["node"]["id"] for kind in ("serviceInstances", "volumeInstances") for e in before_copy[kind]["edges"]}
    assert volume in {e["node"]["volumeId"] for e in before_copy["volumeInstances"]["edges"]}

    world = ids(emulator)
    dry = result(cli(project, "pr", "gc", "--open", "8", "--dry-run"))
    assert ids(emulator) == world
    listed = {o["id"] for o in dry["objects"]}
    assert pr7 in listed and not listed & ({copy} | in_copy), dry["objects"]
    assert dry["removed_environments"] == [] and [e["name"] for e in dry["left_environments"]] == ["pr-7-copy"]
    gc = result(cli(project, "pr", "gc", "--open", "8"))
    assert {o["id"] for o in gc["objects"]} == listed and world - ids(emulator) == listed
    after_copy = environment(emulator, copy)
    assert after_copy["sourceEnvironment"] is None, "its source, pr-7, is gone"
    assert {**after_copy, "sourceEnvironment": None} == {**before_copy, "sourceEnvironment": None}, \
        "the copy and its volume are not gc's to delete"


PROJECT_ENVIRONMENTS = """query($p:String!){ environments(projectId:$p){ edges { node { id name
  config(decryptVariables: true) } } } }"""


def dev_secret_values(emulator: Emulator, dev: dict[str, Any]) -> set[str]:
    """The values of dev's stack secrets as dev's web service holds them on Railway."""
    names = {"API_KEY", "JWT_SECRET", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"}
    config = environment(emulator, dev["environmentId"])["config"]
    variables = config["services"][dev["serviceIds"]["web"]]["variables"]
    values = {v["value"] for k, v in variables.items() if k in names}
    assert len(values) == len(names), "dev holds its secrets (the check below would prove nothing otherwise)"
    return values


def test_a_failed_shaping_patch_leaves_no_dev_secret_in_the_preview(project: PulumiProject, emulator: Emulator,
                                                                    dev: dict[str, Any]) -> None:
    """A fork copies dev's variables, secrets included, and dev's Postgres; the shaping patch replaces them. When
    that patch fails (every retry answered 503), the preview must not keep dev's copies: no environment of the
    project but dev holds a dev secret value or a Postgres instance afterwards, and the next `pr up` completes."""
    secrets = dev_secret_values(emulator, dev)
    emulator.admin("/faults", {"fail_next": {"EnvironmentPatchCommit": 50}})
    failed = cli(project, "pr", "up", "6", check=False)
    assert failed.returncode != 0, failed.stdout
    assert emulator.stats()["faults"].get("error", 0) >= 1, "the shaping patch was failed by the fault"
    assert "Traceback" not in json.loads(failed.stdout)["error"]
    assert not any(s in failed.stdout + failed.stderr for s in secrets), "no secret in the error"
    emulator.admin("/faults", {"fail_next": {}})
    for env in emulator.data(PROJECT_ENVIRONMENTS, p=dev["projectId"])["environments"]["edges"]:
        node = env["node"]
        if node["id"] == dev["environmentId"]:
            continue
        held = json.dumps(node["config"])
        assert not [s for s in secrets if s in held], f"{node['name']} holds a dev secret value"
        assert "Postgres" not in instance_names(environment(emulator, node["id"])), f"{node['name']}: dev's database"
    up = result(cli(project, "pr", "up", "6"))  # the next run makes the preview
    fork = environment(emulator, up["outputs"]["environmentId"])
    assert instance_names(fork) == ["web"]
    assert not [s for s in secrets if s in json.dumps(fork["config"])]


UPLOADS = ("mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, "
           "serviceId:$s, mountPath:\"/uploads\"}){ id } }")
BACKUPS = "query($v:String!){ volumeInstanceBackupList(volumeInstanceId:$v){ id name } }"
INSTANCE = ("query($i:String!){ volumeInstance(id:$i){ id volumeId environmentId serviceId mountPath sizeMB "
            "currentSizeMB state volume { id name } } }")


def uploads_on_dev_web(emulator: Emulator, dev: dict[str, Any]) -> dict[str, Any]:
    """QA's uploads: a volume a colleague attached by hand to dev's web service in dev, with a backup of its
    instance in dev. Returns what must survive every preview command: the volume, its dev instance, its backups."""
    volume = emulator.data(UPLOADS, p=dev["projectId"], e=dev["environmentId"], s=dev["serviceIds"]["web"])[
        "volumeCreate"]["id"]
    instance = next(e["node"]["id"] for e in environment(emulator, dev["environmentId"])["volumeInstances"]["edges"]
                    if e["node"]["volumeId"] == volume)
    emulator.data('mutation($v:String!){ volumeInstanceBackupCreate(volumeInstanceId:$v, name:"qa-uploads")'
                  '{ workflowId } }', v=instance)
    uploads = uploads_as_they_are(emulator, {"volume": volume, "instance": instance})
    assert uploads["backups"] and uploads["instance"]["environmentId"] == dev["environmentId"]
    return uploads


def uploads_as_they_are(emulator: Emulator, uploads: dict[str, Any]) -> dict[str, Any]:
    """The volume, its instance in dev (with its data: size, state) and that instance's backups, read back."""
    instance_id = uploads["instance"] if isinstance(uploads["instance"], str) else uploads["instance"]["id"]
    answer = emulator.gql(INSTANCE, i=instance_id)
    instance = (answer.get("data") or {}).get("volumeInstance")
    return {"volume": instance and instance["volume"]["id"], "instance": instance,
            "backups": emulator.data(BACKUPS, v=instance_id)["volumeInstanceBackupList"] if instance else None}


def forked_copy(emulator: Emulator, env_id: str, volume_id: str) -> dict[str, Any]:
    """The fork's own instance of dev's volume (the premise of B7: the fork copied it, same volume id)."""
    copies = [e["node"] for e in environment(emulator, env_id)["volumeInstances"]["edges"]
              if e["node"]["volumeId"] == volume_id]
    assert len(copies) == 1 and copies[0]["mountPath"] == "/uploads", copies
    return copies[0]


def test_pr_down_removes_a_preview_holding_only_its_forks_copy_of_a_dev_volume(
        project: PulumiProject, emulator: Emulator, dev: dict[str, Any]) -> None:
    """Issue 14 B7: the fork copies a volume mounted on dev's web (same volume id, an instance of the fork's own);
    that copy is the preview's, so `pr down 9` removes the preview (one delete: its environment) instead of refusing
    it as foreign. dev's volume, its instance in dev and its backup read back as they were."""
    uploads = uploads_on_dev_web(emulator, dev)
    env = result(cli(project, "pr", "up", "9"))["outputs"]["environmentId"]
    copy = forked_copy(emulator, env, uploads["volume"])
    assert copy["id"] != uploads["instance"]["id"]
    before_dev, before_project = environment(emulator, dev["environmentId"]), project_view(emulator, dev["projectId"])

    emulator.reset_stats()
    down = cli(project, "pr", "down", "9", check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert result(down)["action"] == "destroyed"
    assert emulator.stats()["write_total"] == 1 and emulator.stats()["total"] <= 3, emulator.stats()
    assert emulator.gql(ENV, e=env)["errors"][0]["message"] == "Environment not found"
    assert copy["id"] not in {r["id"] for r in emulator.inventory()["volume_instances"]}, "the fork's copy went"
    assert uploads_as_they_are(emulator, uploads) == uploads, "dev's volume, instance and backup survive"
    assert environment(emulator, dev["environmentId"]) == before_dev
    assert project_view(emulator, dev["projectId"]) == before_project
    assert result(cli(project, "pr", "list")) == []


def test_pr_gc_removes_previews_with_fork_copies_and_skips_only_the_one_holding_a_hand_made_volume(
        project: PulumiProject, emulator: Emulator, dev: dict[str, Any]) -> None:
    """Issue 14 B7: pr-5 (made before QA's volume on dev's web), pr-9 (its fork copied that volume) and pr-6 (a
    volume made by hand in pr-6 alone) are closed. `pr gc` removes pr-5 and pr-9, and skips pr-6, naming its
    hand-made volume (not its fork copy); it ends with exit 2 (done, but a preview needs a hand). Dry run and real
    run agree; dev's volume, its dev instance and backup, dev's environment and the project read back intact."""
    cli(project, "pr", "up", "5")
    uploads = uploads_on_dev_web(emulator, dev)
    pr9 = result(cli(project, "pr", "up", "9"))["outputs"]["environmentId"]
    forked_copy(emulator, pr9, uploads["volume"])
    pr6 = result(cli(project, "pr", "up", "6"))["outputs"]["environmentId"]
    forked_copy(emulator, pr6, uploads["volume"])
    foreign = emulator.data(HAND_MADE_VOLUME, p=dev["projectId"], e=pr6)["volumeCreate"]["id"]
    before_dev, before_project = environment(emulator, dev["environmentId"]), project_view(emulator, dev["projectId"])
    before_pr6 = environment(emulator, pr6)

    world = ids(emulator)
    for dry, gc, out in gc_keeping_some(project, emulator):
        assert [r["stack"] for r in out["removed_stacks"]] == ["pr-5", "pr-9"], out
        assert [k["stack"] for k in out["kept_stacks"]] == ["pr-6"], out
        assert out["kept_stacks"][0]["foreign"] == ["volume at /qa-data in pr-6"], "named, and only the hand-made one"
        assert "pr-6" in gc.stderr and "volume at /qa-data in pr-6" in gc.stderr, gc.stderr
        assert not {o["id"] for o in out["objects"]} & ({pr6, foreign} | before_project["volumes"])
        if dry:
            assert emulator.stats()["write_total"] == 0 and ids(emulator) == world, "a dry run deletes nothing"
    assert emulator.stats()["write_total"] == 2, "the two environmentDeletes, nothing else"
    gone = world - ids(emulator)
    assert pr9 in gone and {o["id"] for o in out["objects"]} == gone, "the real run deletes exactly what it lists"
    assert [s["stack"] for s in result(cli(project, "pr", "list"))] == ["pr-6"]
    assert environment(emulator, pr6) == before_pr6, "the preview holding a hand-made volume is left whole"
    assert uploads_as_they_are(emulator, uploads) == uploads, "dev's volume, instance and backup survive"
    assert environment(emulator, dev["environmentId"]) == before_dev
    assert project_view(emulator, dev["projectId"]) == before_project


HAND_MADE_SERVICE = ("mutation($p:String!,$e:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, "
                     "name:\"mine2\", source:{image:\"qa/tool:1\"}}){ id } }")


def test_pr_gc_keeps_an_orphaned_preview_holding_what_was_made_in_it_by_hand(
        project: PulumiProject, emulator: Emulator, dev: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """adv15b N1: the stacks of pr-47, pr-49 and pr-52 are gone (their forks carry their markers). pr-49 holds a
    volume made in it by hand, pr-52 a service that exists only there: deleting either environment would delete
    them (a volume's only instance, a service's only instance). gc keeps both, naming what they hold, exits 2 and
    removes only pr-47, which holds nothing but its copies of dev's objects; dry run and real run agree."""
    clean = left_by_a_killed_preview(emulator, project, dev, 47, monkeypatch)
    with_volume = left_by_a_killed_preview(emulator, project, dev, 49, monkeypatch)
    volume = emulator.data(HAND_MADE_VOLUME, p=dev["projectId"], e=with_volume)["volumeCreate"]["id"]
    with_service = left_by_a_killed_preview(emulator, project, dev, 52, monkeypatch)
    service = emulator.data(HAND_MADE_SERVICE, p=dev["projectId"], e=with_service)["serviceCreate"]["id"]
    before = {e: environment(emulator, e) for e in (with_volume, with_service)}
    before_dev = environment(emulator, dev["environmentId"])

    world = ids(emulator)
    for dry, gc, out in gc_keeping_some(project, emulator):
        assert [e["id"] for e in out["removed_environments"]] == [clean], out
        kept = {k["name"]: k["foreign"] for k in out["kept_environments"]}
        assert kept == {"pr-49": ["volume at /qa-data in pr-49"], "pr-52": ["service mine2 in pr-52"]}, kept
        assert "pr-49" in gc.stderr and "volume at /qa-data in pr-49" in gc.stderr, gc.stderr
        listed = {o["id"] for o in out["objects"]}
        assert clean in listed and not listed & {with_volume, with_service, volume, service}, out["objects"]
        if dry:
            assert emulator.stats()["write_total"] == 0 and ids(emulator) == world
    assert emulator.stats()["write_total"] == 1, "pr-47's environmentDelete, nothing else"
    assert world - ids(emulator) == listed, "the real run deletes exactly what it lists"
    assert {e: environment(emulator, e) for e in (with_volume, with_service)} == before
    assert environment(emulator, dev["environmentId"]) == before_dev
