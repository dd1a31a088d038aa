"""Every operation Railway's CLI and Terraform provider send that touches only the modelled subset runs against
the emulator without errors. The report lists which operations are covered and which are not (and why)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from graphql import (DocumentNode, FragmentDefinitionNode, OperationDefinitionNode, OperationType, Visitor, build_schema, parse,
                     print_ast, validate, visit)

from railway_emulator.resolvers import SCHEMA_PATH
from tests.conftest import SHARED_REF, Emulator

SOURCES = {"cli": "railway-cli-operations.graphql", "tf": "tf-provider-operations.graphql"}
pytestmark = pytest.mark.skipif(not SHARED_REF.exists(), reason="../shared/ref is not present")


def _fragments_used(op: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]) -> list[Any]:
    seen: set[str] = set()
    todo: list[Any] = [op]

    class Spreads(Visitor):
        def enter_fragment_spread(self, node: Any, *_: Any) -> None:
            if node.name.value not in seen:
                seen.add(node.name.value)
                todo.append(fragments[node.name.value])

    while todo:
        visit(todo.pop(), Spreads())
    return [fragments[n] for n in sorted(seen)]


def reference_operations() -> dict[str, tuple[str, str | None]]:
    """'source:Name' -> (document, why it is not covered or None)."""
    ours = build_schema(SCHEMA_PATH.read_text())
    out: dict[str, tuple[str, str | None]] = {}
    for source, filename in SOURCES.items():
        doc = parse((SHARED_REF / filename).read_text())
        fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
        for op in doc.definitions:
            if isinstance(op, OperationDefinitionNode) and op.name:
                document = DocumentNode(definitions=[op, *_fragments_used(op, fragments)])
                errors = validate(ours, document)
                why = errors[0].message if errors else None
                if op.operation == OperationType.SUBSCRIPTION:
                    why = "subscriptions (WebSocket) are not modelled"
                out[f"{source}:{op.name.value}"] = (print_ast(document), why)
    return out


class World:
    """One of everything, made through the API, for operations to act on."""

    def __init__(self, emu: Emulator) -> None:
        d = emu.data
        p = d("mutation{ projectCreate(input:{name:\"ref\"}){ id environments { edges { node { id } } } } }")
        self.project = p["projectCreate"]["id"]
        self.env = p["projectCreate"]["environments"]["edges"][0]["node"]["id"]
        self.env2 = d("mutation($p:String!){ environmentCreate(input:{projectId:$p, name:\"staging\"}){ id } }",
                      p=self.project)["environmentCreate"]["id"]
        make = "mutation($p:String!,$e:String!,$n:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, " \
               "name:$n, source:{image:\"node:20\"}, variables:{A:\"1\"}}){ id } }"
        self.service = d(make, p=self.project, e=self.env, n="web")["serviceCreate"]["id"]
        self.bare = d(make, p=self.project, e=self.env, n="worker")["serviceCreate"]["id"]
        vol = d("mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, "
                "serviceId:$s, mountPath:\"/data\"}){ id volumeInstances { edges { node { id } } } } }",
                p=self.project, e=self.env, s=self.service)["volumeCreate"]
        self.volume, self.vi = vol["id"], vol["volumeInstances"]["edges"][0]["node"]["id"]
        self.workflow = d("mutation($v:String!){ volumeInstanceBackupCreate(volumeInstanceId:$v){ workflowId } }",
                          v=self.vi)["volumeInstanceBackupCreate"]["workflowId"]
        self.backup = d("query($v:String!){ volumeInstanceBackupList(volumeInstanceId:$v){ id } }",
                        v=self.vi)["volumeInstanceBackupList"][0]["id"]
        self.domain = d("mutation($e:String!,$s:String!){ serviceDomainCreate(input:{environmentId:$e, serviceId:$s, "
                        "targetPort:3000}){ id } }", e=self.env, s=self.service)["serviceDomainCreate"]["id"]
        self.custom = d("mutation($p:String!,$e:String!,$s:String!){ customDomainCreate(input:{projectId:$p, "
                        "environmentId:$e, serviceId:$s, domain:\"app.example.com\"}){ id } }",
                        p=self.project, e=self.env, s=self.service)["customDomainCreate"]["id"]
        emu.advance(emu.server.backend.deploy_seconds + 0.05)  # the first deployment succeeds before the next
        self.deployment = d("mutation($e:String!,$s:String!){ serviceInstanceDeployV2(environmentId:$e, "
                            "serviceId:$s) }", e=self.env, s=self.service)["serviceInstanceDeployV2"]


def variables_for(name: str, w: World) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    ids = {"projectId": w.project, "environmentId": w.env, "serviceId": w.service, "volumeId": w.volume,
           "volumeInstanceId": w.vi, "volumeInstanceBackupId": w.backup, "workflowId": w.workflow,
           "startDate": (now - timedelta(minutes=5)).isoformat(), "endDate": now.isoformat(),
           "measurements": ["CPU_USAGE", "MEMORY_USAGE_GB"], "stepSeconds": 60, "sampleRateSeconds": 60}
    special: dict[str, dict[str, Any]] = {
        "CustomDomainDelete": {"id": w.custom}, "CustomDomainIssueCertificate": {"id": w.custom},
        "CustomDomainUpdate": {"id": w.custom, "targetPort": 8080},
        "updateCustomDomain": {"id": w.custom, "targetPort": 8080}, "deleteCustomDomain": {"id": w.custom},
        "DeploymentRedeploy": {"id": w.deployment}, "DeploymentRemove": {"id": w.deployment},
        "DeploymentRestart": {"id": w.deployment}, "DeploymentStatus": {"id": w.deployment},
        "Deployment": {"id": w.deployment},
        "EnvironmentCreate": {"name": "preview", "sourceId": w.env},
        "EnvironmentDelete": {"id": w.env2}, "deleteEnvironment": {"id": w.env2},
        "EnvironmentPatchCommit": {"patch": {"services": {w.service: {"deploy": {"numReplicas": 1}}}}},
        "FunctionUpdate": {"startCommand": "node cron.js", "serviceId": w.bare},
        "ProjectCreate": {"name": "made-by-cli"},
        "ServiceConnect": {"id": w.bare, "input": {"image": "redis:7"}},
        "connectService": {"id": w.bare, "input": {"image": "redis:7"}},
        "ServiceCreate": {"name": "api", "source": {"image": "node:20"}, "variables": {"X": "1"}},
        "ServiceDisconnect": {"id": w.bare}, "disconnectService": {"id": w.bare},
        "ServiceDomainCreate": {"serviceId": w.bare, "targetPort": 3000},
        "ServiceDomainDelete": {"id": w.domain}, "deleteServiceDomain": {"id": w.domain},
        "ServiceDomainUpdate": {"input": {"serviceDomainId": w.domain, "environmentId": w.env,
                                          "serviceId": w.service, "domain": "chosen.up.railway.app"}},
        "updateServiceDomain": {"input": {"serviceDomainId": w.domain, "environmentId": w.env,
                                          "serviceId": w.service, "domain": "chosen.up.railway.app"}},
        "ServiceInstanceUpdate": {"input": {"healthcheckPath": "/health", "numReplicas": 1}},
        "updateServiceInstance": {"input": {"startCommand": "npm start"}},
        "TemplateDeploy": {"templateId": "postgres", "serializedConfig": {"services": {}}},
        "TemplateDeployV2": {"input": {"templateId": "postgres", "projectId": w.project, "environmentId": w.env,
                                       "serializedConfig": {"services": {}}}},
        "VariableCollectionUpsert": {"variables": {"B": "2"}},
        "VariableDelete": {"name": "A"}, "deleteVariable": {"input": {"projectId": w.project, "environmentId": w.env,
                                                                       "serviceId": w.service, "name": "A"}},
        "VolumeAttach": {"serviceId": w.bare}, "VolumeCreate": {"serviceId": w.bare, "mountPath": "/w"},
        "VolumeDelete": {"id": w.volume}, "deleteVolume": {"id": w.volume},
        "VolumeInstanceBackupScheduleUpdate": {"kinds": ["DAILY"]}, "VolumeMountPathUpdate": {"mountPath": "/new"},
        "VolumeNameUpdate": {"name": "pgdata"},
        "Deployments": {"input": {"projectId": w.project, "serviceId": w.service}, "first": 5},
        "GetEnvironmentConfig": {"id": w.env, "decryptVariables": False},
        "TemplateDetail": {"code": "postgres"},
        "getEnvironment": {"id": w.env}, "getProject": {"id": w.project}, "getVolumeInstances": {"id": w.project},
        "createEnvironment": {"input": {"projectId": w.project, "name": "qa"}},
        "createProject": {"input": {"name": "made-by-tf"}},
        "updateProject": {"id": w.project, "input": {"name": "renamed"}}, "deleteProject": {"id": w.project},
        "getService": {"id": w.service}, "updateService": {"id": w.service, "input": {"name": "web2"}},
        "deleteService": {"id": w.bare},
        "createService": {"input": {"projectId": w.project, "name": "tf-svc", "source": {"image": "nginx"}}},
        "createCustomDomain": {"input": {"projectId": w.project, "environmentId": w.env, "serviceId": w.service,
                                         "domain": "tf.example.com"}},
        "createVolume": {"input": {"projectId": w.project, "environmentId": w.env, "serviceId": w.bare,
                                   "mountPath": "/tf"}},
        "updateVolume": {"id": w.volume, "input": {"name": "tf-volume"}},
        "updateVolumeInstance": {"id": w.volume, "input": {"mountPath": "/moved"}},
        "createServiceDomain": {"input": {"environmentId": w.env, "serviceId": w.bare, "targetPort": 80}},
        "upsertVariable": {"input": {"projectId": w.project, "environmentId": w.env, "serviceId": w.service,
                                     "name": "C", "value": "3"}},
        "upsertVariableCollection": {"input": {"projectId": w.project, "environmentId": w.env,
                                               "serviceId": w.service, "variables": {"D": "4"}}},
    }
    return {**ids, **special.get(name, {})}


OPERATIONS = reference_operations() if SHARED_REF.exists() else {}
COVERED = sorted(k for k, (_, why) in OPERATIONS.items() if why is None)


def test_coverage_report(capsys: pytest.CaptureFixture[str]) -> None:
    not_covered = {k: why for k, (_, why) in OPERATIONS.items() if why}
    with capsys.disabled():
        print(f"\nreference operations: {len(COVERED)} covered, {len(not_covered)} outside the modelled subset")
    report = Path(__file__).resolve().parents[2] / "build" / "reference-operations.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text("COVERED\n" + "\n".join(COVERED) + "\n\nNOT COVERED\n" +
                      "\n".join(f"{k}: {why}" for k, why in sorted(not_covered.items())) + "\n")
    assert len(COVERED) >= 80  # every CLI/TF operation on projects, environments, services, variables, volumes,
    # backups, domains, deployments and templates


@pytest.mark.parametrize("key", COVERED)
def test_reference_operation_runs(key: str, emulator: Emulator) -> None:
    emulator.server.backend.deploy_seconds = 0.02
    world = World(emulator)
    document, _ = OPERATIONS[key]
    op = next(d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode))
    wanted = {v.variable.name.value for v in op.variable_definitions}
    values = {k: v for k, v in variables_for(op.name.value, world).items() if k in wanted}
    body = emulator.http.post(emulator.url, json={"query": document, "variables": values,
                                                  "operationName": op.name.value},
                              headers={"Authorization": "Bearer railway-emulator-local-token"}).json()
    assert not body.get("errors"), f"{key}: {body['errors']}"
    assert body["data"] and all(v is not None for v in body["data"].values()), body
