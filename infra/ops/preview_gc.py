"""What `acs-infra pr gc` deletes, listed before anything goes.

A preview is an environment; removing it removes its own instances (service instances, volume instances with
their backups, domains) and nothing else. Services and volumes are project-wide and shared with dev (a fork
holds dev's service ids), so gc never calls `serviceDelete` or `volumeDelete`: one `environmentDelete` per
orphaned preview, or the preview stack's own destroy (which, for a fork, is that same single call).

An orphan is an ephemeral environment that carries the marker of the PR stack of this project and backend that
its name is (`pr-<N>`), whose stack no longer exists in the backend and whose PR is not open (e.g. its stack was
removed by hand). While stack `pr-<N>` exists the environment is that stack's, whatever its outputs say (a run
killed before it recorded them, or one still running): it goes only through the stack, under the stack's lock.
Any other ephemeral environment (made by hand, copied from a preview, made by Railway's own PR environments or by
another backend's stacks) is reported and left alone.
"""
from __future__ import annotations

import re
from typing import Any

from infra.ownership import OWNER_VARIABLE, backend_id, owner_named_by, marker
from infra.railway import NotFoundError, RailwayClient
from infra.railway.facts import PR_STACK


def made_by_a_preview(owner: str | None, project: str, env_name: str) -> bool:
    """Whether an environment's marker names the PR stack (`pr-<N>`) of this Pulumi project and backend that
    manages an environment of this name. A copy (`railway environment new --copy`) inherits the shared variable
    with the marker but not the name: the copy is not the preview's."""
    if not PR_STACK.match(env_name):  # a preview environment is named after its stack
        return False
    # The identity of a gone stack cannot be checked (its state is gone): the name and the backend's URL text are
    # what is left, so an orphan is recognised by them (with or without an identity: older markers have none).
    pattern = rf"[^/]+/{re.escape(project)}/{re.escape(env_name)}@{re.escape(backend_id())}(#[0-9a-f]{{16}})?"
    return bool(owner) and re.fullmatch(pattern, owner or "") is not None


def held_by_a_stack(env_name: str, stacks: set[str], open_prs: set[int] | None) -> str | None:
    """Why a marked `pr-<N>` environment is not an orphan: its stack exists, or its PR is open (its next `pr up`
    makes the stack again and takes the environment back by marker); None when it is one. `stacks` must be read
    after the marker: a fork carries its marker only once its stack exists (the stack's own run writes it), so
    a `pr up` running at the same time is seen."""
    if env_name in stacks:
        return f"stack {env_name} (its run may still be going, or was killed before it recorded its outputs)"
    match = PR_STACK.match(env_name)
    if open_prs is not None and match and int(match.group(1)) in open_prs:
        return f"PR {match.group(1)}, which is open (its next `pr up` takes it back)"
    return None


def ephemeral_environments(client: RailwayClient, project_id: str) -> list[dict[str, Any]]:
    """The project's ephemeral environments (Railway's own flag: PR environments and previews)."""
    edges = client.query("EnvironmentFind", projectId=project_id, isEphemeral=True)["environments"]["edges"]
    return [e["node"] for e in edges]


def owner_of(client: RailwayClient, project_id: str, env_id: str) -> str | None:
    return client.query("VariablesRead", projectId=project_id, environmentId=env_id,
                        serviceId=None)["variables"].get(OWNER_VARIABLE)


def sort_orphans(client: RailwayClient, project_id: str, envs: list[dict[str, Any]],
                 project: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(orphans gc removes, others it leaves with whose they are)."""
    orphans, left = [], []
    for env in envs:
        owner = owner_of(client, project_id, env["id"])
        if made_by_a_preview(owner, project, env["name"]):
            orphans.append(env)
        else:
            left.append({"id": env["id"], "name": env["name"],
                         "owner": owner_named_by(owner and marker(owner))})
    return orphans, left


def environment_objects(client: RailwayClient, env_id: str) -> list[dict[str, Any]]:
    """Every object that goes with the environment, by kind, id and a readable name."""
    try:
        env = client.query("EnvironmentObjects", id=env_id)["environment"]
    except NotFoundError:
        return []
    where = env["name"]
    out = [{"kind": "environment", "id": env["id"], "name": where}]
    for edge in env["serviceInstances"]["edges"]:
        node = edge["node"]
        out.append({"kind": "service instance", "id": node["id"], "name": f"{node['serviceName']} in {where}",
                    "service_id": node["serviceId"]})
        for kind in ("serviceDomains", "customDomains"):
            out += [{"kind": "domain", "id": d["id"], "name": d["domain"]} for d in node["domains"][kind]]
    for edge in env["volumeInstances"]["edges"]:
        node = edge["node"]
        out.append({"kind": "volume instance", "id": node["id"], "name": f"{node['mountPath']} in {where}",
                    "volume_id": node["volumeId"]})
        backups = client.query("BackupList", volumeInstanceId=node["id"])["volumeInstanceBackupList"]
        out += [{"kind": "backup", "id": b["id"], "name": f"{b['name']} of {node['mountPath']} in {where}"}
                for b in backups]
    return out


def describe(objects: list[dict[str, Any]]) -> str:
    return "".join(f"\n  {o['kind']}: {o['name']} ({o['id']})" for o in objects)


def remove_environment(client: RailwayClient, env_id: str) -> None:
    """The environment with its own instances; never a service or volume (they may live in other environments)."""
    try:
        client.mutate("EnvironmentDelete", id=env_id)
    except NotFoundError:
        pass
