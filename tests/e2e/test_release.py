"""Production safety: pre-deployment backups, health-gated deploys, rollback, failing migrations, promotion,
and protection of prod data."""
from __future__ import annotations

import json

import httpx
import pytest
import yaml

from infra.ops import promotion_plan
from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_pr_previews import cli

pytestmark = pytest.mark.e2e


def backups(emulator: Emulator) -> list[str]:
    vi = emulator.inventory()["volume_instances"][0]["id"]
    rows = emulator.data("query($v:String!){ volumeInstanceBackupList(volumeInstanceId:$v){ name } }", v=vi)
    return [b["name"] for b in rows["volumeInstanceBackupList"]]


def health(emulator: Emulator, host: str) -> int:
    return httpx.get(f"{emulator.base}/health", headers={"Host": host}).status_code


def set_variable(project: PulumiProject, stack: str, name: str, value: str) -> None:
    path = project.dir / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["acs:environment"]["variables"][name] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def web_id(project: PulumiProject, stack: str) -> str:
    return project.outputs(stack)["serviceIds"]["web"]


def test_prod_deploy_takes_a_pre_deployment_backup(project: PulumiProject, emulator: Emulator) -> None:
    first = json.loads(cli(project, "deploy", "prod").stdout)
    assert first["healthy"] and first["backup"] is None, "nothing to back up before the first deploy"
    set_variable(project, "prod", "FEATURE_X", "on")
    second = json.loads(cli(project, "deploy", "prod").stdout)
    assert second["healthy"] and second["backup"]["name"].startswith("pre-deploy-")
    assert [b for b in backups(emulator) if b.startswith("pre-deploy-")] == [second["backup"]["name"]]
    third = json.loads(cli(project, "deploy", "prod").stdout)
    assert third["backup"] is None and third["changes"] == {}, "no changes: no backup"
    labelled = json.loads(cli(project, "backup", "prod", "--label", "before-migration-42").stdout)
    assert labelled["backup"]["name"] == "before-migration-42" and "before-migration-42" in backups(emulator)


def test_unhealthy_deploy_rolls_back(project: PulumiProject, emulator: Emulator) -> None:
    cli(project, "deploy", "prod")
    good = emulator.data("query($p:String!,$s:String!){ deployments(first:1, input:{projectId:$p, serviceId:$s})"
                         "{ edges { node { id } } } }", p=project.outputs("prod")["projectId"],
                         s=web_id(project, "prod"))["deployments"]["edges"][0]["node"]["id"]
    emulator.admin(f"/services/{web_id(project, 'prod')}/behaviour", {"healthy": False})  # broken code ships next
    set_variable(project, "prod", "FEATURE_Y", "on")
    bad = cli(project, "deploy", "prod", "--auto-rollback", "--health-timeout", "3", check=False)
    assert bad.returncode == 1 and "unhealthy" in bad.stderr
    report = json.loads(bad.stdout)
    assert report["rolled_back"]["rolled_back_to"] == good
    latest = emulator.data("query($d:String!){ deployment(id:$d){ status meta } }",
                           d=report["rolled_back"]["deployment"])["deployment"]
    assert latest["status"] == "SUCCESS" and latest["meta"]["rollbackFrom"] == good  # meta also has serviceManifest
    assert latest["meta"]["image"] == "ghcr.io/acs-team/acs:main"
    assert health(emulator, "kars.up.railway.app") == 200


def test_failing_migration_fails_the_deploy_not_the_data(project: PulumiProject, emulator: Emulator) -> None:
    cli(project, "deploy", "prod")
    emulator.admin(f"/services/{web_id(project, 'prod')}/behaviour", {"deployOutcome": "FAILED"})
    set_variable(project, "prod", "SCHEMA", "v2")
    failed = cli(project, "deploy", "prod", check=False)
    assert failed.returncode == 1 and "deployment FAILED" in failed.stderr
    assert health(emulator, "kars.up.railway.app") == 200, "the previous deployment keeps serving"
    assert any(b.startswith("pre-deploy-") for b in backups(emulator)), "the data was backed up first"


def test_rollback_without_a_previous_deployment(project: PulumiProject, emulator: Emulator) -> None:
    project.up("dev")
    result = cli(project, "rollback", "dev", check=False)
    assert result.returncode == 1 and "no previous successful deployment" in result.stderr


