"""Every query and mutation Railway's CLI and Terraform provider send is answered by the emulator with Railway's
semantics: a modelled one with data, one on a feature the emulator does not model with the explicit error its
ledger names (railway_emulator/COVERAGE.md), never a schema error. Subscriptions (WebSocket) stay out. The report
(build/reference-operations.txt) lists every operation with how it is answered."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from graphql import (DocumentNode, FragmentDefinitionNode, GraphQLEnumType, GraphQLInputObjectType, GraphQLList,
                     GraphQLNonNull, OperationDefinitionNode, OperationType, Visitor, build_schema, parse, print_ast,
                     type_from_ast, validate, visit)

from railway_emulator.models import unmodelled
from railway_emulator.resolvers import SCHEMA_PATH, method_name
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
                key = f"{source}:{op.name.value}"
                if op.operation == OperationType.SUBSCRIPTION:
                    why, key = "subscriptions (WebSocket) are not modelled", key + " (subscription)"
                elif key in out:  # a query and a mutation of one name (SandboxTemplateBuild)
                    key += f" ({op.operation.value})"
                out[key] = (print_ast(document), why)
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
        self.tcp_proxy = d("mutation($e:String!,$s:String!){ tcpProxyCreate(input:{environmentId:$e, serviceId:$s, "
                           "applicationPort:5432}){ id } }", e=self.env, s=self.service)["tcpProxyCreate"]["id"]
        self.ssh_key = d("mutation{ sshPublicKeyCreate(input:{name:\"laptop\", publicKey:\"ssh-ed25519 "
                         "AAAAC3NzaC1lZDI1NTE5AAAAIB9cZ6oWw2gm1Z9f2Ck7yZf2m0Fv8rY1y5K2M1gDqgQh dev\"}){ id } }"
                         )["sshPublicKeyCreate"]["id"]
        d("mutation($e:String!){ environmentStageChanges(environmentId:$e, input:{sharedVariables:{S:{value:\"1\"}}})"
          "{ id } }", e=self.env)


def variables_for(name: str, w: World) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    ids = {"projectId": w.project, "environmentId": w.env, "serviceId": w.service, "volumeId": w.volume,
           "volumeInstanceId": w.vi, "volumeInstanceBackupId": w.backup, "workflowId": w.workflow,
           "deploymentId": w.deployment, "workspaceId": WORKSPACE, "rootServiceId": w.service,
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
        "TcpProxyDelete": {"id": w.tcp_proxy}, "deleteTcpProxy": {"id": w.tcp_proxy},
        "SshPublicKeyDelete": {"id": w.ssh_key}, "ProjectScheduleDelete": {"id": w.project},
        "SshPublicKeyCreate": {"input": {"name": "ci", "publicKey": "ssh-ed25519 "
                                         "AAAAC3NzaC1lZDI1NTE5AAAAIHx1p0cJ2dQ3L5s6v9n7m8k4j3h2g1f0e9d8c7b6a5Z4 ci"}},
        "createTcpProxy": {"input": {"environmentId": w.env, "serviceId": w.service, "applicationPort": 6379}},
        "EnvironmentStageChanges": {"input": {"sharedVariables": {"T": {"value": "2"}}}, "merge": True},
        "Template": {"code": "postgres"}, "HttpLogs": {"beforeLimit": 10},
        "Project": {"id": w.project},
        "CustomDomainCreate": {"input": {"projectId": w.project, "environmentId": w.env, "serviceId": w.service,
                                         "domain": "cli.example.com"}},
    }
    return {**ids, **special.get(name, {})}


OPERATIONS = reference_operations() if SHARED_REF.exists() else {}
SCHEMA = build_schema(SCHEMA_PATH.read_text())
RUNNABLE = sorted(k for k, (_, why) in OPERATIONS.items() if not k.endswith("(subscription)"))
WORKSPACE = "4f2c1f0e-0000-4000-8000-000000000001"
# Refusals the emulator models as Railway's answers for its one user (not features left out).
REFUSED = {"cli:ValidateTwoFactor": "Two-factor authentication is not enabled"}
PROJECT_TOKEN_OPERATIONS = {"cli:ProjectToken"}  # asks about the project token sending it


def expected_error(key: str) -> str | None:
    """The error an operation answers with by design, or None when it answers with data."""
    op = next(d for d in parse(OPERATIONS[key][0]).definitions if isinstance(d, OperationDefinitionNode))
    name = method_name(SCHEMA, op.operation.value.capitalize(), _root_field(OPERATIONS[key][0]))
    if name in unmodelled.NOT_IMPLEMENTED:
        return f"{unmodelled.NOT_IMPLEMENTED[name]} are not implemented in the Railway emulator"
    if name in unmodelled.NOT_FOUND:
        return f"{unmodelled.NOT_FOUND[name]} not found"
    return REFUSED.get(key)


def _root_field(document: str) -> str:
    op = next(d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode))
    return op.selection_set.selections[0].name.value  # type: ignore[attr-defined]


def test_every_client_operation_is_in_the_schema() -> None:
    """No query or mutation of Railway's CLI or Terraform provider is a schema error against the emulator."""
    errors = {k: why for k, (_, why) in OPERATIONS.items() if why and not k.endswith("(subscription)")}
    assert len(RUNNABLE) == 182 and not errors, errors


