"""Data safety of the deleting commands (`destroy`, `drift --fix`, `recover`), held to the README's "What this tool
never deletes". Each test first builds a world holding things the command must not touch, runs the command through
the real CLI and engine, and reads everything back through the emulator. (`pr down` / `pr gc`: tests/e2e/test_pr_*.)"""
from __future__ import annotations

import json
import subprocess
import time
from typing import Any, NamedTuple

import pytest

from tests.conftest import Emulator, PulumiProject, kill_engine
from tests.e2e.test_ownership import snapshot
from tests.e2e.test_pr_previews import cli

pytestmark = pytest.mark.e2e


def hand_made(emulator: Emulator, project_id: str, env_id: str, name: str, volume: bool) -> dict[str, str]:
    """A service made by hand (QA's) in an environment, with a volume of data when asked."""
    svc = emulator.data('mutation($p:String!,$e:String!,$n:String!){ serviceCreate(input:{projectId:$p, '
                        'environmentId:$e, name:$n, source:{image:"qa/tool:1"}}){ id } }',
                        p=project_id, e=env_id, n=name)["serviceCreate"]["id"]
    made = {"service": svc}
    if volume:
        made["volume"] = emulator.data(
            'mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, '
            'serviceId:$s, mountPath:"/qa-data"}){ id } }', p=project_id, e=env_id, s=svc)["volumeCreate"]["id"]
    return made


def lone_volume(emulator: Emulator, project_id: str, env_id: str) -> str:
    """A volume made by hand and attached to no service (someone's detached data)."""
    return emulator.data('mutation($p:String!,$e:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, '
                         'mountPath:"/orphan"}){ id } }', p=project_id, e=env_id)["volumeCreate"]["id"]


def other_backends_project(emulator: Emulator) -> str:
    """Another stack's project of the same name: dev of a second checkout on another backend, with data."""
    pid = emulator.data('mutation{ projectCreate(input:{name:"acs", defaultEnvironmentName:"dev", description:'
                        '"Managed by Pulumi (acs-infra): organization/acs/dev@0123456789ab"}){ id } }')["projectCreate"]["id"]
    env = next(e["id"] for e in emulator.inventory()["environments"] if e["projectId"] == pid)
    hand_made(emulator, pid, env, "Postgres", volume=True)
    return pid


class DevHoldingData(NamedTuple):
    dev: dict[str, Any]  # dev's stack outputs
    other: str  # another backend's project of the same name
    other_before: Any  # its snapshot
    qa: dict[str, str]  # QA's hand-made service with a volume, in dev's environment
    orphan: str  # a detached volume in dev's environment


def dev_holding_data(project: PulumiProject, emulator: Emulator) -> DevHoldingData:
    """dev brought up, holding data no stack made (QA's service with its volume, a detached volume), next to
    another backend's project of the same name."""
    project.up("dev")
    dev = project.outputs("dev")
    other = other_backends_project(emulator)
    return DevHoldingData(dev, other, snapshot(emulator, other),  # the snapshot before dev holds anything
                          hand_made(emulator, dev["projectId"], dev["environmentId"], "qa", volume=True),
                          lone_volume(emulator, dev["projectId"], dev["environmentId"]))


def present(emulator: Emulator, ids: list[str]) -> list[str]:
    """Which of these still exist: projects, environments and volumes by id, services by a live instance."""
    inv = emulator.inventory()
    held = {o["id"] for kind in ("projects", "volumes", "environments") for o in inv[kind]}
    held |= {i["serviceId"] for i in inv["instances"]}
    return [i for i in ids if i in held]


# ---- destroy ----------------------------------------------------------------------------------------------------
def test_destroy_dev_keeps_the_stack_file_and_its_previews(project: PulumiProject, emulator: Emulator) -> None:
    """Issue 14 item 3: `destroy dev` deleted the committed Pulumi.dev.yaml (the next `up dev` failed) and silently
    removed every PR preview in dev's project while `pr list` still listed them. Now it is refused naming them;
    `--with-dependents` destroys them first (`pr list` stays true), and the stack file survives."""
    project.up("dev")
    cli(project, "pr", "up", "7")
    committed = (project.dir / "Pulumi.dev.yaml").read_text()
    project_id = project.outputs("dev")["projectId"]
    before = snapshot(emulator, project_id)

    refused = cli(project, "destroy", "dev", check=False)
    assert refused.returncode == 1 and "pr-7" in json.loads(refused.stdout)["error"], refused.stdout
    assert snapshot(emulator, project_id) == before
    assert [r["stack"] for r in json.loads(cli(project, "pr", "list").stdout)] == ["pr-7"]

    done = json.loads(cli(project, "destroy", "dev", "--with-dependents").stdout)
    assert done["dependents_destroyed"] == ["pr-7"]
    assert json.loads(cli(project, "pr", "list").stdout) == []
    assert emulator.inventory()["projects"] == []
    assert (project.dir / "Pulumi.dev.yaml").read_text() == committed
    assert json.loads(cli(project, "up", "dev").stdout)["url"] == "https://acs-dev.up.railway.app"


