"""What `acs-infra pr gc` deletes, listed before anything goes.

A preview is an environment; removing it removes its own instances (service instances, volume instances with
their backups, domains) and nothing else. Services and volumes are project-wide and shared with dev (a fork
holds dev's service ids), so gc never calls `serviceDelete` or `volumeDelete`: one `environmentDelete` per
orphaned preview, or the preview stack's own destroy (which, for a fork, is that same single call).
"""
from __future__ import annotations

from typing import Any

from infra.railway import NotFoundError, RailwayClient


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
