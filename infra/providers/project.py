"""Railway project: created, or adopted by id (then never deleted by Pulumi: it is not ours)."""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.ownership import marker, refuse
from infra.providers import snapshot
from infra.providers.base import (CheckFailure, CheckResult, CreateResult, Field, RailwayProvider, ReadResult,
                                  UpdateResult, client, create_once, ignore_missing,
                                  ignore_missing_list)


def _outs(p: dict[str, Any], inputs: dict[str, Any], default_env: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {**inputs, "name": p["name"], "description": p.get("description"), "pr_deploys": p.get("prDeploys", False),
           "workspace_id": p.get("workspaceId")}
    if default_env is not None:
        out["default_environment_id"] = default_env["id"]
    return out


class ProjectProvider(RailwayProvider):
    kind = "railway project"
    fields = (Field("name"), Field("description"), Field("pr_deploys", default=False),
              Field("default_environment_name"), Field("adopt_id", replaces=True), Field("owner"))
    # A project of this name with this stack's marker is adopted at create (after a killed run).
    identity = ("name", "owner")
    keeps_adopted = True

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)
        if not result.inputs.get("description"):  # the marker names the stack that makes the project
            result.inputs["description"] = marker(result.inputs.get("owner"))
        return result

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        if not news.get("adopt_id") and not (news.get("name") or "").strip():
            yield CheckFailure("name", "railway project: 'name' must not be empty (or give 'adopt_id')")

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.inputs_of(props)
        if props.get("adopt_id"):
            p = client().query("ProjectRead", id=props["adopt_id"])["project"]
            return CreateResult(p["id"], {**_outs(p, inputs), "default_environment_id": None})
        payload = {"name": props["name"], "description": props.get("description") or marker(props.get("owner")),
                   "prDeploys": bool(props.get("pr_deploys"))}
        if props.get("default_environment_name"):
            payload["defaultEnvironmentName"] = props["default_environment_name"]

        def same_name() -> list[dict[str, Any]]:
            edges = client().query("ProjectFindByName")["projects"]["edges"]
            return [e["node"] for e in edges if e["node"]["name"] == props["name"]]

        def find(found: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
            """Ours only: same name and this stack's marker."""
            return next((p for p in (same_name() if found is None else found)
                         if p.get("description") == payload["description"]), None)

        # A run killed after Railway made the project but before the state recorded it left it behind:
        # adopt it rather than make a second one. A project of that name made by anyone else (another stack,
        # e.g. a copy-pasted stack file, or a person) stops the create before its first write.
        existing = same_name()
        p = find(existing)
        if p is None and existing:
            raise refuse("railway project", props["name"], existing[0]["id"], existing[0].get("description"),
                         props.get("owner"), "Give this stack its own project.name, or take that project over on "
                         "purpose with project.id.")
        p = p or create_once(
            lambda: client().mutate("ProjectCreate", idempotent=False, input=payload)["projectCreate"], find)
        envs = (p.get("environments") or {}).get("edges") or []
        return CreateResult(p["id"], _outs(p, inputs, envs[0]["node"] if envs else {"id": None}))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any]:
            held = snapshot.project(id_, props.get("workspace_id"))
            found = held["project"] if held else client().query("ProjectRead", id=id_)["project"]
            live = _outs(found, self.inputs_of(props))
            return {**live, snapshot.INVENTORY: snapshot.inventory(props.get("default_environment_id"))}
        return self.read_or_gone(id_, props, fetch)

    def held_data(self, id_: str, olds: dict[str, Any]) -> list[str]:
        return ignore_missing_list(lambda: [f"volume {v['node']['name']}" for v in client().query(
            "ProjectInventory", id=id_)["project"]["volumes"]["edges"]])

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # The default environment's name is a create-time value of the project: later it is the environment's
        # own name, renamed in place (as EnvironmentProvider.update does), never a new project.
        env_id, env_name = olds.get("default_environment_id"), news.get("default_environment_name")
        if env_id and env_name and env_name != olds.get("default_environment_name"):
            client().mutate("EnvironmentRename", id=env_id, input={"name": env_name})
        p = client().mutate("ProjectUpdate", id=id_, input={"name": news["name"], "description": news.get("description"),
                                                              "prDeploys": bool(news.get("pr_deploys"))})["projectUpdate"]
        return UpdateResult({**_outs(p, self.inputs_of(news)), "default_environment_id": olds.get("default_environment_id"),
                             "workspace_id": olds.get("workspace_id")})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopt_id"):
            return  # adopted, not created: leave it to its owner
        ignore_missing(lambda: client().mutate("ProjectDelete", id=id_))


class Project(Resource):
    """A Railway project. `adopt_id` takes over an existing project instead of creating one; `owner` (the stack
    that makes it, see infra.ownership) goes into its description and decides what a create may adopt."""

    name: Output[str]
    default_environment_id: Output[str | None]
    workspace_id: Output[str]

    def __init__(self, resource_name: str, *, name: Input[str] | None = None, description: Input[str] | None = None,
                 pr_deploys: Input[bool] = False, default_environment_name: Input[str] | None = None,
                 adopt_id: Input[str] | None = None, owner: Input[str] | None = None,
                 opts: ResourceOptions | None = None) -> None:
        super().__init__(ProjectProvider(), resource_name, {
            "name": name, "description": description, "pr_deploys": pr_deploys,
            "default_environment_name": default_environment_name, "adopt_id": adopt_id, "owner": owner,
            "default_environment_id": None, "workspace_id": None}, opts)


__all__ = ["Project", "ProjectProvider"]
