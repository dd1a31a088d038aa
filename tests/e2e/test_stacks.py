"""dev and prod stacks with the real engine against the emulator, checked field by field through its API."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Emulator, PulumiProject

pytestmark = pytest.mark.e2e
SECRET_NAMES = ["API_KEY", "JWT_SECRET", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"]

LIVE = """
query Live($projectId: String!, $environmentId: String!, $serviceId: String!) {
  environment(id: $environmentId) { id name isEphemeral
    volumeInstances { edges { node { id sizeMB mountPath serviceId } } }
    serviceInstances { edges { node { serviceId serviceName } } } }
  serviceInstance(environmentId: $environmentId, serviceId: $serviceId) {
    startCommand preDeployCommand healthcheckPath healthcheckTimeout numReplicas restartPolicyType source { image } }
  serviceInstanceLimitOverride(environmentId: $environmentId, serviceId: $serviceId)
  variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId)
  domains(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId) { serviceDomains { domain } }
}
"""


def live_state(emulator: Emulator, outputs: dict[str, Any]) -> dict[str, Any]:
    return emulator.data(LIVE, projectId=outputs["projectId"], environmentId=outputs["environmentId"],
                         serviceId=outputs["serviceIds"]["web"])


def postgres_url(emulator: Emulator, outputs: dict[str, Any], live: dict[str, Any]) -> str:
    pg = next(e["node"]["serviceId"] for e in live["environment"]["serviceInstances"]["edges"]
              if e["node"]["serviceName"] == "Postgres")
    return emulator.data("query($p:String!,$e:String!,$s:String!){ variables(projectId:$p, environmentId:$e, "
                         "serviceId:$s) }", p=outputs["projectId"], e=outputs["environmentId"],
                         s=pg)["variables"]["DATABASE_URL"]


def assert_stage(emulator: Emulator, outputs: dict[str, Any], *, memory_mb: int, volume_mb: int, host: str,
                 node_env: str, log_level: str) -> dict[str, Any]:
    live = live_state(emulator, outputs)
    inst = live["serviceInstance"]
    assert live["serviceInstanceLimitOverride"]["containers"]["memoryBytes"] == memory_mb * 1024 ** 2
    assert [e["node"]["sizeMB"] for e in live["environment"]["volumeInstances"]["edges"]] == [volume_mb]
    assert [d["domain"] for d in live["domains"]["serviceDomains"]] == [host]
    variables = live["variables"]
    assert variables["NODE_ENV"] == node_env and variables["LOG_LEVEL"] == log_level
    assert variables["DATABASE_URL"] == postgres_url(emulator, outputs, live) != ""
    assert variables["DATABASE_URL"].startswith("postgresql://postgres:")
    assert set(SECRET_NAMES) <= set(variables)
    assert inst["healthcheckPath"] == "/health" and inst["preDeployCommand"] == ["npm run migrate"]
    assert inst["restartPolicyType"] == "ON_FAILURE" and inst["startCommand"] == "npm start"
    assert outputs["url"] == f"https://{host}" and outputs["databaseKind"] == "postgres"
    return live


def secret_values(project: PulumiProject, stack: str) -> list[str]:
    values = [project.run("config", "get", f"acs:{name}", stack=stack).stdout.strip() for name in SECRET_NAMES]
    outputs = project.outputs(stack, secrets=True)
    password = re.search(r"postgres:([^@]+)@", outputs["databaseUrl"]).group(1)
    return values + [password]


def test_dev_stack(project: PulumiProject, emulator: Emulator) -> None:
    up = project.up("dev")
    outputs = project.outputs("dev")
    assert_stage(emulator, outputs, memory_mb=512, volume_mb=1024, host="acs-dev.up.railway.app",
                 node_env="development", log_level="debug")
    assert emulator.stats()["total"] <= 25, emulator.stats()

    emulator.reset_stats()
    project.run("preview", "--expect-no-changes", stack="dev")
    second = project.run("up", "--yes", "--skip-preview", stack="dev")
    assert "unchanged" in second.stdout
    assert emulator.stats()["total"] == 0, "a no-op preview and up make no API call"

    # No secret in plain text in the state, the engine's output (default and --debug) or the emulator's log.
    debug = project.run("preview", "--debug", stack="dev")
    secrets = secret_values(project, "dev")
    haystacks = {"state": project.state_text(), "export": project.export("dev"),
                 "engine output": up.stdout + up.stderr + second.stdout + debug.stdout + debug.stderr,
                 "emulator request log": str(emulator.admin("/requests"))}
    for where, text in haystacks.items():
        for value in secrets:
            assert value not in text, f"a secret value appears in plain text in the {where}"


def test_prod_stack_and_protection(project: PulumiProject, emulator: Emulator) -> None:
    project.up("prod")
    outputs = project.outputs("prod")
    live = assert_stage(emulator, outputs, memory_mb=1024, volume_mb=5120, host="kars.up.railway.app",
                        node_env="production", log_level="info")
    assert live["serviceInstance"]["numReplicas"] == 2
    vi = live["environment"]["volumeInstances"]["edges"][0]["node"]["id"]
    kinds = emulator.data("query($v:String!){ volumeInstanceBackupScheduleList(volumeInstanceId:$v){ kind } }", v=vi)
    assert [k["kind"] for k in kinds["volumeInstanceBackupScheduleList"]] == ["DAILY"]
    project.run("preview", "--expect-no-changes", stack="prod")

    destroy = project.run("destroy", "--yes", "--skip-preview", stack="prod", check=False)
    assert destroy.returncode != 0
    assert "protected" in destroy.stdout + destroy.stderr
    inventory = emulator.inventory()
    assert any(v["id"] == vi for v in inventory["volume_instances"]), "the database volume survives destroy"
    assert inventory["projects"], "the protected project survives destroy"


BAD_CONFIGS = {
    "unknown key": (lambda env: env.update(colour="blue"), "acs:environment.colour: unknown key"),
    "bad unit": (lambda env: env["services"][0].update(memory="512XB"),
                 "acs:environment.services[0].memory: '512XB' is not a size"),
    "negative size": (lambda env: env["database"].update(volumeSize="-1GB"),
                      "acs:environment.database.volumeSize: '-1GB' is not a size"),
    "bad subdomain": (lambda env: env["domain"].update(subdomain="Not_Valid-"),
                      "acs:environment.domain.subdomain: 'Not_Valid-' is not a valid subdomain"),
    "bad restart policy": (lambda env: env["services"][0].update(restartPolicy="SOMETIMES"),
                           "acs:environment.services[0].restartPolicy: must be 'ON_FAILURE', 'ALWAYS' or 'NEVER'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_rejected_before_any_api_call(case: str, project: PulumiProject, emulator: Emulator) -> None:
    mutate, message = BAD_CONFIGS[case]
    path = project.dir / "Pulumi.dev.yaml"
    doc = yaml.safe_load(path.read_text())
    mutate(doc["config"]["acs:environment"])
    path.write_text(yaml.safe_dump(doc))
    project.run("stack", "select", "--create", "dev")
    result = project.run("preview", stack="dev", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, result.stdout
    assert emulator.stats()["total"] == 0


def test_missing_secret_is_named_before_any_api_call(project: PulumiProject, emulator: Emulator) -> None:
    project.run("stack", "select", "--create", "dev")
    project.run("config", "rm", "acs:JWT_SECRET", stack="dev")
    result = project.run("preview", stack="dev", check=False)
    assert result.returncode != 0
    assert "acs:JWT_SECRET: missing secret (set it with: pulumi config set --secret acs:JWT_SECRET" in result.stdout
    assert emulator.stats()["total"] == 0


def test_committed_stack_files_hold_only_ciphertext() -> None:
    root = Path(__file__).resolve().parents[2]
    for stack in ("dev", "prod"):
        config = yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text())["config"]
        for name in SECRET_NAMES:
            assert set(config[f"acs:{name}"]) == {"secure"}, f"{stack}: acs:{name} must be a secret"
