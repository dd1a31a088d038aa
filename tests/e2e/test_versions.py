"""The app's version as data (issue 16): releases pin an image by digest, promotion moves the exact image dev
runs, unhealthy releases roll back to the previous image and say so in `history`, and `status` shows it all."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_pr_previews import cli

pytestmark = pytest.mark.e2e

REPO = "ghcr.io/acs-team/acs"
A, B = f"{REPO}@sha256:{'a' * 64}", f"{REPO}@sha256:{'b' * 64}"
COMMIT_A, COMMIT_B = "a1" * 20, "b2" * 20


def running(emulator: Emulator, project: PulumiProject, stack: str) -> dict[str, Any]:
    """What Railway says the stack's web service runs: its source and its newest deployment."""
    out = project.outputs(stack)
    sid = out["serviceIds"]["web"]
    data = emulator.data("""query($s:String!,$e:String!,$p:String!){
      serviceInstance(serviceId:$s, environmentId:$e){ source { image } }
      deployments(first:1, input:{projectId:$p, environmentId:$e, serviceId:$s}){ edges { node { id status meta } } } }""",
                         s=sid, e=out["environmentId"], p=out["projectId"])
    node = data["deployments"]["edges"][0]["node"]
    return {"source": data["serviceInstance"]["source"]["image"], "status": node["status"],
            "image": node["meta"]["image"], "deployment": node["id"]}


def health(emulator: Emulator, host: str) -> int:
    return httpx.get(f"{emulator.base}/health", headers={"Host": host}).status_code


def test_promote_the_same_artifact_roll_back_a_bad_one(project: PulumiProject, emulator: Emulator) -> None:
    cli(project, "deploy", "dev", "--image", A, "--commit", COMMIT_A)
    cli(project, "deploy", "prod")
    promoted = json.loads(cli(project, "promote", "dev", "prod").stdout)
    assert promoted["image"] == {"from": f"{REPO}:main", "to": A, "commit": COMMIT_A, "changes": True}
    assert promoted["deploy"]["healthy"]
    assert running(emulator, project, "prod") | {"deployment": None} == \
        {"source": A, "status": "SUCCESS", "image": A, "deployment": None}

    good = running(emulator, project, "prod")["deployment"]
    emulator.admin(f"/services/{project.outputs('prod')['serviceIds']['web']}/behaviour", {"healthy": False})
    bad = cli(project, "deploy", "prod", "--image", B, "--commit", COMMIT_B, "--health-timeout", "2", check=False)
    assert bad.returncode == 1 and "unhealthy" in bad.stderr, bad.stderr
    report = json.loads(bad.stdout)
    assert report["rolled_back"]["rolled_back_to"] == good
    now = running(emulator, project, "prod")
    assert (now["source"], now["image"], now["status"]) == (A, A, "SUCCESS"), "prod runs A again"
    assert health(emulator, "kars.up.railway.app") == 200
    history = json.loads(cli(project, "history", "prod").stdout)["releases"]
    last = history[-1]
    assert (last["image"], last["commit"], last["outcome"], last["rolled_back_to"]) == (B, COMMIT_B, "rolled back", A)
    assert last["backup"].startswith("pre-deploy-") and "unhealthy" in last["reason"]
    assert project.outputs("prod")["release"]["image"] == A

    emulator.reset_stats()
    again = json.loads(cli(project, "deploy", "prod", "--image", A).stdout)
    assert emulator.stats()["write_total"] == 0, emulator.stats()
    assert again["changes"] == {} and again["release"] is None and again["healthy"]
    assert len(json.loads(cli(project, "history", "prod").stdout)["releases"]) == len(history)
    project.up("prod")  # a plain up keeps the pinned image
    assert running(emulator, project, "prod")["source"] == A


def test_new_image_with_unchanged_configuration_reaches_prod(project: PulumiProject, emulator: Emulator) -> None:
    cli(project, "deploy", "prod", "--image", A, "--commit", COMMIT_A)
    assert running(emulator, project, "prod")["image"] == A
    second = json.loads(cli(project, "deploy", "prod", "--image", B, "--commit", COMMIT_B).stdout)
    assert second["healthy"] and second["release"]["outcome"] == "healthy"
    now = running(emulator, project, "prod")
    assert (now["source"], now["image"], now["status"]) == (B, B, "SUCCESS")
    assert project.outputs("prod")["release"] | {"since": None} == {"image": B, "commit": COMMIT_B, "since": None}
    moving = cli(project, "deploy", "prod", "--image", f"{REPO}:main", check=False)
    assert moving.returncode == 1 and "not pinned" in moving.stderr and "Traceback" not in moving.stderr