def test_coverage_report(capsys: pytest.CaptureFixture[str]) -> None:
    answered = [k for k in RUNNABLE if expected_error(k) is None]
    refused = {k: expected_error(k) for k in RUNNABLE if k not in answered}
    outside = {k: why for k, (_, why) in OPERATIONS.items() if k not in RUNNABLE}
    with capsys.disabled():
        print(f"\nreference operations: {len(answered)} answered with data, {len(refused)} with the error Railway "
              f"would give for what the emulator does not model, {len(outside)} subscriptions outside")
    report = Path(__file__).resolve().parents[2] / "build" / "reference-operations.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text("ANSWERED WITH DATA\n" + "\n".join(answered) + "\n\nANSWERED WITH AN ERROR BY DESIGN\n" +
                      "\n".join(f"{k}: {why}" for k, why in sorted(refused.items())) + "\n\nNOT ANSWERED\n" +
                      "\n".join(f"{k}: {why}" for k, why in sorted(outside.items())) + "\n")
    assert len(answered) >= 120 and len(answered) + len(refused) == len(RUNNABLE)


def test_coverage_ledger_lists_every_operation() -> None:
    """railway_emulator/COVERAGE.md has a row for every operation of both clients, with the answer this test
    expects of it."""
    ledger = (Path(__file__).resolve().parents[2] / "railway_emulator" / "COVERAGE.md").read_text()
    rows = {(m.group(1), m.group(2)): m.group(3) for m in re.finditer(r"^\| (cli|tf) \| `([^`]+)` \| `[^`]+` \| (.+) \|$",
                                                                    ledger, re.M)}
    missing = [k for k in OPERATIONS if tuple(k.split(":", 1)) not in rows]
    assert not missing, missing
    for key in RUNNABLE:
        wanted = expected_error(key)
        assert (wanted in rows[tuple(key.split(":", 1))]) if wanted else rows[tuple(key.split(":", 1))].startswith(
            "data"), key


def _filler(type_: Any, name: str, ids: dict[str, Any]) -> Any:
    """A value for a required variable or input field no test spelled out: ids by name, else by type."""
    if name in ids:
        return ids[name]
    named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(named, GraphQLList):
        return [_filler(named.of_type, name, ids)]
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    if isinstance(named, GraphQLInputObjectType):
        return {f: _filler(field.type, f, ids) for f, field in named.fields.items()
                if isinstance(field.type, GraphQLNonNull)}
    return {"Int": 1, "Float": 1.0, "Boolean": False, "DateTime": datetime.now(timezone.utc).isoformat(),
            "JSON": {}}.get(named.name, "emulator")


@pytest.mark.parametrize("key", RUNNABLE)
def test_reference_operation_runs(key: str, emulator: Emulator) -> None:
    """Each client operation answers with data, or with exactly the error the ledger gives it by design."""
    emulator.server.backend.deploy_seconds = 0.02
    world = World(emulator)
    document, _ = OPERATIONS[key]
    op = next(d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode))
    ids = variables_for(op.name.value, world)
    values = {}
    for definition in op.variable_definitions:
        var = definition.variable.name.value
        if var in ids or isinstance(type_from_ast(SCHEMA, definition.type), GraphQLNonNull):
            values[var] = _filler(type_from_ast(SCHEMA, definition.type), var, ids)
    auth = {"Authorization": "Bearer railway-emulator-local-token"}
    if key in PROJECT_TOKEN_OPERATIONS:
        token = emulator.admin("/project-tokens", {"projectId": world.project, "environmentId": world.env})["token"]
        auth = {"Project-Access-Token": token}
    body = emulator.http.post(emulator.url, json={"query": document, "variables": values,
                                                  "operationName": op.name.value}, headers=auth).json()
    wanted = expected_error(key)
    if wanted:
        assert body == {"errors": [{"message": wanted, "path": [_root_field(document)]}], "data": None}, key
        return
    assert not body.get("errors"), f"{key}: {body['errors']}"
    assert body["data"] is not None and _root_field(document) in body["data"], body
