"""Regenerate railway_emulator/schema.graphql: the emulator's SDL, a strict subset of Railway's schema.

Run with ../shared present: `python tools/gen_emulator_sdl.py ../shared/ref/railway-schema.graphql`.
The subset is chosen here (root fields and the fields of each object type the emulator models), plus every
query and mutation field, and every object field, that Railway's own clients select (the CLI's and the Terraform
provider's operations beside the schema); input types, enums and scalars they reach are taken whole.
Descriptions are dropped: the SDL is ours.
"""
from __future__ import annotations

import sys
from pathlib import Path

from graphql import (GraphQLEnumType, GraphQLInputObjectType, GraphQLNamedType, GraphQLObjectType,
                     GraphQLScalarType, TypeInfo, TypeInfoVisitor, Visitor, build_schema, get_named_type, parse,
                     print_type, visit)
from graphql.type import introspection_types, specified_scalar_types

QUERY = """project projects environment environments service serviceInstance serviceInstanceLimits
serviceInstanceLimitOverride variables variablesForServiceDeployment volumeInstance volumeInstanceBackupList
volumeInstanceBackupScheduleList domains serviceDomainAvailable customDomainAvailable customDomain deployments
deployment projectToken projectTokens workflowStatus template regions me metrics httpMetrics httpDurationMetrics
notificationRules""".split()

MUTATION = """projectCreate projectUpdate projectDelete projectTokenCreate projectTokenDelete environmentCreate environmentRename environmentDelete
serviceCreate serviceUpdate serviceDelete serviceConnect serviceDisconnect serviceInstanceUpdate
serviceInstanceLimitsUpdate variableUpsert variableCollectionUpsert variableDelete volumeCreate volumeUpdate
volumeInstanceUpdate volumeDelete volumeInstanceBackupCreate volumeInstanceBackupRestore volumeInstanceBackupDelete
volumeInstanceBackupLock volumeInstanceBackupScheduleUpdate serviceDomainCreate serviceDomainUpdate
serviceDomainDelete customDomainCreate customDomainUpdate customDomainDelete serviceInstanceDeployV2
serviceInstanceDeploy serviceInstanceRedeploy deploymentRedeploy deploymentRollback deploymentRestart
deploymentStop deploymentCancel deploymentRemove templateDeployV2 environmentPatchCommit
customDomainIssueCertificate notificationRuleCreate notificationRuleUpdate notificationRuleDelete""".split()

OBJECTS: dict[str, str] = {
    "Project": "id name description isPublic prDeploys baseEnvironmentId focusedPrEnvironments botPrEnvironments "
               "workspaceId primaryEnvironmentId createdAt updatedAt deletedAt environments services volumes workspace",
    "Environment": "id name projectId isEphemeral createdAt updatedAt deletedAt sourceEnvironment meta canAccess "
                   "config configEtag serviceInstances volumeInstances unmergedChangesCount",
    "EnvironmentMeta": "prNumber prTitle prRepo branch baseBranch",
    "Service": "id name icon projectId templateId createdAt updatedAt deletedAt serviceInstances project",
    "ServiceInstance": "id serviceId serviceName environmentId startCommand buildCommand preDeployCommand rootDirectory "
                       "healthcheckPath healthcheckTimeout numReplicas region restartPolicyType restartPolicyMaxRetries "
                       "cronSchedule sleepApplication builder source latestDeployment activeDeployments domains "
                       "isUpdatable createdAt updatedAt deletedAt watchPatterns railwayConfigFile dockerfilePath "
                       "upstreamUrl nextCronRunAt overlapSeconds drainingSeconds",
    "ServiceSource": "image repo",
    "Volume": "id name projectId createdAt volumeInstances",
    "VolumeInstance": "id volumeId environmentId serviceId mountPath sizeMB currentSizeMB region state createdAt "
                      "deletedAt isPendingDeletion externalId volume",
    "VolumeInstanceBackup": "id name createdAt expiresAt externalId usedMB referencedMB scheduleId "
                            "volumeInstanceSizeMB creatorId",
    "VolumeInstanceBackupSchedule": "id name cron kind retentionSeconds createdAt",
    "ServiceDomain": "id domain suffix targetPort syncStatus environmentId serviceId projectId createdAt updatedAt "
                     "deletedAt",
    "CustomDomain": "id domain targetPort syncStatus environmentId serviceId projectId status createdAt updatedAt "
                    "deletedAt isRailwayDomain",
    "CustomDomainStatus": "dnsRecords verificationDnsHost verificationToken verified certificateStatus "
                          "certificateErrorMessage cdnProvider",
    "DNSRecords": "hostlabel fqdn recordType requiredValue currentValue status zone purpose",
    "AllDomains": "serviceDomains customDomains",
    "Deployment": "id status statusUpdatedAt createdAt updatedAt url staticUrl meta canRedeploy canRollback "
                  "serviceId environmentId projectId snapshotId deploymentStopped instances",
    "DeploymentDeploymentInstance": "id status",
    "ProjectToken": "id name projectId environmentId createdAt displayToken",
    "WorkflowResult": "status error",
    "WorkflowId": "workflowId",
    "TemplateDeployPayload": "projectId workflowId",
    "DomainAvailable": "available message",
    "Template": "id code name serializedConfig",
    "Region": "name region country location",
    "User": "id email name workspaces",
    "Workspace": "id name",
    "NotificationRule": "id workspaceId projectId environmentId serviceId eventTypes severities channels "
                        "ephemeralEnvironments createdAt updatedAt",
    "NotificationChannel": "id workspaceId config createdAt updatedAt",
    "MetricsResult": "measurement tags values",
    "Metric": "ts value",
    "MetricTags": "deploymentId environmentId projectId serviceId",
    "HttpMetricsResult": "samples",
    "HttpMetricsSample": "ts value",
    "HttpDurationMetricsResult": "samples",
    "HttpDurationMetricsSample": "ts p50 p90 p95 p99",
}


