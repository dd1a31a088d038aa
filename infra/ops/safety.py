"""What a deleting command may delete: only what the stacks it runs for made, never data it did not declare.

`destroy` of a stack that made a project deletes the project, and Railway deletes everything in it; one that
made an environment deletes the environment with everything in it. Before anything is deleted, the project or
environment is listed and compared with what the stacks' states hold: anything else (a hand-made volume or
service, another environment) stops the command, naming it. Stacks that use this stack's project (PR previews
of dev, a stack with `project.stack`) are its dependents: refused unless asked for, then destroyed first.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from infra.ops import automation as ops, stack_reads
from infra.config import ConfigError, EnvironmentConfig, load_stack_file
from infra.ownership import MARKER, backend_id, owner_named_by, refuse
from infra.railway import client_from_env
from infra.railway.errors import NotFoundError


class Refused(ConfigError):
    """A deleting command that would touch what it does not own; nothing was changed (exit 1)."""


def _state(stack: str, root: Path) -> dict[str, Any]:
    return stack_reads.state(ops.select(stack, root, create=False))


def held_ids(deployment: dict[str, Any]) -> set[str]:
    """Every Railway id a stack's state holds: resource ids and the `*_id` outputs (volumes, services, the
    project's default environment), and the Railway domains a fork's shape names."""
    ids: set[str] = set()
    for res in deployment.get("resources") or []:
        if res.get("id"):
            ids.add(str(res["id"]))
        for key, value in (res.get("outputs") or {}).items():
            if key.endswith("_id") and isinstance(value, str) and value:
                ids.add(value)
            elif key.endswith("_ids") and isinstance(value, dict):  # a fork shape's services, by name
                ids.update(str(v) for v in value.values() if v)
        services = (res.get("outputs") or {}).get("services")
        if isinstance(services, dict):  # a fork shape names its Railway domains (by name: it has no id for them)
            ids.update(str(s["domain"]) for s in services.values() if isinstance(s, dict) and s.get("domain"))
    return ids


def dependents(stack: str, root: Path) -> list[str]:
    """Stacks with resources that live in this stack's project: PR previews (always dev's) and stacks whose
    config says `project: {stack: <stack>}`."""
    found = []
    for summary in ops.workspace(root).list_stacks():
        name = summary.name
        if name == stack or summary.resource_count == 0:  # unknown (None) counts: better refused than lost
            continue
        if ops.PR_STACK.match(name):
            uses = "dev"
        else:
            try:
                uses = ((load_stack_file(name, root).get("acs:environment") or {}).get("project") or {}).get("stack")
            except ConfigError:
                uses = None
        if uses == stack:
            found.append(name)
    return sorted(found)


def _container(deployment: dict[str, Any]) -> tuple[str, str] | None:
    """("project" | "environment", id) when the stack made the Railway object its destroy deletes whole."""
    for res in deployment.get("resources") or []:
        outs = res.get("outputs") or {}
        if outs.get("adopt_id") or not res.get("id"):
            continue
        for kind in ("project", "environment"):
            if res.get("urn", "").endswith(f"-{kind}") and res.get("type", "").startswith("pulumi-python:dynamic"):
                return kind, str(res["id"])
    return None


def preview_environment(stack: str, root: Path) -> str | None:
    """The environment a preview stack's state records as made by it (also before its first run recorded any
    output: a killed `pr up`), else the fork its killed `pr up`'s pending create made (its `pr down` removes it)."""
    state = _state(stack, root) if ops.stack_exists(stack, root) else {}
    made = _container(state)
    if made:
        return made[1] if made[0] == "environment" else None
    fork = killed_fork(state)
    return fork[1] if fork else None


def killed_fork(deployment: dict[str, Any]) -> tuple[str, str] | None:
    """(project id, environment id) of the fork a killed `pr up` made that its state records only as a pending
    create: exactly that create's (infra.providers.fork.killed_fork, reads only)."""
    from infra.ops.recovery import killed_fork_intents
    from infra.providers import fork
    for intent in killed_fork_intents(deployment):
        env, _ = fork.killed_fork(intent)
        if env is not None:
            return intent["project_id"], env["id"]
    return None


