"""Thin GraphQL resolvers: every root field calls the backend method named after it, object fields read the
backend's public accessors. No rule lives here (the backend owns them all)."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from graphql import GraphQLField, GraphQLResolveInfo, GraphQLSchema, build_schema, get_named_type

from railway_emulator import models as m
from railway_emulator.coercion import bind_scalars

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
Resolver = Callable[..., Any]
PAGE_ARGS = ("first", "after", "last", "before")


def _ctx(info: GraphQLResolveInfo) -> tuple[m.Backend, m.Token]:
    return info.context["backend"], info.context["token"]


def _backend(info: GraphQLResolveInfo) -> m.Backend:
    return info.context["backend"]


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


def snake(name: str) -> str:
    """`serviceInstanceDeployV2` -> `service_instance_deploy_v2`, `volumeInstancePITRRestore` -> `..._pitr_restore`;
    the argument `input` becomes `inp` (a builtin's name)."""
    if name == "input":
        return "inp"
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def method_name(schema: GraphQLSchema, root: str, field_name: str) -> str:
    """The backend operation answering a root field: its snake_case name; a mutation named like a query
    (sandboxTemplateBuild) gets the suffix `_mutation`."""
    clash = root == "Mutation" and field_name in schema.query_type.fields
    return snake(field_name) + ("_mutation" if clash else "")


def operation(method: str, field: GraphQLField) -> Resolver:
    """A root field answered by `backend.<method>(token, **arguments)` (arguments in snake_case); a list answer
    becomes a connection when the field is one."""
    paged = get_named_type(field.type).name.endswith("Connection")

    def resolve(_: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        backend, tok = _ctx(info)
        page = {k: args.pop(k) for k in PAGE_ARGS if k in args}
        result = getattr(backend, method)(tok, **{snake(k): v for k, v in args.items()})
        return connection(result, **page) if paged and result is not None else result

    return resolve


def _env_meta(env: m.Environment, info: GraphQLResolveInfo) -> dict[str, Any] | None:
    if not env.isEphemeral:
        return None
    number = env.name[3:] if env.name.startswith("pr-") and env.name[3:].isdigit() else None
    return {"prNumber": int(number) if number else None, "prTitle": None, "prRepo": None, "branch": None,
            "baseBranch": None}


def _instance_field(name: str) -> Resolver:
    return lambda inst, info, **_: _backend(info).instance_setting(inst, name)


TYPES: dict[str, dict[str, Resolver]] = {
    "ProjectToken": {
        "displayToken": lambda t, info: t.value[:4] + "****",  # never the value itself
        "project": lambda t, info: _backend(info).project_of(t),
        "environment": lambda t, info: _backend(info).environment_of(t),
    },
    "Workspace": {
        "projects": lambda w, info, **kw: connection(
            _backend(info).workspace_projects(info.context["token"], w["id"]), **_page(kw)),
    },
    "EnvironmentPatch": {
        "patch": lambda p, info, decryptVariables=None: _backend(info).staged_patch_view(p, bool(decryptVariables)),
    },
    "Project": {
        "buckets": lambda p, info, **kw: connection([], **_page(kw)),  # buckets are not modelled: none exist
        "environments": lambda p, info, isEphemeral=None, **kw: connection(
            _backend(info).environments(info.context["token"], p.id, isEphemeral), **_page(kw)),
        "services": lambda p, info, **kw: connection(_backend(info).services_of(p.id), **_page(kw)),
        "volumes": lambda p, info, **kw: connection(_backend(info).volumes_of(p.id), **_page(kw)),
        "workspace": lambda p, info: {"id": p.workspaceId, "name": "ACS"},
    },
    "Environment": {
        "sourceEnvironment": lambda e, info: _backend(info).source_environment(e),
        "meta": _env_meta,
        "canAccess": lambda e, info: True,
        "unmergedChangesCount": lambda e, info: 0,
        "config": lambda e, info, decryptVariables=None: _backend(info).environment_config(e, bool(decryptVariables)),
        "configEtag": lambda e, info: _backend(info).config_etag(e),
        "serviceInstances": lambda e, info, **kw: connection(_backend(info).instances_of_env(e.id), **_page(kw)),
        "volumeInstances": lambda e, info, **kw: connection(
            _backend(info).volume_instances_of(env_id=e.id), **_page(kw)),
    },
    "Service": {
        "serviceInstances": lambda s, info, **kw: connection(_backend(info).instances_of_service(s.id), **_page(kw)),
        "project": lambda s, info: _backend(info).project_of(s),
    },
    "ServiceInstance": {
        **{name: _instance_field(name) for name in m.INSTANCE_DEFAULTS},
        "serviceName": lambda i, info: _backend(info).service_of(i).name,
        "latestDeployment": lambda i, info: _backend(info).latest_deployment(i),
        "activeDeployments": lambda i, info: [d for d in [_backend(info).active_deployment(
            i.serviceId, i.environmentId)] if d],
        "domains": lambda i, info: _backend(info).domains_of(i.environmentId, i.serviceId),
        "isUpdatable": lambda i, info: True,
        "deletedAt": lambda i, info: None,
        "upstreamUrl": lambda i, info: None,
        "nextCronRunAt": lambda i, info: None,
        "edgeConfig": lambda i, info: None,  # no CDN edge config can be enabled in the emulator
    },
    "Volume": {
        "volumeInstances": lambda v, info, **kw: connection(
            _backend(info).volume_instances_of(volume_id=v.id), **_page(kw)),
    },
    "VolumeInstance": {
        "currentSizeMB": lambda vi, info: float(min(vi.sizeMB, 120)),
        "deletedAt": lambda vi, info: None,
        "isPendingDeletion": lambda vi, info: False,
        "externalId": lambda vi, info: None,
        "volume": lambda vi, info: _backend(info).volume_of(vi),
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
        "status": lambda d, info: _backend(info).custom_domain_status(d),
        "syncStatus": lambda d, info: "ACTIVE",
        "isRailwayDomain": lambda d, info: False,
        "deletedAt": lambda d, info: None,
    },
    "Deployment": {
        "status": lambda d, info: _backend(info).status(d),
        "statusUpdatedAt": lambda d, info: _backend(info).deployment_status_updated_at(d),
        "createdAt": lambda d, info: m.now_iso(d.createdTs),
        "updatedAt": lambda d, info: _backend(info).deployment_status_updated_at(d),
        "url": lambda d, info: _backend(info).deployment_url(d),
        "staticUrl": lambda d, info: _backend(info).deployment_url(d),
        "meta": lambda d, info: _backend(info).deployment_meta(d),
        "canRedeploy": lambda d, info: not d.removed,
        "canRollback": lambda d, info: _backend(info).can_rollback(d),
        "snapshotId": lambda d, info: None,
        "deploymentStopped": lambda d, info: d.stopped,
        "instances": lambda d, info: _backend(info).deployment_instances(d),
    },
}


@lru_cache(maxsize=1)
def build() -> GraphQLSchema:
    """The executable schema: our SDL, every root field bound to its backend operation, object fields above."""
    schema = build_schema(SCHEMA_PATH.read_text())
    for root in (schema.query_type, schema.mutation_type):
        for name, field in root.fields.items():
            method = method_name(schema, root.name, name)
            if not callable(getattr(m.Backend, method, None)):
                raise LookupError(f"the backend has no operation {method} for {root.name}.{name}")
            field.resolve = operation(method, field)
    bind_scalars(schema)
    for type_name, resolvers in TYPES.items():
        gql_type = schema.type_map[type_name]
        for field_name, fn in resolvers.items():
            gql_type.fields[field_name].resolve = fn  # KeyError here means the SDL lost a field we serve
    return schema