def test_destroy_never_takes_along_what_no_stack_manages(project: PulumiProject, emulator: Emulator) -> None:
    """Data safety, destroy: a hand-made service with a volume and a detached volume in dev's environment would
    go with dev's project: refused, naming them, nothing deleted. Another stack's project of the same name (made
    on another backend) is never touched, also when dev is destroyed for real."""
    dev, other, other_before, qa, orphan = dev_holding_data(project, emulator)
    dev_before = snapshot(emulator, dev["projectId"])

    refused = cli(project, "destroy", "dev", check=False)
    assert refused.returncode == 1
    error = json.loads(refused.stdout)["error"]
    assert "service qa" in error and error.count("(in dev)") == 2, error
    assert snapshot(emulator, dev["projectId"]) == dev_before

    for vol in (qa["volume"], orphan):  # QA moves its data out, by hand
        emulator.data("mutation($v:String!){ volumeDelete(volumeId:$v) }", v=vol)
    emulator.data("mutation($s:String!){ serviceDelete(id:$s) }", s=qa["service"])
    cli(project, "destroy", "dev")
    assert present(emulator, [dev["projectId"]]) == []
    assert snapshot(emulator, other) == other_before


def test_a_persistent_stack_cannot_share_devs_project(project: PulumiProject, emulator: Emulator) -> None:
    """Issue 14 item 3 under Railway's rule (ServiceCreateInput.environmentId): a service made in an environment
    that is not a fork is made in every non-fork environment of the project, so a persistent `qa` in dev's
    project (`project: {stack: dev}`) would collide with, and then share, dev's services. It is refused before any
    API call, naming the key and what is allowed; only PR previews (forks of dev) share dev's project."""
    text = (project.dir / "Pulumi.dev.yaml").read_text()
    text = text.replace("    name: dev\n", "    name: qa\n", 1).replace("      name: acs\n", "      stack: dev\n", 1)
    text = text.replace("subdomain: acs-dev", "subdomain: acs-qa")
    text = text[:text.index("    alerts:")] + text[text.index("    secrets:"):]  # rules are the project stack's
    (project.dir / "Pulumi.qa.yaml").write_text(text)
    project.up("dev")
    before = emulator.inventory()
    emulator.reset_stats()
    refused = cli(project, "up", "qa", check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    error = json.loads(refused.stdout)["error"]
    assert "acs:environment.project.stack" in error and "project.name" in error and "Traceback" not in refused.stderr
    assert emulator.stats()["total"] == 0 and emulator.inventory() == before
    assert "qa" not in [s.strip(" *") for s in project.run("stack", "ls").stdout.split()]


# ---- drift --fix ------------------------------------------------------------------------------------------------
def test_drift_fix_never_deletes_unmanaged_data(project: PulumiProject, emulator: Emulator) -> None:
    """Issue 14 item 4: `drift --fix` deleted the unmanaged volumes and services of an unprotected stack (dev holds
    QA's data). Now --fix restores declared values and leaves them; `--remove-unmanaged` removes an unmanaged
    service without data and still refuses volumes and services holding one. Another stack's project is never
    touched."""
    dev, other, other_before, qa, orphan = dev_holding_data(project, emulator)
    scratch = hand_made(emulator, dev["projectId"], dev["environmentId"], "scratch", volume=False)
    emulator.data("mutation($s:String!,$e:String!){ serviceInstanceUpdate(serviceId:$s, environmentId:$e, "
                  "input:{numReplicas:3}) }", s=dev["serviceIds"]["web"], e=dev["environmentId"])

    fixed = cli(project, "drift", "dev", "--fix", check=False)
    assert fixed.returncode == 2, fixed.stdout  # unmanaged objects stay: drift left in place
    assert present(emulator, [qa["service"], qa["volume"], orphan, scratch["service"]]) == \
        [qa["service"], qa["volume"], orphan, scratch["service"]]
    live = emulator.data("query($s:String!,$e:String!){ serviceInstance(serviceId:$s, environmentId:$e)"
                         "{ numReplicas } }", s=dev["serviceIds"]["web"], e=dev["environmentId"])
    assert live["serviceInstance"]["numReplicas"] == 1, "declared values are restored"

    removed = cli(project, "drift", "dev", "--fix", "--remove-unmanaged", check=False)
    assert removed.returncode == 2, removed.stdout
    report = json.loads(removed.stdout)[0]
    assert report["fixed"]["unmanaged_removed"] == 1
    assert present(emulator, [qa["service"], qa["volume"], orphan, scratch["service"]]) == \
        [qa["service"], qa["volume"], orphan]
    kept = " ".join(r["note"] for r in report["remaining"])
    assert "holds data" in kept, report["remaining"]
    assert snapshot(emulator, other) == other_before


# ---- recover ----------------------------------------------------------------------------------------------------
def test_recover_after_a_killed_up_touches_nothing_foreign(project: PulumiProject, emulator: Emulator) -> None:
    """Data safety, recover: a `pulumi up dev` killed mid-way, then QA adds a service with a volume and a detached
    volume to dev's environment, and another backend's dev owns a project of the same name; `recover dev`
    converges dev and leaves every one of them as it was."""
    project.up("prod")
    prod_id = project.outputs("prod")["projectId"]
    prod_before = snapshot(emulator, prod_id)
    emulator.admin("/faults", {"latency_ms": 150})
    project.run("stack", "select", "--create", "dev")
    run = subprocess.Popen(["pulumi", "up", "--yes", "--skip-preview", "--stack", "dev"], cwd=project.dir,
                           env=project.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    start = emulator.stats()["write_total"]
    deadline = time.monotonic() + 120
    while emulator.stats()["write_total"] < start + 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    kill_engine(run.pid)
    run.wait()
    emulator.admin("/faults", {"latency_ms": 0})
    dev = next(p for p in emulator.inventory()["projects"] if p["name"] == "acs")
    env = next(e["id"] for e in emulator.inventory()["environments"] if e["projectId"] == dev["id"])
    qa = hand_made(emulator, dev["id"], env, "qa", volume=True)
    orphan = lone_volume(emulator, dev["id"], env)
    other = other_backends_project(emulator)
    other_before = snapshot(emulator, other)

    cli(project, "recover", "dev")
    assert project.outputs("dev")["projectId"] == dev["id"]
    assert present(emulator, [qa["service"], qa["volume"], orphan]) == [qa["service"], qa["volume"], orphan]
    assert snapshot(emulator, other) == other_before and snapshot(emulator, prod_id) == prod_before
    names = sorted(i["serviceId"] for i in emulator.inventory()["instances"] if i["environmentId"] == env)
    assert len(names) == 3, "web, Postgres and QA's service: nothing duplicated, nothing removed"


# ---- renaming the environment -----------------------------------------------------------------------------------
def test_renaming_the_environment_renames_it_in_place(project: PulumiProject, emulator: Emulator) -> None:
    """Tester's data-loss report: `name: dev` -> `name: production` replaced the project; the replacement adopted
    the same project (by its own marker) and then deleted it as the "old" one, Postgres volume and all, while `up`
    reported success. The default environment's name is a create-time value of the project: the environment is
    renamed in place and nothing is deleted."""
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    before = snapshot(emulator, dev["projectId"])
    assert before["volumes"], "the Postgres volume is there to lose"
    stack_file = project.dir / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("    name: dev\n", "    name: production\n", 1))
    emulator.reset_stats()

    renamed = json.loads(cli(project, "up", "dev").stdout)
    writes = emulator.stats()["writes"]
    assert not any("delete" in op.lower() or "create" in op.lower() for op in writes), writes
    assert "replace" not in renamed["changes"], renamed["changes"]
    after = snapshot(emulator, dev["projectId"])
    kept = ("id", "name", "description")  # the project's update times move
    assert [{k: p[k] for k in kept} for p in after.pop("project")] == \
        [{k: p[k] for k in kept} for p in before.pop("project")]
    assert after == before, "same environment, services, volume, domains, variables"
    env = next(e for e in emulator.inventory()["environments"] if e["id"] == dev["environmentId"])
    assert env["name"] == "production"
    assert project.outputs("dev")["environmentId"] == dev["environmentId"]

    emulator.reset_stats()
    again = json.loads(cli(project, "up", "dev").stdout)
    assert again["changes"] == {"same": again["changes"]["same"]} and emulator.stats()["write_total"] == 0


# ---- up ---------------------------------------------------------------------------------------------------------
def test_up_never_deletes_a_database_for_a_config_change(project: PulumiProject, emulator: Emulator) -> None:
    """Tester's data-loss report (B5): `database: {kind: sqlite}` on a stack that has Postgres made `up` delete the
    Postgres service, its volume and the data, reporting `1 delete`. `up` stops before its first write, naming the
    resource holding the volume and the way to go on; `--allow-data-loss` is that way. (A removed `database` block
    is refused by the config check, before any call.)"""
    edit = ("      kind: postgres\n      volumeSize: 1GB\n", "      kind: sqlite\n")
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    before = snapshot(emulator, dev["projectId"])
    assert before["volumes"], "the Postgres volume is there to lose"
    stack_file = project.dir / "Pulumi.dev.yaml"
    assert edit[0] in stack_file.read_text()
    stack_file.write_text(stack_file.read_text().replace(edit[0], edit[1], 1))
    emulator.reset_stats()

    refused = cli(project, "up", "dev", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    error = json.loads(refused.stdout)["error"]
    assert "volume" in error and "--allow-data-loss" in error and "database" in error, error
    assert emulator.stats()["write_total"] == 0
    assert snapshot(emulator, dev["projectId"])["volumes"] == before["volumes"]

    cli(project, "up", "dev", "--allow-data-loss")  # said explicitly: the database goes
    assert snapshot(emulator, dev["projectId"])["volumes"] == []


def test_up_never_removes_a_service_that_lives_in_another_environment(project: PulumiProject,
                                                                       emulator: Emulator) -> None:
    """Tester's data-loss report (B6): QA's environment `qa` in dev's project has the `jobs` service too (Railway
    makes a service created in a non-fork environment in every non-fork environment) and QA's volume on it. Removing
    `jobs` from dev's stack file made `up dev` delete it: `serviceDelete` of a non-fork environment removes the
    service from every non-fork environment (its description in Railway's schema), taking qa's instance and
    leaving QA's volume detached. `up` stops before its first write, naming qa."""
    stack_file = project.dir / "Pulumi.dev.yaml"
    original = stack_file.read_text()
    jobs = ("    services:\n      - name: jobs\n        source:\n          image: ghcr.io/acs-team/jobs:develop\n"
            "        memory: 256MB\n        public: false\n")
    cli(project, "up", "dev")
    dev = project.outputs("dev")
    qa = emulator.data('mutation($p:String!){ environmentCreate(input:{projectId:$p, name:"qa"}){ id } }',
                       p=dev["projectId"])["environmentCreate"]["id"]
    stack_file.write_text(original.replace("    services:\n", jobs, 1))
    cli(project, "up", "dev")  # jobs is made in dev, and so in qa
    inv = emulator.inventory()
    jobs_id = next(s["id"] for s in inv["services"] if s["name"] == "jobs" and s["projectId"] == dev["projectId"])
    assert any(i["serviceId"] == jobs_id and i["environmentId"] == qa for i in inv["instances"])
    emulator.data('mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, '
                  'serviceId:$s, mountPath:"/qa-data"}){ id } }', p=dev["projectId"], e=qa, s=jobs_id)
    before = snapshot(emulator, dev["projectId"])
    stack_file.write_text(original)  # jobs leaves dev's stack file
    emulator.reset_stats()

    refused = cli(project, "up", "dev", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    error = json.loads(refused.stdout)["error"]
    assert "jobs" in error and "qa" in error, error
    assert emulator.stats()["write_total"] == 0
    assert snapshot(emulator, dev["projectId"]) == before


# ---- adversarial report 2 on issue 14 ---------------------------------------------------------------------------
def test_remove_unmanaged_never_touches_another_environment(project: PulumiProject, emulator: Emulator) -> None:
    """adv14 B1: `drift dev --remove-unmanaged` deleted a hand-made `worker` with `serviceDelete`, which in a
    non-fork environment removes it from every non-fork environment (serviceDelete.environmentId's description):
    its instance in QA's own environment went and its volume there was left detached. Now a service with an instance
    in another environment or a volume in any environment is listed, never removed; nothing of qa changes."""
    project.up("dev")
    dev = project.outputs("dev")
    qa_env = emulator.data('mutation($p:String!){ environmentCreate(input:{projectId:$p, name:"qa"}){ id } }',
                           p=dev["projectId"])["environmentCreate"]["id"]
    worker = hand_made(emulator, dev["projectId"], dev["environmentId"], "worker", volume=False)["service"]
    emulator.data('mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, '
                  'serviceId:$s, mountPath:"/data"}){ id } }', p=dev["projectId"], e=qa_env, s=worker)
    inv = emulator.inventory()
    assert {i["environmentId"] for i in inv["instances"] if i["serviceId"] == worker} == {dev["environmentId"], qa_env}
    qa_before = snapshot(emulator, dev["projectId"])

    emulator.reset_stats()
    removed = cli(project, "drift", "dev", "--remove-unmanaged", check=False)
    calls = emulator.stats()
    assert removed.returncode == 2, removed.stdout + removed.stderr
    report = json.loads(removed.stdout)[0]
    assert "unmanaged_removed" not in (report.get("fixed") or {}), report
    kept = [r for r in report["remaining"] if r["resource"] == "service worker"]
    assert kept and "qa" in kept[0]["note"], report["remaining"]
    assert not any("delete" in op.lower() for op in calls["writes"]), calls["writes"]
    assert snapshot(emulator, dev["projectId"]) == qa_before
    assert calls["total"] == 3, calls  # drift's reads plus one project read for the placement of the services


def test_destroy_never_takes_along_backups_or_a_hand_made_custom_domain(project: PulumiProject,
                                                                        emulator: Emulator) -> None:
    """adv14 B2: `destroy` of an unprotected stack silently deleted a colleague's backup (taken before a risky
    migration) and a hand-made custom domain on the stack's service: the pre-destroy check looked only at
    services, volumes and environments. A backup goes with its volume, and a backup is never deleted implicitly:
    destroy is refused while the volumes it would delete have any backup, and while a custom domain the stack did
    not declare is attached; it names them, nothing is deleted. Removed by hand, destroy runs."""
    project.up("dev")
    dev = project.outputs("dev")
    inv = emulator.inventory()
    vi = next(v["id"] for v in inv["volume_instances"] if v["environmentId"] == dev["environmentId"])
    emulator.data('mutation($v:String!){ volumeInstanceBackupCreate(volumeInstanceId:$v, '
                  'name:"handmade-before-migration"){ workflowId } }', v=vi)
    domain = emulator.data('mutation($p:String!,$e:String!,$s:String!){ customDomainCreate(input:{projectId:$p, '
                           'environmentId:$e, serviceId:$s, domain:"www.dev.example.com"}){ id } }', p=dev["projectId"],
                           e=dev["environmentId"], s=dev["serviceIds"]["web"])["customDomainCreate"]["id"]
    before = snapshot(emulator, dev["projectId"])
    kept = emulator.inventory()
    assert kept["backups"] and kept["custom_domains"], "the things to lose are there"

    emulator.reset_stats()
    refused = cli(project, "destroy", "dev", check=False)
    calls = emulator.stats()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    error = json.loads(refused.stdout)["error"]
    assert "backup handmade-before-migration" in error and "custom domain www.dev.example.com" in error, error
    assert snapshot(emulator, dev["projectId"]) == before
    after = emulator.inventory()
    assert (after["backups"], after["custom_domains"]) == (kept["backups"], kept["custom_domains"])
    assert calls["write_total"] == 0 and calls["total"] == 2, calls  # the project's read, one backup list

    backup = kept["backups"][0]["id"]
    emulator.data('mutation($v:String!,$b:String!){ volumeInstanceBackupDelete(volumeInstanceId:$v, '
                  'volumeInstanceBackupId:$b){ workflowId } }', v=vi, b=backup)
    emulator.data('mutation($d:String!){ customDomainDelete(id:$d) }', d=domain)
    cli(project, "destroy", "dev")
    assert present(emulator, [dev["projectId"]]) == []