def test_rollback_returns_to_the_previous_release(project: PulumiProject, emulator: Emulator) -> None:
    cli(project, "deploy", "dev", "--image", A)
    cli(project, "deploy", "dev", "--image", B)
    done = json.loads(cli(project, "rollback", "dev").stdout)
    assert done["image"] == A
    assert running(emulator, project, "dev")["image"] == A
    project.up("dev")
    now = running(emulator, project, "dev")
    assert (now["source"], now["image"]) == (A, A), "a later up does not undo the rollback"
    assert json.loads(cli(project, "history", "dev").stdout)["releases"][-1]["kind"] == "rollback"


def test_status_board(project: PulumiProject, emulator: Emulator) -> None:
    cli(project, "deploy", "dev", "--image", A, "--commit", COMMIT_A)
    cli(project, "deploy", "prod", "--image", A, "--commit", COMMIT_A)
    cli(project, "pr", "up", "7", "--image", f"{REPO}:{COMMIT_B[:12]}")
    cli(project, "pr", "up", "8")
    assert running(emulator, project, "pr-7")["image"] == f"{REPO}:{COMMIT_B[:12]}"
    rows = {r["stack"]: r for r in json.loads(cli(project, "status").stdout)}
    assert list(rows) == ["pr-7", "pr-8", "dev", "prod"]
    for name, image, commit, url in (("dev", A, COMMIT_A, "https://acs-dev.up.railway.app"),
                                     ("prod", A, COMMIT_A, "https://kars.up.railway.app"),
                                     ("pr-7", f"{REPO}:{COMMIT_B[:12]}", COMMIT_B[:12], "https://acs-pr-7.up.railway.app"),
                                     ("pr-8", f"{REPO}:pr-8", None, "https://acs-pr-8.up.railway.app")):
        r = rows[name]
        live = running(emulator, project, name)
        assert (r["image"], r["commit"], r["url"]) == (image, commit, url), r
        assert (r["pinned"], r["deployment"], r["deployment_status"], r["deployment_image"]) == \
            (name != "pr-8", live["deployment"], "SUCCESS", image), r
        assert r["healthy"] is True and r["since"] and r["drift"] is None, r
    table = cli(project, "--json", "status", "--markdown").stdout  # --json wins: one JSON document
    assert json.loads(table)


def test_an_image_is_never_credited_to_another_commit(project: PulumiProject, emulator: Emulator) -> None:
    """Adversarial pass B8 (addendum): `deploy --image D4 --commit 7654321` when D4 was released from 4444444
    rewrote the record's commit and the board. Refused, naming both commits, before any write."""
    cli(project, "deploy", "dev", "--image", A, "--commit", COMMIT_A)
    before = json.loads(cli(project, "history", "dev").stdout)["releases"]
    writes = emulator.stats()["write_total"]
    refused = cli(project, "deploy", "dev", "--image", A, "--commit", COMMIT_B, check=False)
    assert refused.returncode == 1 and COMMIT_A in refused.stderr and COMMIT_B in refused.stderr, refused.stderr
    assert emulator.stats()["write_total"] == writes, "nothing written"
    assert json.loads(cli(project, "history", "dev").stdout)["releases"] == before
    assert project.outputs("dev")["release"]["commit"] == COMMIT_A


