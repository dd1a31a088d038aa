"""An `up` never deletes data as a side effect of a config change (README "What this tool never deletes").

Before an `up` of a stack whose state holds a Railway volume (a database's data), the engine's own preview says
which steps it would take; a delete of a resource holding a volume stops the run before its first write. Asking the engine (instead of comparing config keys) catches every way there: `database.kind: sqlite`, a
removed `database` block, a change the provider can only make by replacing the resource. Deleting a service is
refused the same way when it lives in another non-fork environment of the project: Railway's `serviceDelete` of a
non-fork environment removes the service from every non-fork environment (its schema's description), so dropping
a service from dev's stack file would delete QA's instance of it too."""
from __future__ import annotations

from typing import Any, Callable

import pulumi.automation as auto
from pulumi.automation.events import EngineEvent, OpType

from infra.config import ConfigError
from infra.railway import client_from_env

# A resource the program no longer declares. A replacement is not read here: a preview reports one whenever an
# input is an output the same run changes (unknown until then), and the providers refuse a replacement that
# would delete data in their own diff, in the run itself (infra/providers/base.py refuse_replacement).
DELETING = {OpType.DELETE}


class DataLossRefused(ConfigError):
    """The declared change would delete a volume; the user has to say so (`--allow-data-loss`)."""


def refuse_data_loss(stack: auto.Stack, preview: Callable[..., Any]) -> None:
    """Raises DataLossRefused when `preview` (the runner's preview of this stack) would delete a resource
    holding a volume, or delete a service that lives in another environment too. A stack with nothing
    in its state costs one state export and no preview; one read of the project only when a service would go."""
    deployment = stack.export_stack().deployment
    resources = deployment.get("resources") or []
    if not any(r.get("id") for r in resources):
        return
    holders = {r["urn"] for r in resources if (r.get("outputs") or {}).get("volume_id")}
    doomed: list[str] = []
    deleted: dict[str, str] = {}  # Railway id -> resource name, of everything the run would delete

    def seen(event: EngineEvent) -> None:
        pre = event.resource_pre_event
        if not pre or pre.metadata.op not in DELETING:
            return
        name = pre.metadata.urn.rsplit("::", 1)[-1]
        if pre.metadata.urn in holders:
            doomed.append(name)
        old = pre.metadata.old
        if old and old.id:
            deleted[old.id] = name

    preview(on_event=seen)
    if doomed:
        raise DataLossRefused(
            f"up {stack.name} would delete {', '.join(sorted(set(doomed)))}, holding a Railway volume with the "
            f"database's data (a change to acs:environment.database). Nothing was changed. Undo the change, or take a backup (`acs-infra backup {stack.name}`) and "
            f"run `acs-infra up {stack.name} --allow-data-loss`")
    shared = _living_elsewhere(deployment, deleted)
    if shared:
        raise DataLossRefused(
            f"up {stack.name} would delete {'; '.join(shared)}: Railway deletes a service of a non-fork environment "
            f"from every non-fork environment of its project. Nothing was changed. Keep it in the stack file, or "
            f"remove it from those environments by hand first (or run with --allow-data-loss)")


def _living_elsewhere(deployment: dict[str, Any], deleted: dict[str, str]) -> list[str]:
    """The deleted services that also have an instance in another non-fork environment, or a volume anywhere else."""
    outputs = next((r.get("outputs") or {} for r in deployment.get("resources") or []
                    if r.get("type") == "pulumi:pulumi:Stack"), {})
    project_id, env_id = outputs.get("projectId"), outputs.get("environmentId")
    if not deleted or not project_id:
        return []
    project = client_from_env().query("ProjectServiceHomes", id=project_id)["project"]
    homes: dict[str, set[str]] = {}
    for edge in project["environments"]["edges"]:
        env = edge["node"]
        if env["id"] == env_id or env["isEphemeral"]:
            continue  # a fork keeps its own copy (serviceDelete's description)
        for inst in env["serviceInstances"]["edges"]:
            homes.setdefault(inst["node"]["serviceId"], set()).add(f"an instance in {env['name']}")
    names = {e["node"]["id"]: e["node"]["name"] for e in project["environments"]["edges"]}
    for volume in project["volumes"]["edges"]:
        for vi in volume["node"]["volumeInstances"]["edges"]:
            if vi["node"]["environmentId"] != env_id and vi["node"].get("serviceId"):
                homes.setdefault(vi["node"]["serviceId"], set()).add(
                    f"a volume in {names.get(vi['node']['environmentId'], '?')}")
    return [f"service {deleted[sid]} (it has {', '.join(sorted(homes[sid]))})" for sid in deleted if sid in homes]
