"""An `up` never deletes data as a side effect of a config change (README "What this tool never deletes").

Before an `up` of a stack whose state holds a Railway volume (a database's data), the engine's own preview says
which steps it would take; a delete of a resource holding a volume stops the run before its first write. Asking the engine (instead of comparing config keys) catches every way there: `database.kind: sqlite`, a
removed `database` block, a change the provider can only make by replacing the resource. Deleting a service is
refused the same way when it lives in another non-fork environment of the project: Railway's `serviceDelete` of a
non-fork environment removes the service from every non-fork environment (its schema's description), so dropping
a service from dev's stack file would delete QA's instance of it too. Without `environmentId` (how the provider
deletes) it goes from forks too: a service live PR previews run is refused, naming them. A subdomain moving from
a deleted service to a created one (a renamed public service) is refused too: the engine creates before it
deletes, so the new domain can never take the name the old one still holds."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pulumi.automation as auto
from pulumi.automation.events import EngineEvent, OpType

from infra.config import ConfigError
from infra.ops import stack_reads
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
    deployment = stack_reads.state(stack)
    resources = deployment.get("resources") or []
    if not any(r.get("id") for r in resources):
        return
    holders = {r["urn"] for r in resources if (r.get("outputs") or {}).get("volume_id")}
    doomed: list[str] = []
    deleted: dict[str, str] = {}  # Railway id -> resource name, of everything the run would delete
    subdomains: dict[str, list[tuple[str, str]]] = {"freed": [], "claimed": []}  # (subdomain, resource name)

    def seen(event: EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre and pre.metadata.op == OpType.CREATE:
            claimed = (pre.metadata.new.inputs or {}).get("subdomain") if pre.metadata.new else None
            if isinstance(claimed, str):
                subdomains["claimed"].append((claimed, _resource(pre.metadata.urn)))
        if not pre or pre.metadata.op not in DELETING:
            return
        name = pre.metadata.urn.rsplit("::", 1)[-1]
        freed = (pre.metadata.old.outputs or {}).get("subdomain") if pre.metadata.old else None
        if isinstance(freed, str):
            subdomains["freed"].append((freed, _resource(pre.metadata.urn)))
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
    _refuse_moving_subdomain(stack.name, subdomains["freed"], subdomains["claimed"])
    shared, previews = _living_elsewhere(deployment, deleted, stack.workspace.work_dir)
    if shared:
        raise DataLossRefused(
            f"up {stack.name} would delete {'; '.join(shared)}: Railway deletes a service of a non-fork environment "
            f"from every non-fork environment of its project. Nothing was changed. Keep it in the stack file, or "
            f"remove it from those environments by hand first (or run with --allow-data-loss)")
    if previews:
        raise DataLossRefused(
            f"up {stack.name} would delete a service that live previews run (it goes from their forks too): "
            f"{'; '.join(previews)}. Nothing was changed. Keep it in the stack file until they are gone, or pass "
            f"--allow-data-loss")


def _resource(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _refuse_moving_subdomain(stack: str, freed: list[tuple[str, str]], claimed: list[tuple[str, str]]) -> None:
    """A subdomain the run deletes with one resource and claims with another: the engine creates the new domain
    before it deletes the old one, and Railway refuses a name still taken ("Domain is not available"), on every
    run. No API call: both sides are in the preview."""
    moving = [f"{sub} from {old} to {new}" for sub, old in freed for claim, new in claimed if claim == sub]
    if moving:
        raise ConfigError(
            f"up {stack} would move subdomain {'; '.join(moving)}: Railway makes the new domain before the old one "
            f"is deleted and refuses a subdomain still taken, so this can never converge. Nothing was changed. Do it "
            f"in two steps: the rename with another acs:environment.domain.subdomain first (`acs-infra up {stack}`), "
            f"then the subdomain back and `acs-infra up {stack}` again")


def _living_elsewhere(deployment: dict[str, Any], deleted: dict[str, str], root: str) -> tuple[list[str], list[str]]:
    """The deleted services that also have an instance in another non-fork environment, or a volume anywhere
    else; and the forks (PR previews) running one of them."""
    outputs = next((r.get("outputs") or {} for r in deployment.get("resources") or []
                    if r.get("type") == "pulumi:pulumi:Stack"), {})
    project_id, env_id = outputs.get("projectId"), outputs.get("environmentId")
    if not deleted or not project_id:
        return [], []
    project = client_from_env().query("ProjectServiceHomes", id=project_id)["project"]
    homes: dict[str, set[str]] = {}
    forks: list[tuple[str, str, str]] = []  # (environment id, its name, the deleted service's name)
    for edge in project["environments"]["edges"]:
        env = edge["node"]
        if env["id"] == env_id:
            continue
        # The provider's serviceDelete names no environment: the service goes whole, forks included (assumed:
        # Railway's schema documents only the environmentId case; the emulator does so; adv14c B6).
        if env["isEphemeral"]:
            forks += [(env["id"], env["name"], deleted[i["node"]["serviceId"]])
                      for i in env["serviceInstances"]["edges"] if i["node"]["serviceId"] in deleted]
            continue
        for inst in env["serviceInstances"]["edges"]:
            homes.setdefault(inst["node"]["serviceId"], set()).add(f"an instance in {env['name']}")
    names = {e["node"]["id"]: e["node"]["name"] for e in project["environments"]["edges"]}
    for volume in project["volumes"]["edges"]:
        for vi in volume["node"]["volumeInstances"]["edges"]:
            if vi["node"]["environmentId"] != env_id and vi["node"].get("serviceId"):
                homes.setdefault(vi["node"]["serviceId"], set()).add(
                    f"a volume in {names.get(vi['node']['environmentId'], '?')}")
    shared = [f"service {deleted[sid]} (it has {', '.join(sorted(homes[sid]))})" for sid in deleted if sid in homes]
    return shared, _previews_running(forks, Path(root)) if forks else []


def _previews_running(forks: list[tuple[str, str, str]], root: Path) -> list[str]:
    """"pr-4 runs service worker: `acs-infra pr down 4` first" per fork; a fork no PR stack holds is named as
    made by hand (no API call: the PR stacks' outputs say which environment each holds)."""
    from infra.ops.automation import pr_stacks  # automation imports this module
    held = {pr.environment_id: pr for pr in pr_stacks(root) if pr.environment_id}
    out = []
    for env_id, env_name, service in forks:
        pr = held.get(env_id)
        out.append(f"{pr.name} runs service {service}: `acs-infra pr down {pr.number}` first" if pr else
                   f"fork {env_name} (no stack made it) runs service {service}: delete it by hand first")
    return out