def test_status_survives_a_preview_whose_environment_was_deleted_by_hand(project: PulumiProject,
                                                                        emulator: Emulator) -> None:
    """Adversarial pass B4: one PR preview's environment deleted by hand made `status` (every stack, even
    `--stack dev`, `--markdown`) fail with "DeploymentsOfService: Environment not found", exit 1, naming no stack.
    Every stack keeps its row; the broken one says its environment is gone and what clears it."""
    cli(project, "up", "dev")
    cli(project, "pr", "up", "7")
    gone = project.outputs("pr-7")["environmentId"]
    emulator.data("mutation($id:String!){ environmentDelete(id:$id) }", id=gone)
    assert not [e for e in emulator.inventory()["environments"] if e["id"] == gone and not e.get("deletedAt")], \
        "the fault happened: pr-7's environment is gone"
    rows = {r["stack"]: r for r in json.loads(cli(project, "status").stdout)}
    assert list(rows) == ["pr-7", "dev"] and rows["dev"]["healthy"] is True, rows
    broken = rows["pr-7"]
    assert broken["healthy"] is None and gone in broken["error"] and "is gone" in broken["error"], broken
    assert "acs-infra pr down 7" in broken["error"] and broken["health"] == broken["error"], broken
    text = subprocess.run([sys.executable, "-m", "infra", "--project-dir", str(project.dir), "status"],
                          env=project.env, capture_output=True, text=True, timeout=600)
    assert text.returncode == 0 and "stack=pr-7" in text.stdout and "pr down 7" in text.stdout, text
    only = json.loads(cli(project, "status", "--stack", "dev").stdout)
    assert [r["stack"] for r in only] == ["dev"], only
    table = subprocess.run([sys.executable, "-m", "infra", "--project-dir", str(project.dir), "status", "--markdown",
                            "--stack", "dev"], env=project.env, capture_output=True, text=True, timeout=600)
    assert table.returncode == 0 and "| dev |" in table.stdout and "pr-7" not in table.stdout, table


def test_promotion_refuses_an_unhealthy_image_and_unlisted_changes(project: PulumiProject,
                                                                   emulator: Emulator) -> None:
    cli(project, "deploy", "dev", "--image", A, "--commit", COMMIT_A)
    cli(project, "deploy", "prod")
    prod_file = project.dir / "Pulumi.prod.yaml"
    prod_file.write_text(prod_file.read_text().replace("memory: 1GB", "memory: 2GB"))  # not part of a promotion
    edited = prod_file.read_text()
    refused = cli(project, "promote", "dev", "prod", check=False)
    assert refused.returncode == 1 and "prod-web-limits" in refused.stderr and "does not list" in refused.stderr
    assert "acs-infra up prod" in refused.stderr, refused.stderr  # the file's edit is not applied yet
    assert prod_file.read_text() == edited and running(emulator, project, "prod")["source"] == f"{REPO}:main"
    prod_file.write_text(edited.replace("memory: 2GB", "memory: 1GB"))

    emulator.admin(f"/services/{project.outputs('dev')['serviceIds']['web']}/behaviour", {"healthy": False})
    path = project.dir / "Pulumi.dev.yaml"
    path.write_text(path.read_text().replace("LOG_LEVEL: debug", "LOG_LEVEL: debug\n      FEATURE: enabled"))
    broken = cli(project, "deploy", "dev", "--health-timeout", "1", check=False)  # A again, now unhealthy
    assert broken.returncode == 1 and "unhealthy" in broken.stderr, broken.stderr
    dry = json.loads(cli(project, "promote", "dev", "prod", "--dry-run").stdout)
    assert dry["source_healthy"] is False and "503" in dry["source_health"]
    unhealthy = cli(project, "promote", "dev", "prod", check=False)
    assert unhealthy.returncode == 1 and "not healthy" in unhealthy.stderr
    assert running(emulator, project, "prod")["source"] == f"{REPO}:main", "prod untouched"


def test_promotion_refuses_a_prod_changed_by_hand(project: PulumiProject, emulator: Emulator) -> None:
    """adv16 B6: prod changed by hand (a variable staged without a deploy, the replica count) went live with the
    promoted image: the plan was checked without reading prod, and the image change let every other change of
    prod's web through. Now a promotion checks prod against its stack file first (drift's check): refused,
    naming both changes (never their values), nothing deployed."""
    cli(project, "deploy", "dev", "--image", A, "--commit", COMMIT_A)
    cli(project, "deploy", "prod")
    out = project.outputs("prod")
    web = out["serviceIds"]["web"]
    emulator.data("mutation($p:String!,$e:String!,$s:String!){ variableUpsert(input:{projectId:$p, environmentId:$e,"
                  " serviceId:$s, name:\"LOG_LEVEL\", value:\"debug\", skipDeploys:true}) }",
                  p=out["projectId"], e=out["environmentId"], s=web)
    emulator.data("mutation($e:String!,$s:String!){ serviceInstanceUpdate(environmentId:$e, serviceId:$s, "
                  "input:{numReplicas:5}) }", e=out["environmentId"], s=web)
    before = running(emulator, project, "prod")
    prod_file = project.dir / "Pulumi.prod.yaml"
    kept = prod_file.read_text()
    refused = cli(project, "promote", "dev", "prod", check=False)
    assert refused.returncode == 1 and "does not say" in refused.stderr, refused.stdout + refused.stderr
    assert "prod-web: variables.LOG_LEVEL" in refused.stderr and "prod-web-settings: num_replicas" in refused.stderr
    assert "debug" not in refused.stderr  # names, never values
    assert running(emulator, project, "prod") == before and prod_file.read_text() == kept