def test_manual_rollback(project: PulumiProject, emulator: Emulator) -> None:
    """`rollback --service` goes one deployment back and is gated like a release: landing on a deployment whose
    health path fails is exit 1, naming why."""
    cli(project, "deploy", "dev")
    cli(project, "deploy", "dev")  # nothing changed: the same deployment stays
    web = web_id(project, "dev")
    emulator.admin(f"/services/{web}/behaviour", {"healthy": False})
    set_variable(project, "dev", "FEATURE_Z", "on")
    unhealthy = cli(project, "deploy", "dev", "--health-timeout", "1", check=False)  # stays: not an image release
    assert unhealthy.returncode == 1, unhealthy.stdout + unhealthy.stderr
    emulator.admin(f"/services/{web}/behaviour", {"healthy": True})
    set_variable(project, "dev", "FEATURE_Z", "off")
    cli(project, "deploy", "dev")
    bad = cli(project, "rollback", "dev", "--service", "web", "--health-timeout", "1", check=False)
    assert bad.returncode == 1 and "not healthy" in bad.stderr and "503" in bad.stderr, bad.stdout + bad.stderr
    done = json.loads(cli(project, "rollback", "dev", "--service", "web").stdout)
    assert done["service"] == "web" and done["rolled_back_to"] and done["rollback_health"].endswith("answered 200")


def test_prod_data_survives_destroy(project: PulumiProject, emulator: Emulator) -> None:
    cli(project, "deploy", "prod")
    cli(project, "backup", "prod", "--label", "keep-me")
    refused = cli(project, "destroy", "prod", check=False)
    assert refused.returncode == 1 and "pulumi state unprotect" in refused.stderr
    engine = project.run("destroy", "--yes", "--skip-preview", stack="prod", check=False)
    assert engine.returncode != 0 and "protected" in engine.stdout + engine.stderr
    assert emulator.inventory()["volume_instances"] and "keep-me" in backups(emulator)


def test_promote_dry_run(project: PulumiProject) -> None:
    before = (project.dir / "Pulumi.prod.yaml").read_text()
    plan = json.loads(cli(project, "promote", "dev", "prod", "--dry-run").stdout)
    whats = {d["what"] for d in plan["differences"]}
    assert {"web.source", "web.memory", "variable NODE_ENV", "variable LOG_LEVEL", "database", "domain"} <= whats
    changes = {c["change"] for c in plan["changes"]}
    assert "web.memory" not in changes and "variable NODE_ENV" not in changes
    assert "web.healthcheck" in whats and "web.healthcheck" not in changes, "prod keeps its own health-check timeout"
    assert "web.source" not in changes, "the image moves by digest (promotion of the running image), not by file"
    assert plan["image"]["to"] is None and not plan["source_healthy"], "dev has no release to promote"
    assert "records no image" in plan["source_health"]
    assert (project.dir / "Pulumi.prod.yaml").read_text() == before


def test_promote_writes_code_fields_and_keeps_comments(project: PulumiProject) -> None:
    path = project.dir / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("        memory: 1GB\n", "        # sized for peak traffic, see ops review\n"
                                             "        memory: 1GB  # never promoted\n"))
    before = yaml.safe_load(path.read_text())
    promotion_plan.apply_promotion(promotion_plan.promote_plan("dev", "prod", project.dir), project.dir)
    text = path.read_text()
    assert "# sized for peak traffic, see ops review\n" in text and "memory: 1GB  # never promoted\n" in text
    after = yaml.safe_load(text)
    web, dev_web = after["config"]["acs:environment"]["services"][0], \
        yaml.safe_load((project.dir / "Pulumi.dev.yaml").read_text())["config"]["acs:environment"]["services"][0]
    assert web["healthcheck"]["path"] == dev_web["healthcheck"]["path"], "behaviour moves"
    assert web["healthcheck"]["timeoutSeconds"] == 120 != dev_web["healthcheck"]["timeoutSeconds"], "tuning stays"
    assert web["source"] == before["config"]["acs:environment"]["services"][0]["source"], "the image moves as data"
    assert (web["memory"], web["vcpu"], web["replicas"]) == ("1GB", 2, 2), "capacity stays"
    env_after, env_before = after["config"]["acs:environment"], before["config"]["acs:environment"]
    for key in ("variables", "database", "domain", "alerts", "secrets", "name", "stage", "project"):
        assert env_after[key] == env_before[key], key
    assert {k: v for k, v in after["config"].items() if k != "acs:environment"} == \
        {k: v for k, v in before["config"].items() if k != "acs:environment"}, "secrets are never copied"
    assert after["encryptionsalt"] == before["encryptionsalt"]
    assert promotion_plan.promote_plan("dev", "prod", project.dir)["changes"] == [], "promoted: nothing left to move"