def _contents(kind: str, id_: str) -> list[tuple[str, str]]:
    """(id, description) of every environment, service, volume, custom domain and backup the deletion would take
    with it: one read of the project or environment, plus one backup list per volume instance. Nothing when it is
    already gone (deleted by a killed run of this command, or out of band): its destroy then only forgets it."""
    client = client_from_env()
    try:
        found = client.query("ProjectInventory" if kind == "project" else "EnvironmentObjects", id=id_)
    except NotFoundError:
        return []
    if kind == "project":
        p = found["project"]
        envs = {e["node"]["id"]: e["node"]["name"] for e in p["environments"]["edges"]}
        out = [(i, f"environment {n}") for i, n in envs.items()]
        out += [(s["node"]["id"], f"service {s['node']['name']}") for s in p["services"]["edges"]]
        out += _custom_domains(p["environments"]["edges"])
        volume_instances = []
        for v in p["volumes"]["edges"]:
            where = [envs.get(vi["node"]["environmentId"], "?") for vi in v["node"]["volumeInstances"]["edges"]]
            out.append((v["node"]["id"], f"volume {v['node']['name']} (in {', '.join(where) or 'no environment'})"))
            volume_instances += [(vi["node"]["id"], f"{v['node']['name']} in {envs.get(vi['node']['environmentId'], '?')}")
                                 for vi in v["node"]["volumeInstances"]["edges"]]
        return out + _backups(volume_instances)
    env = found["environment"]
    out = [(i["node"]["serviceId"], f"service {i['node']['serviceName']} in {env['name']}")
           for i in env["serviceInstances"]["edges"]]
    out += _custom_domains([{"node": env}])
    out += [(v["node"]["volumeId"], f"volume at {v['node']['mountPath']} in {env['name']}")
            for v in env["volumeInstances"]["edges"]]
    return out + _backups([(v["node"]["id"], f"at {v['node']['mountPath']} in {env['name']}")
                           for v in env["volumeInstances"]["edges"]])


