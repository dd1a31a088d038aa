"""A fork of an environment, and the shape it is then given: how PR previews are made on Railway.

`environmentCreate(sourceEnvironmentId)` copies the source's services (same service ids, instances of the fork's
own), volume instances, settings and variables (Railway's schema). `ForkShape` then adjusts the fork in a single
`environmentPatchCommit`: the declared services get their source, settings, limits and variables (variables the
fork copied but the program does not declare are removed), and every copied instance, volume instance and shared
variable the program does not declare is removed from the fork, never from the source. The shape lives and dies
with its fork, so it has no delete call of its own.

Ownership: the fork carries its stack's marker (the shared variable `ACS_INFRA_OWNER`), written by the shape's
patch rather than by a call of its own (the fork copies no marker: the patch removes every copied shared variable).
An environment of the fork's name found at create time is adopted only with this stack's marker.

A fork is never left half made: when its first shaping fails, the fork (holding its source's secret values and
database instance) is deleted before the error is reported.

A run killed after Railway made the fork but before the engine recorded it leaves an unmarked fork. The engine
records each create (a pending operation, with its checked inputs) before calling it, and `check` stamps a create's
inputs with the time it was intended (`fork_intent`): `recover` reads that record and marks the fork only when it
is exactly what that create made, inside its window (`finish_killed_fork`, infra.providers.intent), so the next
create adopts it by marker.
"""
from __future__ import annotations

from typing import Any

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import DiffResult, Resource

from infra.providers import snapshot
from infra.providers.base import (CheckResult, CreateResult, Field, RailwayProvider, ReadResult,
                                  UpdateResult, client, create_once, ignore_missing)
from infra.providers.environment import EnvironmentProvider, check_owned
from infra.providers.intent import deadline, not_made_by, stamp
# ForkShape lived here: state written before it moved names its provider `infra.providers.fork.ForkShapeProvider`
# (dynamic providers are pickled by reference), so the names stay importable from this module.
from infra.providers.fork_shape import ForkBehindSource, ForkShape, ForkShapeProvider  # noqa: F401


def copied_content(e: dict[str, Any]) -> dict[str, Any]:
    """What a fork holds right after it is made: service ids by name with their variable names, volume ids with
    the service they are mounted on, shared variable names. Names only, never a value."""
    config = e.get("config") or {}
    services = config.get("services") or {}
    by_name = {}
    for edge in e["serviceInstances"]["edges"]:
        sid = edge["node"]["serviceId"]
        by_name[edge["node"]["serviceName"]] = {"id": sid,
                                                "variables": sorted((services.get(sid) or {}).get("variables") or {})}
    mounts = {vol: sid for sid, spec in services.items() for vol in (spec.get("volumeMounts") or {})}
    # "" for a volume mounted nowhere: the engine drops None values from maps
    return {"services": by_name, "volumes": {vol: mounts.get(vol, "") for vol in config.get("volumes") or {}},
            "shared_variables": sorted(config.get("sharedVariables") or {})}


FORK_INTENT = "fork_intent"  # input stamped by check on a create: when the stack meant to fork (ISO time)


def killed_fork_refusal(intent: dict[str, Any], env: dict[str, Any], owner: str | None,
                        source_owner: str | None, longest_answer: float) -> str | None:
    """Why `env` is not the fork a killed create (its pending record `intent`) made; None when it is: exactly its
    name, in its project, forked from its source, ephemeral, carrying no marker but the one the fork copied from
    its source, and made inside the recorded create's window (infra.providers.intent)."""
    if env["name"] != intent["name"] or env["projectId"] != intent["project_id"]:
        return "another name or project"
    if (env.get("sourceEnvironment") or {}).get("id") != intent["source_environment_id"]:
        return "forked from another environment"
    if not env["isEphemeral"]:
        return "not ephemeral"
    if owner not in (None, source_owner):
        return f"marked by {owner}"
    return not_made_by(intent[FORK_INTENT], env["createdAt"], longest_answer)