def test_monitor_breach_rolls_the_release_back(project: PulumiProject, emulator: Emulator) -> None:
    """A breach found by the monitor after a healthy gate: prod runs A again, the state pins A, `history` and
    `status` say B was rolled back, and the next `up` does not bring B back."""
    cli(project, "deploy", "prod", "--image", A, "--commit", COMMIT_A)
    emulator.admin(f"/services/{project.outputs('prod')['serviceIds']['web']}/behaviour", {"errorRate": 0.05})
    bad = cli(project, "deploy", "prod", "--image", B, "--commit", COMMIT_B, "--monitor", "2s",
              "--monitor-interval", "1s", check=False)
    assert bad.returncode == 1 and "error rate" in bad.stderr, bad.stdout + bad.stderr
    assert json.loads(bad.stdout)["breach"]["metric"] == "error_rate"
    now = running(emulator, project, "prod")
    assert (now["source"], now["image"], now["status"]) == (A, A, "SUCCESS"), "prod runs A again"
    assert project.outputs("prod")["release"] | {"since": None} == {"image": A, "commit": COMMIT_A, "since": None}
    last = json.loads(cli(project, "history", "prod").stdout)["releases"][-1]
    assert (last["image"], last["commit"], last["outcome"], last["rolled_back_to"]) == (B, COMMIT_B, "rolled back", A)
    assert last["reason"].startswith("monitor: error rate") and last["rollback_health"].endswith("answered 200")
    row = json.loads(cli(project, "status", "--stack", "prod").stdout)[0]
    assert (row["image"], row["commit"], row["deployment_image"], row["healthy"]) == (A, COMMIT_A, A, True), row
    emulator.reset_stats()
    project.up("prod")
    assert emulator.stats()["write_total"] == 0, "the next up redeploys nothing"
    assert running(emulator, project, "prod")["image"] == A


def test_rollback_records_healthy_only_after_the_gate(project: PulumiProject, emulator: Emulator) -> None:
    """Railway no longer holds A's deployment: the rollback pins A, deploys it anew and, while that deployment is
    still in progress (the emulator's clock is stopped), the record does not say healthy yet."""
    cli(project, "deploy", "dev", "--image", A)
    cli(project, "deploy", "dev", "--image", B)
    out = project.outputs("dev")
    deps = emulator.data("query($p:String!,$s:String!){ deployments(first:20, input:{projectId:$p, serviceId:$s})"
                         "{ edges { node { id meta } } } }", p=out["projectId"], s=out["serviceIds"]["web"])
    ran_a = [e["node"]["id"] for e in deps["deployments"]["edges"] if e["node"]["meta"]["image"] == A]
    for dep in ran_a:
        emulator.data("mutation($d:String!){ deploymentRemove(id:$d) }", d=dep)
    emulator.freeze()
    proc = subprocess.Popen([sys.executable, "-m", "infra", "--json", "--project-dir", str(project.dir),
                             "rollback", "dev"], env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 300
        while not [e for e in emulator.data("query($p:String!,$s:String!){ deployments(first:5, input:{projectId:$p, "
                                            "serviceId:$s}){ edges { node { id status meta } } } }",
                                            p=out["projectId"], s=out["serviceIds"]["web"])["deployments"]["edges"]
                   if e["node"]["meta"]["image"] == A and e["node"]["status"] in ("BUILDING", "DEPLOYING")]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)  # waits for the CLI under test, not for the emulator's clock
        pending = project.outputs("dev")["releases"][-1]
        assert pending["kind"] == "rollback" and pending["outcome"] == "rolling back", pending
        assert project.outputs("dev")["release"]["image"] == A, "pinned before the deployment"
        emulator.advance(1)  # the deployment finishes
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stdout + stderr
    done = project.outputs("dev")["releases"][-1]
    assert (done["kind"], done["image"], done["outcome"]) == ("rollback", A, "healthy")
    assert done["rollback_health"].endswith("answered 200") and running(emulator, project, "dev")["image"] == A