def _custom_domains(env_edges: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """A custom domain goes with its service instance; the stack holds the ones it declared."""
    return [(d["id"], f"custom domain {d['domain']} in {e['node']['name']}") for e in env_edges
            for i in e["node"]["serviceInstances"]["edges"] for d in i["node"]["domains"]["customDomains"]]


def _backups(volume_instances: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every backup of these volume instances ((id, where)). Deleting a volume takes its backups along (the
    emulator does so; Railway documents no backup outliving its volume instance), and a backup is never deleted
    implicitly: no stack holds a backup id, so each one, a colleague's or the release flow's, stops a destroy."""
    client = client_from_env()
    return [(b["id"], f"backup {b['name']} of the volume {where}") for vi, where in volume_instances
            for b in client.query("BackupList", volumeInstanceId=vi)["volumeInstanceBackupList"]]


def lives_elsewhere(project_id: str, env_id: str, project: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Where each service of the project lives besides this environment: an instance in another environment or a
    volume in any (one read, none when given the project's inventory). `serviceDelete(environmentId)` of a
    non-fork environment removes the service from every non-fork environment of the project (the argument's
    description in Railway's schema), so such a service is never removed for one stack."""
    p = project or client_from_env().query("ProjectInventory", id=project_id)["project"]
    envs = {e["node"]["id"]: e["node"]["name"] for e in p["environments"]["edges"]}
    found: dict[str, set[str]] = {}
    for e in p["environments"]["edges"]:
        for inst in e["node"]["serviceInstances"]["edges"] if e["node"]["id"] != env_id else []:
            found.setdefault(inst["node"]["serviceId"], set()).add(f"an instance in {e['node']['name']}")
    for v in p["volumes"]["edges"]:
        for vi in v["node"]["volumeInstances"]["edges"]:
            found.setdefault(vi["node"].get("serviceId") or "", set()).add(
                f"a volume in {envs.get(vi['node']['environmentId'], '?')}")
    return {service: sorted(where) for service, where in found.items()}


def fork_copies(deployment: dict[str, Any]) -> set[str]:
    """The volumes and services a fork's record says Railway copied into it from its source when it was made
    (`copied`, kept by the fork resource): the fork's instances of them are its own and go with it, also when the
    run that made the fork was killed before its shape recorded the services it kept (adv15 B2). Its
    environment's `environmentDelete` removes only its own instances, never the volume, the service or the
    source's instance (issue 14 B7). What is attached by hand in the fork later is not in the record: foreign."""
    for res in deployment.get("resources") or []:
        copied = (res.get("outputs") or {}).get("copied")
        if res.get("urn", "").endswith("-environment") and isinstance(copied, dict):
            services = [s.get("id") for s in (copied.get("services") or {}).values() if isinstance(s, dict)]
            return {str(v) for v in copied.get("volumes") or {}} | {str(s) for s in services if s}
    return set()


def source_copies(project: dict[str, Any], env_id: str) -> set[str]:
    """The services and volumes a fork may hold as copies of its source environment's (Railway's
    `sourceEnvironment`): those with an instance in that source now. A service or volume with no instance there
    was made in the fork by hand (or outlived its source's instance): not a copy."""
    envs = [e["node"] for e in project["environments"]["edges"]]
    source = next(((e.get("sourceEnvironment") or {}).get("id") for e in envs if e["id"] == env_id), None)
    services = {i["node"]["serviceId"] for e in envs if source and e["id"] == source
                for i in e["serviceInstances"]["edges"]}
    volumes = {v["node"]["id"] for v in project["volumes"]["edges"] if source and any(
        vi["node"]["environmentId"] == source for vi in v["node"]["volumeInstances"]["edges"])}
    return services | volumes


def orphan_foreign(project_id: str, env_id: str) -> list[str]:
    """What deleting a preview's environment whose stack is gone (an orphan: no state says what it made) would
    take that is neither its copy of an object of the environment it was forked from (dev) nor what the tool
    makes in a preview (variables, its marker, its Railway domain, which no listing names): a volume or service
    made in it by hand, a custom domain, any backup. Adversarial 15b N1: gc deleted such a volume's only instance."""
    project = client_from_env().query("ProjectInventory", id=project_id)["project"]
    own = source_copies(project, env_id)
    extra = [(id_, desc) for id_, desc in _contents("environment", env_id) if id_ not in own]
    if any(desc.startswith("service ") for _, desc in extra):
        extra = note_shared(extra, lives_elsewhere(project_id, env_id, project))
    return [desc for _, desc in extra]


def foreign_objects(stacks: list[str], root: Path) -> list[str]:
    """What destroying these stacks would delete that none of them holds."""
    states = {s: _state(s, root) for s in stacks}
    held = set().union(*(held_ids(d) for d in states.values()))
    found: list[str] = []
    for deployment in states.values():
        container = _container(deployment)
        pending = None if container else killed_fork(deployment)
        if pending:  # no state says what it made: as an orphan, only its copies of dev's objects are its own
            found += [desc for desc in orphan_foreign(*pending) if desc not in found]
        if container:
            own = held | (fork_copies(deployment) if container[0] == "environment" else set())
            extra = [(id_, desc) for id_, desc in _contents(*container) if id_ not in own]
            project_id = _project_of(deployment, container)
            if project_id and any(desc.startswith("service ") for _, desc in extra):
                extra = note_shared(extra, lives_elsewhere(project_id, container[1]))
            found += [desc for _, desc in extra if desc not in found]
    return found


def _project_of(deployment: dict[str, Any], container: tuple[str, str]) -> str | None:
    """The project of the environment a stack made (its resource's `project_id`); None for a project."""
    if container[0] != "environment":
        return None
    made = next((r for r in deployment.get("resources") or [] if str(r.get("id")) == container[1]), {})
    return (made.get("outputs") or {}).get("project_id")


def note_shared(extra: list[tuple[str, str]], elsewhere: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Names where else a foreign instance's service runs (a fork shares its source's service ids): deleting that
    service by hand, rather than its instance here, would delete it there too."""
    out = []
    for id_, desc in extra:
        where = [w for w in elsewhere.get(id_) or [] if w.startswith("an instance in ")]
        if desc.startswith("service ") and where:
            desc += (f" (the service also has {', '.join(where)}: remove only this instance, "
                     "never the service)")
        out.append((id_, desc))
    return out


def interrupted(stack: str, root: Path) -> bool:
    """The stack's last run was killed while it made or changed something (its pending operations): `recover`
    finishes it and records what it made. A killed removal is finished by `recover` itself."""
    ops_left = _state(stack, root).get("pending_operations") or []
    return any(op.get("type") != "deleting" for op in ops_left)


def way_out(stacks: list[str], root: Path, again: str) -> str:
    """The end of a refusal naming what no stack manages: finish a killed run first (it may have made what is
    named), then move or remove by hand only what really is hand-made."""
    killed = [s for s in stacks if ops.stack_exists(s, root) and interrupted(s, root)]
    first = "".join(f"`acs-infra recover {s}` first (its last run was killed; recover records what it made), "
                    for s in killed)
    return (f"{'Run ' + first + 'then move' if killed else 'Move'} or remove by hand what is still named (keep a "
            f"backup of any volume; never delete a service that also runs elsewhere, only its instance here) and "
            f"{again}.")


def check_destroy(stack: str, root: Path, with_dependents: bool) -> list[str]:
    """Raises Refused before anything is deleted; returns the dependents to destroy first."""
    deps = dependents(stack, root)
    if deps and not with_dependents:
        raise Refused(f"{', '.join(deps)} use {stack}'s Railway project and would be deleted with it; nothing was "
                      f"deleted. Destroy them first, or run `acs-infra destroy {stack} --with-dependents`.")
    foreign = foreign_objects([*deps, stack], root)
    if foreign:
        raise Refused(f"destroying {stack} would also delete what no stack manages: {'; '.join(foreign)}. Nothing "
                      "was deleted. Move or remove those by hand (keep a copy of any volume or backup you need) and run it "
                      "again.")
    return deps


def previews_holding_foreign(stacks: list[str], root: Path) -> dict[str, list[str]]:
    """Each preview whose environment holds what its stack did not make (a hand-made service, volume or database
    would go with the environment), with those objects named."""
    return {stack: found for stack in stacks if ops.stack_exists(stack, root)
            for found in [foreign_objects([stack], root)] if found}


def check_previews(stacks: list[str], root: Path) -> None:
    """`pr down`: raises Refused before anything is deleted when a preview holds what its stack did not make."""
    foreign = [f"{stack}: {'; '.join(found)}" for stack, found in previews_holding_foreign(stacks, root).items()]
    if foreign:
        raise Refused(f"removing {', '.join(stacks)} would also delete what no stack manages: {' | '.join(foreign)}. "
                      f"Nothing was deleted. {way_out(stacks, root, 'run it again')}")


def check_project_switch(stack: str, cfg: EnvironmentConfig, root: Path) -> None:
    """A stack that made its project and is now configured with `project.id` or `project.stack`: its Project
    resource would leave the program and the engine would delete the project (also when the id is that very
    project's). Refused before any call; nothing is deleted implicitly. For a stack that exists."""
    if cfg.project.name:
        return
    made = _container(_state(stack, root))
    if made and made[0] == "project":
        given = f"project.id {cfg.project.id}" if cfg.project.id else f"project.stack {cfg.project.stack}"
        raise Refused(f"acs:environment.project: stack {stack} made Railway project {made[1]} (project.name); "
                      f"switching to {given} would delete that project with everything in it. Nothing was changed. "
                      "Keep project.name as it was (the stack keeps it); to move the stack elsewhere, "
                      f"`acs-infra destroy {stack}` first.")


def check_new_project(stack: str, cfg: EnvironmentConfig) -> None:
    """A new stack makes a project of its own: a project of the declared name that already exists belongs to
    another stack, to an older checkout or to someone's hands, and is never taken over. One read, before the
    stack is created, so the refusal is one line and leaves no stack behind (adversarial B8: a copied stack file
    used to fail inside the engine with the provider's traceback, leaving a stack). A project token cannot list
    projects and never creates one: nothing to check."""
    name = cfg.project.name
    if not name or not os.environ.get("RAILWAY_API_TOKEN"):
        return
    edges = client_from_env().query("ProjectsNamed")["projects"]["edges"]
    taken = next((e["node"] for e in edges if e["node"]["name"] == name), None)
    if taken:
        me = f"organization/{ops.PROJECT_NAME}/{stack}@{backend_id()}"  # a new stack: no identity yet
        raise ConfigError(str(refuse("railway project", name, taken["id"], taken.get("description"), me,
                                     "A new stack makes a project of its own: choose another "
                                     "acs:environment.project.name.")))


def check_given_project(stack: str, cfg: EnvironmentConfig, root: Path, existed: bool) -> None:
    """A persistent stack given a project by id makes its services in every non-fork environment of that project
    (ServiceCreateInput.environmentId's description), so `project: {id: <dev's project>}` would write into dev's
    own environment as `project: {stack: dev}` would (refused in infra.config). Refused, naming the owner, when the
    project carries another stack's marker, or a non-fork environment there runs a service this stack did not
    make. One read, before the stack is created or locked. A project token cannot read another environment's
    objects nor create a service outside its own environment: nothing to check (as check_new_project)."""
    if not cfg.project.id or ops.PR_STACK.match(stack) or not os.environ.get("RAILWAY_API_TOKEN"):
        return
    own = held_ids(_state(stack, root)) if existed else set()
    project = client_from_env().query("ProjectGivenById", id=cfg.project.id)["project"]
    where = f"acs:environment.project.id: Railway project {project['name']!r} ({project['id']})"
    why = ("a persistent stack's services are made in every non-fork environment of its project (Railway). Nothing "
           f"was changed. Give stack {stack} a project of its own (acs:environment.project.name) or an empty one")
    text = project.get("description") or ""
    me = f"organization/{ops.PROJECT_NAME}/{stack}@{backend_id()}"
    if text.startswith(MARKER) and text.split("#", 1)[0] != f"{MARKER}: {me}":
        raise Refused(f"{where} belongs to {owner_named_by(text)}: {why}.")
    foreign = [f"service {i['node']['serviceName']} in {e['node']['name']}" for e in project["environments"]["edges"]
               if not e["node"]["isEphemeral"] and e["node"]["id"] not in own
               for i in e["node"]["serviceInstances"]["edges"] if i["node"]["serviceId"] not in own]
    if foreign:
        raise Refused(f"{where} runs what stack {stack} did not make ({'; '.join(foreign)}): {why}.")


def check_refork(stack: str, root: Path) -> None:
    """`pr up` of a preview not given a service its stack now declares (dev gained it after the fork) forks it
    again, deleting the old fork first (infra.providers.fork.ForkedEnvironmentProvider): refused before the run,
    like `pr down`, when that fork holds what its stack did not make. No API call unless it re-forks."""
    from infra.config import pr_config
    if not ops.stack_exists(stack, root):
        return
    deployment = _state(stack, root)
    copied = next(((r.get("outputs") or {}).get("copied") for r in deployment.get("resources") or []
                   if r.get("urn", "").endswith("-environment")), None)
    if not isinstance(copied, dict):
        return
    gained = sorted({s.name for s in pr_config(stack, root).services} - set(copied.get("services") or {}))
    foreign = foreign_objects([stack], root) if gained else []
    if foreign:
        raise Refused(f"{stack} does not hold {', '.join(gained)}, which dev's stack file declares (Railway copies "
                      "services into a fork only when it is made): updating it forks it again from dev, and deleting "
                      f"the old fork would also delete what no stack manages: {'; '.join(foreign)}. Nothing was "
                      "changed. Move or remove those by hand and run it again.")