def killed_fork(intent: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """(the fork a killed create of this stack made, or None; what was found). Reads only: the fork is the one
    that is exactly that create's (killed_fork_refusal), or one already carrying this stack's marker."""
    project_id, name = intent["project_id"], intent["name"]
    node = next((e["node"] for e in client().query("EnvironmentFind", projectId=project_id)["environments"]["edges"]
                 if e["node"]["name"] == name), None)
    if node is None:
        return None, f"environment {name}: the killed create made none"
    env = {**client().query("EnvironmentForkRead", id=node["id"])["environment"], "createdAt": node["createdAt"]}
    owner = EnvironmentProvider._owner(env["id"], project_id)
    if owner == intent.get("owner"):
        return {**env, "marked": True}, f"environment {name} ({env['id']}): already marked as this stack's"
    why = killed_fork_refusal(intent, env, owner, EnvironmentProvider._owner(intent["source_environment_id"],
                                                                             project_id), client().longest_answer())
    if why:
        return None, f"environment {name} ({env['id']}) left alone: not this stack's killed fork ({why})"
    return env, ""


def finish_killed_fork(intent: dict[str, Any]) -> str:
    """Marks the fork a killed create of this stack made (see killed_fork); says what it did."""
    env, said = killed_fork(intent)
    if env is None or env.get("marked"):
        return said
    EnvironmentProvider._mark(env["id"], intent)
    return f"environment {intent['name']} ({env['id']}): the fork a killed run made is marked as this stack's"


def not_copied(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """The declared services (`services`, names) this fork was not given when it was made."""
    declared = news.get("services")
    if not isinstance(declared, list) or not olds.get("copied"):
        return []  # unknown until another resource's output is, or a create
    return sorted(set(declared) - set((olds["copied"] or {}).get("services") or {}))


class ForkedEnvironmentProvider(RailwayProvider):
    """A fork follows its source's services: Railway makes a service created in a non-fork environment in no fork
    (ServiceCreateInput.environmentId), so a service the source gained after the fork was made reaches the preview
    only by forking again (environmentCreate(sourceEnvironmentId) copies every service, with the same ids). A
    `serviceCreate` in the fork would make a NEW service (another id) that the source's references, `pr down`
    and drift do not know. So a declared service the fork lacks replaces the fork (`services`, diff): the old one
    is deleted first (its name and domain are unique), the new one forked and shaped. The CLI refuses that before
    the run when the old fork holds anything its stack did not make (infra.ops.safety). Assumed, not documented by
    Railway: a preview holds no data worth keeping (its database is SQLite seeded on deploy; a volume it copied
    is copied again), and `environmentDelete` frees the name and Railway domains at once (as `pr down` + `pr up`
    already relies on)."""

    kind = "railway forked environment"
    fields = (Field("project_id", replaces=True), Field("source_environment_id", replaces=True),
              Field("name", replaces=True), Field("ephemeral", replaces=True, default=True), Field("owner"))
    required = ("project_id", "source_environment_id", "name")
    delete_before_replace = True  # names are unique in a project: the old environment goes before its successor

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)
        # a create (also a replacement's) is meant now; the engine records it before the call (finish_killed_fork)
        replacing = bool(olds) and any((f.default if olds.get(f.name) is None else olds[f.name])
                                       != result.inputs.get(f.name) for f in self.fields if f.replaces)
        # a service declared since the last run may re-fork (diff, which sees what was copied): meant now too
        gained = set(result.inputs.get("services") or []) - set(olds.get("services") or [])
        stamp(FORK_INTENT, {} if replacing or gained else olds, result.inputs)
        return result

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        missing = not_copied(olds, news)
        if result.replaces or not missing:
            return result
        self._source_runs(news, missing)
        return DiffResult(changes=True, replaces=["services"], stables=result.stables, delete_before_replace=True)

    @staticmethod
    def _source_runs(news: dict[str, Any], missing: list[str]) -> None:
        """Re-forking helps only when the source runs those services now (one read, only in this case)."""
        source = client().query("EnvironmentForkRead", id=news["source_environment_id"])["environment"]
        runs = sorted(e["node"]["serviceName"] for e in source["serviceInstances"]["edges"])
        absent = [name for name in missing if name not in runs]
        if absent:
            raise ForkBehindSource(
                f"{news['name']}: {', '.join(absent)} declared, but {source['name']} does not run "
                f"{'it' if len(absent) == 1 else 'them'} (it runs {', '.join(runs) or 'nothing'}): bring "
                f"{source['name']}'s stack up first (`acs-infra up {source['name']}`), then this one. Nothing was "
                "changed.")

    def _outs(self, e: dict[str, Any], props: dict[str, Any], copied: dict[str, Any]) -> dict[str, Any]:
        return {**self.inputs_of(props), "name": e["name"], "project_id": e["projectId"],
                "ephemeral": e["isEphemeral"], "source_environment_id": (e.get("sourceEnvironment") or {}).get("id"),
                "copied": copied}

    def create(self, props: dict[str, Any]) -> CreateResult:
        # The copies are not deployed: they still run the source's image with the source's variables until
        # the shape is committed, and that commit deploys what the fork is meant to run.
        payload = {"projectId": props["project_id"], "name": props["name"], "ephemeral": bool(props["ephemeral"]),
                   "sourceEnvironmentId": props["source_environment_id"], "skipInitialDeploys": True}
        due = deadline(props.get(FORK_INTENT))  # never sent after its window (finish_killed_fork relies on it)
        e = create_once(lambda: client().mutate("EnvironmentFork", idempotent=False, not_after=due,
                                                input=payload)["environmentCreate"], lambda: self._find(props),
                        owned=lambda e: self._owned(e, props))
        return CreateResult(e["id"], self._outs(e, props, copied_content(e)))

    @staticmethod
    def _owned(env: dict[str, Any], props: dict[str, Any]) -> None:
        check_owned(env, props, "Remove that environment or close its PR (a run of this stack killed while forking "
                                "leaves an unmarked fork: `acs-infra recover <stack>` finishes it).")

    @staticmethod
    def _find(props: dict[str, Any]) -> dict[str, Any] | None:
        """After a lost answer: our fork is the environment of that name forked from the same source."""
        edges = client().query("EnvironmentFind", projectId=props["project_id"])["environments"]["edges"]
        node = next((e["node"] for e in edges if e["node"]["name"] == props["name"]), None)
        if node is None:
            return None
        e = client().query("EnvironmentForkRead", id=node["id"])["environment"]
        return e if (e.get("sourceEnvironment") or {}).get("id") == props["source_environment_id"] else None

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:
            e = snapshot.environment(id_)  # the run's one read of the fork, shared with its shape and domains
            if e is None or e.get("deletedAt"):  # Railway documents the field: deleted, still answering, is gone
                return None
            # what was copied is a fact of the creation; the inventory lets drift look for undeclared objects
            return {**self._outs(e, props, props.get("copied") or {}), snapshot.INVENTORY: snapshot.inventory(id_)}
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Only `owner` changes in place (the shape writes the marker): no call; the outputs stay (the base
        class's empty result would drop `copied` and replace the shape)."""
        return UpdateResult({**{k: v for k, v in olds.items() if k != "__provider"}, "owner": news.get("owner")})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: client().mutate("EnvironmentDelete", id=id_))


class ForkedEnvironment(Resource):
    """An environment made as a copy of another (`ephemeral` by default: a PR preview)."""

    name: Output[str]
    project_id: Output[str]
    copied: Output[dict[str, Any]]

    def __init__(self, resource_name: str, *, project_id: Input[str], source_environment_id: Input[str],
                 name: Input[str], ephemeral: Input[bool] = True, owner: Input[str] | None = None,
                 services: list[str] | None = None, opts: ResourceOptions | None = None) -> None:
        """`services`: the names the fork must hold (a declared one it was not given re-forks it)."""
        super().__init__(ForkedEnvironmentProvider(), resource_name, {
            "project_id": project_id, "source_environment_id": source_environment_id, "name": name,
            "ephemeral": ephemeral, "owner": owner, "services": services, "copied": None}, opts)