REFERENCE_OPERATIONS = ("railway-cli-operations.graphql", "tf-provider-operations.graphql")


def used_by_clients(schema, ref_dir: Path) -> dict[str, set[str]]:
    """Type name -> the fields Railway's own clients select on it (subscriptions stay out)."""
    used: dict[str, set[str]] = {}
    info = TypeInfo(schema)

    class Fields(Visitor):
        def enter_field(self, node, *_):
            parent = info.get_parent_type()
            if parent is not None and parent.name != "Subscription" and not node.name.value.startswith("__"):
                used.setdefault(parent.name, set()).add(node.name.value)

    for name in REFERENCE_OPERATIONS:
        visit(parse((ref_dir / name).read_text()), TypeInfoVisitor(info, Fields()))
    return used


def add_client_fields(schema, ref_dir: Path) -> None:
    """Widens QUERY, MUTATION and OBJECTS by what the clients select, so none of their operations is a schema
    error against the emulator."""
    used = used_by_clients(schema, ref_dir)
    QUERY.extend(sorted(used.pop("Query", set()) - set(QUERY)))
    MUTATION.extend(sorted(used.pop("Mutation", set()) - set(MUTATION)))
    for type_name, fields in used.items():
        t = schema.type_map[type_name]
        if isinstance(t, GraphQLObjectType) and not _generic(t):
            OBJECTS[type_name] = " ".join(sorted(set(OBJECTS.get(type_name, "").split()) | fields))


def _generic(t: GraphQLObjectType) -> bool:
    return t.name.endswith(("Connection", "Edge")) or t.name == "PageInfo"


def _keep_object(t: GraphQLObjectType) -> bool:
    return t.name.endswith(("Connection", "Edge")) or t.name == "PageInfo" or t.name in OBJECTS


def collect(schema, roots: dict[str, list[str]]) -> dict[str, GraphQLNamedType]:
    keep: dict[str, GraphQLNamedType] = {}
    todo: list[GraphQLNamedType] = []

    def want(t) -> None:
        named = get_named_type(t)
        if named.name in keep or named.name in specified_scalar_types or named.name in introspection_types:
            return
        if isinstance(named, GraphQLObjectType) and not _keep_object(named):
            raise SystemExit(f"object type {named.name} is reachable but not chosen in OBJECTS")
        keep[named.name] = named
        todo.append(named)

    for root, names in roots.items():
        rt = schema.type_map[root]
        for n in names:
            f = rt.fields[n]
            want(f.type)
            for a in f.args.values():
                want(a.type)
    while todo:
        t = todo.pop()
        if isinstance(t, GraphQLObjectType):
            chosen = OBJECTS.get(t.name, "").split() or list(t.fields)
            for n in chosen:
                f = t.fields[n]
                want(f.type)
                for a in f.args.values():
                    want(a.type)
        elif isinstance(t, GraphQLInputObjectType):
            for f in t.fields.values():
                want(f.type)
    return keep


def _strip(t: GraphQLNamedType) -> GraphQLNamedType:
    t.description = None
    if isinstance(t, GraphQLEnumType):
        for v in t.values.values():
            v.description = None
    if isinstance(t, (GraphQLObjectType, GraphQLInputObjectType)):
        for f in t.fields.values():
            f.description = None
            for a in getattr(f, "args", {}).values():
                a.description = None
    return t


def render(schema, roots: dict[str, list[str]]) -> str:
    keep = collect(schema, roots)
    parts = []
    for root, names in roots.items():
        fields = schema.type_map[root].fields
        obj = GraphQLObjectType(root, {n: fields[n] for n in sorted(names)})
        parts.append(print_type(_strip(obj)))
    for name in sorted(keep):
        t = keep[name]
        if isinstance(t, GraphQLObjectType) and name in OBJECTS:
            t = GraphQLObjectType(name, {n: t.fields[n] for n in sorted(OBJECTS[name].split())})
        if isinstance(t, GraphQLScalarType):
            parts.append(f"scalar {name}")
            continue
        parts.append(print_type(_strip(t)))
    header = "# Railway emulator schema: a strict subset of Railway's public API (generated by tools/gen_emulator_sdl.py).\n"
    return header + "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    real = build_schema(Path(sys.argv[1]).read_text())
    add_client_fields(real, Path(sys.argv[1]).parent)
    out = Path(__file__).resolve().parent.parent / "railway_emulator" / "schema.graphql"
    out.write_text(render(real, {"Query": QUERY, "Mutation": MUTATION}))
    print(f"wrote {out}")
