"""Thin GraphQL resolvers: each maps one field of the schema onto a `models.Backend` call."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from graphql import GraphQLResolveInfo, GraphQLSchema, build_schema

from railway_emulator import metrics, models as m
from railway_emulator.errors import NotAuthorized

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
Resolver = Callable[..., Any]


def _ctx(info: GraphQLResolveInfo) -> tuple[m.Backend, m.Token]:
    return info.context["backend"], info.context["token"]


def connection(items: list[Any], first: int | None = None, after: str | None = None, **_: Any) -> dict[str, Any]:
    """A Relay connection over a list; cursors are list positions."""
    start = int(after) + 1 if after else 0
    end = len(items) if first is None else min(len(items), start + first)
    edges = [{"node": item, "cursor": str(i)} for i, item in enumerate(items[start:end], start)]
    return {"edges": edges, "pageInfo": {"hasNextPage": end < len(items), "hasPreviousPage": start > 0,
                                         "startCursor": edges[0]["cursor"] if edges else None,
                                         "endCursor": edges[-1]["cursor"] if edges else None}}


def _page(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs.get(k) for k in ("first", "after")}


# ---- Query ------------------------------------------------------------------------------------------
def _me(_: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    _, tok = _ctx(info)
    if tok.is_project_token:
        raise NotAuthorized()
    return {"id": "user-" + tok.workspaceId[:8], "email": "developer@acs.local", "name": "ACS developer",
            "workspaces": [{"id": tok.workspaceId, "name": "ACS"}]}


def _project_token(_: Any, info: GraphQLResolveInfo) -> m.Token:
    backend, tok = _ctx(info)
    if not tok.is_project_token:
        raise m.NotFound("Project token")
    return tok


QUERY: dict[str, Resolver] = {
    "me": _me,
    "projectToken": _project_token,
    "projectTokens": lambda _, info, projectId, **kw: connection(
        _ctx(info)[0].project_tokens_of(_ctx(info)[1], projectId), **_page(kw)),
    "project": lambda _, info, id: _ctx(info)[0].project(_ctx(info)[1], id),
    "projects": lambda _, info, **kw: connection(_ctx(info)[0].projects(_ctx(info)[1]), **_page(kw)),
    "environment": lambda _, info, id, projectId=None: _ctx(info)[0].environment(_ctx(info)[1], id),
    "environments": lambda _, info, projectId, isEphemeral=None, **kw: connection(
        _ctx(info)[0].environments(_ctx(info)[1], projectId, isEphemeral), **_page(kw)),
    "service": lambda _, info, id: _ctx(info)[0].service(_ctx(info)[1], id),
    "serviceInstance": lambda _, info, environmentId, serviceId: _ctx(info)[0].instance(
        _ctx(info)[1], environmentId, serviceId),
    "serviceInstanceLimits": lambda _, info, environmentId, serviceId: m.Backend.limits_json(
        _ctx(info)[0].instance(_ctx(info)[1], environmentId, serviceId), merged=True),
    "serviceInstanceLimitOverride": lambda _, info, environmentId, serviceId: m.Backend.limits_json(
        _ctx(info)[0].instance(_ctx(info)[1], environmentId, serviceId), merged=False),
    "variables": lambda _, info, projectId, environmentId, serviceId=None, unrendered=None: _ctx(info)[0]
    .variables_of(_ctx(info)[1], projectId, environmentId, serviceId, bool(unrendered)),
    "variablesForServiceDeployment": lambda _, info, projectId, environmentId, serviceId: _ctx(info)[0]
    .variables_of(_ctx(info)[1], projectId, environmentId, serviceId, False),
    "volumeInstance": lambda _, info, id: _ctx(info)[0].volume_instance(_ctx(info)[1], id),
    "volumeInstanceBackupList": lambda _, info, volumeInstanceId: _ctx(info)[0].backups_of(
        _ctx(info)[1], volumeInstanceId),
    "volumeInstanceBackupScheduleList": lambda _, info, volumeInstanceId: _ctx(info)[0].backup_schedules(
        _ctx(info)[1], volumeInstanceId),
    "domains": lambda _, info, projectId, environmentId, serviceId: _ctx(info)[0].domains_of(
        _ctx(info)[0]._scope_check(_ctx(info)[1], projectId, environmentId, serviceId).id, serviceId),
    "serviceDomainAvailable": lambda _, info, domain: _ctx(info)[0].domain_available(domain),
    "customDomainAvailable": lambda _, info, domain: _ctx(info)[0].domain_available(domain),
    "customDomain": lambda _, info, id, projectId: _ctx(info)[0].custom_domain(_ctx(info)[1], id),
    "deployments": lambda _, info, input, **kw: connection(
        _ctx(info)[0].deployments_of(_ctx(info)[1], input), **_page(kw)),
    "deployment": lambda _, info, id: _ctx(info)[0].deployment(_ctx(info)[1], id),
    "workflowStatus": lambda _, info, workflowId: _ctx(info)[0].workflow(workflowId),
    "template": lambda _, info, code=None, **__: _ctx(info)[0].template(code),
    "regions": lambda _, info, projectId=None: [
        {"name": "us-west2", "region": "us-west2", "country": "US", "location": "California, USA"},
        {"name": "us-east4-eqdc4a", "region": "us-east4-eqdc4a", "country": "US", "location": "Virginia, USA"},
        {"name": "europe-west4-drams3a", "region": "europe-west4-drams3a", "country": "NL",
         "location": "Amsterdam, Netherlands"},
        {"name": "asia-southeast1-eqsg3a", "region": "asia-southeast1-eqsg3a", "country": "SG",
         "location": "Singapore"}],
}

def _series_args(info: GraphQLResolveInfo, service_id: str | None, env_id: str | None, start: str | None,
                 end: str | None, step: int | None) -> tuple[Any, Any, float, float, int]:
    backend, tok = _ctx(info)
    if not service_id or not env_id:
        raise m.BadRequest("serviceId and environmentId are required")
    dep, inst = backend.metric_window(tok, service_id, env_id)
    now = backend.clock.now()
    end_ts = metrics.parse_time(end, now)
    return dep, inst, metrics.parse_time(start, end_ts - 3600), end_ts, max(1, int(step or 60))


def _metrics(_: Any, info: GraphQLResolveInfo, measurements: list[str], startDate: str, endDate: str | None = None,
             serviceId: str | None = None, environmentId: str | None = None, sampleRateSeconds: int | None = None,
             **_kw: Any) -> list[dict[str, Any]]:
    dep, inst, start, end, step = _series_args(info, serviceId, environmentId, startDate, endDate, sampleRateSeconds)
    limits = m.Backend.limits_json(inst, merged=True)["containers"]
    memory_gb, cpu = limits["memoryBytes"] / 1024 ** 3, limits["cpu"]
    tags = {"deploymentId": dep.id if dep else None, "environmentId": environmentId, "serviceId": serviceId,
            "projectId": dep.projectId if dep else None}
    return [{"measurement": name, "tags": tags,
             "values": metrics.resource_series(dep, name, start, end, step, memory_gb, cpu) if dep else []}
            for name in measurements]


def _http_metrics(_: Any, info: GraphQLResolveInfo, serviceId: str, environmentId: str, startDate: str,
                  endDate: str, stepSeconds: int | None = None, statusCode: int | None = None,
                  **_kw: Any) -> dict[str, Any]:
    dep, _inst, start, end, step = _series_args(info, serviceId, environmentId, startDate, endDate, stepSeconds)
    return {"samples": metrics.request_series(dep, start, end, step, statusCode) if dep else []}


def _http_durations(_: Any, info: GraphQLResolveInfo, serviceId: str, environmentId: str, startDate: str,
                    endDate: str, stepSeconds: int | None = None, **_kw: Any) -> dict[str, Any]:
    dep, _inst, start, end, step = _series_args(info, serviceId, environmentId, startDate, endDate, stepSeconds)
    return {"samples": metrics.duration_series(dep, start, end, step) if dep else []}


QUERY.update({
    "metrics": _metrics,
    "httpMetrics": _http_metrics,
    "httpDurationMetrics": _http_durations,
    "notificationRules": lambda _, info, workspaceId, projectId=None: _ctx(info)[0].notification_rules(
        _ctx(info)[1], workspaceId, projectId),
})

# ---- Mutation ---------------------------------------------------------------------------------------
MUTATION: dict[str, Resolver] = {
    "projectCreate": lambda _, info, input: _ctx(info)[0].project_create(_ctx(info)[1], input),
    "projectUpdate": lambda _, info, id, input: _ctx(info)[0].project_update(_ctx(info)[1], id, input),
    "projectDelete": lambda _, info, id: _ctx(info)[0].project_delete(_ctx(info)[1], id),
    "projectTokenCreate": lambda _, info, input: _ctx(info)[0].project_token_create(_ctx(info)[1], input),
    "projectTokenDelete": lambda _, info, id: _ctx(info)[0].project_token_delete(_ctx(info)[1], id),
    "environmentCreate": lambda _, info, input: _ctx(info)[0].environment_create(_ctx(info)[1], input),
    "environmentRename": lambda _, info, id, input: _ctx(info)[0].environment_rename(_ctx(info)[1], id, input["name"]),
    "environmentDelete": lambda _, info, id: _ctx(info)[0].environment_delete(_ctx(info)[1], id),
    "environmentPatchCommit": lambda _, info, environmentId, patch=None, commitMessage=None: _ctx(info)[0]
    .environment_patch_commit(_ctx(info)[1], environmentId, patch),
    "serviceCreate": lambda _, info, input: _ctx(info)[0].service_create(_ctx(info)[1], input),
    "serviceUpdate": lambda _, info, id, input: _ctx(info)[0].service_update(_ctx(info)[1], id, input),
    "serviceConnect": lambda _, info, id, input: _ctx(info)[0].service_connect(_ctx(info)[1], id, input),
    "serviceDisconnect": lambda _, info, id: _ctx(info)[0].service_connect(_ctx(info)[1], id, {}),
    "serviceDelete": lambda _, info, id, environmentId=None: _ctx(info)[0].service_delete(
        _ctx(info)[1], id, environmentId),
    "serviceInstanceUpdate": lambda _, info, serviceId, input, environmentId=None: _ctx(info)[0].instance_update(
        _ctx(info)[1], serviceId, environmentId, input),
    "serviceInstanceLimitsUpdate": lambda _, info, input: _ctx(info)[0].limits_update(_ctx(info)[1], input),
    "variableUpsert": lambda _, info, input: _ctx(info)[0].variable_upsert(_ctx(info)[1], input),
    "variableCollectionUpsert": lambda _, info, input: _ctx(info)[0].variable_collection_upsert(_ctx(info)[1], input),
    "variableDelete": lambda _, info, input: _ctx(info)[0].variable_delete(_ctx(info)[1], input),
    "volumeCreate": lambda _, info, input: _ctx(info)[0].volume_create(_ctx(info)[1], input),
    "volumeUpdate": lambda _, info, volumeId, input: _ctx(info)[0].volume_update(_ctx(info)[1], volumeId, input),
    "volumeInstanceUpdate": lambda _, info, volumeId, input, environmentId=None: _ctx(info)[0]
    .volume_instance_update(_ctx(info)[1], volumeId, environmentId, input),
    "volumeDelete": lambda _, info, volumeId: _ctx(info)[0].volume_delete(_ctx(info)[1], volumeId),
    "volumeInstanceBackupCreate": lambda _, info, volumeInstanceId, name=None: {
        "workflowId": _ctx(info)[0].backup_create(_ctx(info)[1], volumeInstanceId, name)},
    "volumeInstanceBackupRestore": lambda _, info, volumeInstanceId, volumeInstanceBackupId, **__: {
        "workflowId": _ctx(info)[0].backup_restore(_ctx(info)[1], volumeInstanceId, volumeInstanceBackupId)},
    "volumeInstanceBackupDelete": lambda _, info, volumeInstanceId, volumeInstanceBackupId: {
        "workflowId": _ctx(info)[0].backup_delete(_ctx(info)[1], volumeInstanceId, volumeInstanceBackupId)},
    "volumeInstanceBackupLock": lambda _, info, volumeInstanceId, volumeInstanceBackupId: _ctx(info)[0]
    .backup_lock(_ctx(info)[1], volumeInstanceId, volumeInstanceBackupId),
    "volumeInstanceBackupScheduleUpdate": lambda _, info, volumeInstanceId, kinds: _ctx(info)[0]
    .backup_schedule_update(_ctx(info)[1], volumeInstanceId, kinds),
    "serviceDomainCreate": lambda _, info, input: _ctx(info)[0].service_domain_create(_ctx(info)[1], input),
    "serviceDomainUpdate": lambda _, info, input: _ctx(info)[0].service_domain_update(_ctx(info)[1], input),
    "serviceDomainDelete": lambda _, info, id: _ctx(info)[0].service_domain_delete(_ctx(info)[1], id),
    "customDomainCreate": lambda _, info, input: _ctx(info)[0].custom_domain_create(_ctx(info)[1], input),
    "customDomainUpdate": lambda _, info, id, environmentId, targetPort=None: _ctx(info)[0].custom_domain_update(
        _ctx(info)[1], id, targetPort),
    "customDomainIssueCertificate": lambda _, info, id: bool(_ctx(info)[0].custom_domain(_ctx(info)[1], id)),
    "customDomainDelete": lambda _, info, id: _ctx(info)[0].custom_domain_delete(_ctx(info)[1], id),
    "serviceInstanceDeployV2": lambda _, info, serviceId, environmentId, commitSha=None: _ctx(info)[0].deploy(
        _ctx(info)[1], serviceId, environmentId).id,
    "serviceInstanceDeploy": lambda _, info, serviceId, environmentId, **__: bool(_ctx(info)[0].deploy(
        _ctx(info)[1], serviceId, environmentId)),
    "serviceInstanceRedeploy": lambda _, info, serviceId, environmentId: bool(_ctx(info)[0].deploy(
        _ctx(info)[1], serviceId, environmentId)),
    "deploymentRedeploy": lambda _, info, id, usePreviousImageTag=None: _ctx(info)[0].redeploy(_ctx(info)[1], id),
    "deploymentRollback": lambda _, info, id: _ctx(info)[0].rollback(_ctx(info)[1], id),
    "deploymentRestart": lambda _, info, id: bool(_ctx(info)[0].deployment(_ctx(info)[1], id)),
    "deploymentStop": lambda _, info, id: _ctx(info)[0].deployment_stop(_ctx(info)[1], id),
    "deploymentCancel": lambda _, info, id: _ctx(info)[0].deployment_stop(_ctx(info)[1], id),
    "deploymentRemove": lambda _, info, id: _ctx(info)[0].deployment_stop(_ctx(info)[1], id, remove=True),
    "templateDeployV2": lambda _, info, input: _ctx(info)[0].template_deploy(_ctx(info)[1], input),
    "notificationRuleCreate": lambda _, info, input: _ctx(info)[0].notification_rule_create(_ctx(info)[1], input),
    "notificationRuleUpdate": lambda _, info, id, input: _ctx(info)[0].notification_rule_update(
        _ctx(info)[1], id, input),
    "notificationRuleDelete": lambda _, info, id: _ctx(info)[0].notification_rule_delete(_ctx(info)[1], id),
}


# ---- object fields that are computed rather than stored ---------------------------------------------
def _instance_field(name: str) -> Resolver:
    return lambda inst, info, **_: inst.settings.get(name, m.INSTANCE_DEFAULTS.get(name))


def _deployment_status(dep: m.Deployment, info: GraphQLResolveInfo) -> str:
    return _ctx(info)[0].status(dep)


def _deployment_url(dep: m.Deployment, info: GraphQLResolveInfo) -> str | None:
    doms = _ctx(info)[0].domains_of(dep.environmentId, dep.serviceId)["serviceDomains"]
    return f"https://{doms[0].domain}" if doms else None


def _env_meta(env: m.Environment, info: GraphQLResolveInfo) -> dict[str, Any] | None:
    if not env.isEphemeral:
        return None
    number = env.name[3:] if env.name.startswith("pr-") and env.name[3:].isdigit() else None
    return {"prNumber": int(number) if number else None, "prTitle": None, "prRepo": None, "branch": None,
            "baseBranch": None}


def _instance_status(status: str) -> str:
    return {"SUCCESS": "RUNNING", "FAILED": "CRASHED", "CRASHED": "CRASHED", "REMOVED": "REMOVED",
            "BUILDING": "INITIALIZING", "DEPLOYING": "INITIALIZING"}.get(status, "UNKNOWN")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def _status_changed_at(dep: m.Deployment, info: GraphQLResolveInfo) -> str:
    backend = _ctx(info)[0]
    return _iso(dep.createdTs + (backend.deploy_seconds if backend.status(dep) != "BUILDING" else 0))


TYPES: dict[str, dict[str, Resolver]] = {
    "ProjectToken": {"displayToken": lambda t, info: t.value[:4] + "****"},  # never the value itself
    "Project": {
        "environments": lambda p, info, isEphemeral=None, **kw: connection(
            _ctx(info)[0].environments(_ctx(info)[1], p.id, isEphemeral), **_page(kw)),
        "services": lambda p, info, **kw: connection(_ctx(info)[0].services_of(p.id), **_page(kw)),
        "volumes": lambda p, info, **kw: connection(_ctx(info)[0].volumes_of(p.id), **_page(kw)),
        "workspace": lambda p, info: {"id": p.workspaceId, "name": "ACS"},
    },
    "Environment": {
        "sourceEnvironment": lambda e, info: _ctx(info)[0].tables["environments"].get(e.sourceEnvironmentId or ""),
        "meta": _env_meta,
        "canAccess": lambda e, info: True,
        "unmergedChangesCount": lambda e, info: 0,
        "config": lambda e, info, decryptVariables=None: _ctx(info)[0].environment_config(e, bool(decryptVariables)),
        "configEtag": lambda e, info: _ctx(info)[0].config_etag(e),
        "serviceInstances": lambda e, info, **kw: connection(_ctx(info)[0].instances_of_env(e.id), **_page(kw)),
        "volumeInstances": lambda e, info, **kw: connection(
            _ctx(info)[0].volume_instances_of(env_id=e.id), **_page(kw)),
    },
    "Service": {
        "serviceInstances": lambda s, info, **kw: connection(
            [i for i in _ctx(info)[0].tables["instances"].values() if i.serviceId == s.id], **_page(kw)),
        "project": lambda s, info: _ctx(info)[0].tables["projects"][s.projectId],
    },
    "ServiceInstance": {
        **{name: _instance_field(name) for name in m.INSTANCE_DEFAULTS},
        "serviceName": lambda i, info: _ctx(info)[0].tables["services"][i.serviceId].name,
        "latestDeployment": lambda i, info: _ctx(info)[0].latest_deployment(i),
        "activeDeployments": lambda i, info: [d for d in [_ctx(info)[0].active_deployment(
            i.serviceId, i.environmentId)] if d],
        "domains": lambda i, info: _ctx(info)[0].domains_of(i.environmentId, i.serviceId),
        "isUpdatable": lambda i, info: True,
        "deletedAt": lambda i, info: None,
        "upstreamUrl": lambda i, info: None,
        "nextCronRunAt": lambda i, info: None,
    },
    "Volume": {
        "volumeInstances": lambda v, info, **kw: connection(
            _ctx(info)[0].volume_instances_of(volume_id=v.id), **_page(kw)),
    },
    "VolumeInstance": {
        "currentSizeMB": lambda vi, info: float(min(vi.sizeMB, 120)),
        "deletedAt": lambda vi, info: None,
        "isPendingDeletion": lambda vi, info: False,
        "externalId": lambda vi, info: None,
        "volume": lambda vi, info: _ctx(info)[0].tables["volumes"][vi.volumeId],
    },
    "VolumeInstanceBackup": {
        "externalId": lambda b, info: b.id,
        "referencedMB": lambda b, info: b.usedMB,
        "creatorId": lambda b, info: None,
    },
    "ServiceDomain": {
        "suffix": lambda d, info: m.DOMAIN_SUFFIX,
        "syncStatus": lambda d, info: "ACTIVE",
        "deletedAt": lambda d, info: None,
    },
    "CustomDomain": {
        "status": lambda d, info: _ctx(info)[0].custom_domain_status(d),
        "syncStatus": lambda d, info: "ACTIVE",
        "isRailwayDomain": lambda d, info: False,
        "deletedAt": lambda d, info: None,
    },
    "Deployment": {
        "status": _deployment_status,
        "statusUpdatedAt": _status_changed_at,
        "createdAt": lambda d, info: _iso(d.createdTs),
        "updatedAt": _status_changed_at,
        "url": _deployment_url,
        "staticUrl": _deployment_url,
        "meta": lambda d, info: {"image": (d.snapshot.get("source") or {}).get("image"),
                                 "rollbackFrom": d.rolledBackFrom},
        "canRedeploy": lambda d, info: not d.removed,
        "canRollback": lambda d, info: _ctx(info)[0].can_rollback(d),
        "snapshotId": lambda d, info: None,
        "deploymentStopped": lambda d, info: d.stopped,
        "instances": lambda d, info: [{"id": f"{d.id[:8]}-{i}", "status": _instance_status(_ctx(info)[0].status(d))}
                                      for i in range(int(d.snapshot["settings"].get("numReplicas") or 1))],
    },
}


@lru_cache(maxsize=1)
def build() -> GraphQLSchema:
    """The executable schema: our SDL with the resolvers above attached."""
    schema = build_schema(SCHEMA_PATH.read_text())
    for type_name, resolvers in {"Query": QUERY, "Mutation": MUTATION, **TYPES}.items():
        gql_type = schema.type_map[type_name]
        for field_name, fn in resolvers.items():
            gql_type.fields[field_name].resolve = fn  # KeyError here means the SDL lost a field we serve
    return schema
