"""Railway project: created, or adopted by id (then never deleted by Pulumi: it is not ours)."""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers.base import (CheckFailure, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult, client,
                                  create_once, ignore_missing)


def _outs(p: dict[str, Any], inputs: dict[str, Any], default_env: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {**inputs, "name": p["name"], "description": p.get("description"), "pr_deploys": p.get("prDeploys", False),
           "workspace_id": p.get("workspaceId")}
    if default_env is not None:
        out["default_environment_id"] = default_env["id"]
    return out


MARKER = "Managed by Pulumi (acs-infra)"


class ProjectProvider(RailwayProvider):
    kind = "railway project"
    fields = (Field("name"), Field("description", default=MARKER), Field("pr_deploys", default=False),
              Field("default_environment_name", replaces=True), Field("adopt_id", replaces=True))

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        if not news.get("adopt_id") and not (news.get("name") or "").strip():
            yield CheckFailure("name", "railway project: 'name' must not be empty (or give 'adopt_id')")

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.inputs_of(props)
        if props.get("adopt_id"):
            p = client().query("ProjectRead", id=props["adopt_id"])["project"]
            return CreateResult(p["id"], {**_outs(p, inputs), "default_environment_id": None})
        payload = {"name": props["name"], "description": props.get("description") or MARKER,
                   "prDeploys": bool(props.get("pr_deploys"))}
        if props.get("default_environment_name"):
            payload["defaultEnvironmentName"] = props["default_environment_name"]

        def find() -> dict[str, Any] | None:
            """Ours only: same name and our marker (a project of the same name made by hand is left alone)."""
            edges = client().query("ProjectFindByName")["projects"]["edges"]
            return next((e["node"] for e in edges if e["node"]["name"] == props["name"]
                         and e["node"].get("description") == payload["description"]), None)

        # A run killed after Railway made the project but before the state recorded it left it behind:
        # adopt it rather than make a second one.
        p = find() or create_once(
            lambda: client().mutate("ProjectCreate", idempotent=False, input=payload)["projectCreate"], find)
        envs = (p.get("environments") or {}).get("edges") or []
        return CreateResult(p["id"], _outs(p, inputs, envs[0]["node"] if envs else {"id": None}))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return self.read_or_gone(id_, props, lambda: _outs(client().query("ProjectRead", id=id_)["project"],
                                                           self.inputs_of(props)))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        p = client().mutate("ProjectUpdate", id=id_, input={"name": news["name"], "description": news.get("description"),
                                                              "prDeploys": bool(news.get("pr_deploys"))})["projectUpdate"]
        return UpdateResult({**_outs(p, self.inputs_of(news)), "default_environment_id": olds.get("default_environment_id"),
                             "workspace_id": olds.get("workspace_id")})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopt_id"):
            return  # adopted, not created: leave it to its owner
        ignore_missing(lambda: client().mutate("ProjectDelete", id=id_))


class Project(Resource):
    """A Railway project. `adopt_id` takes over an existing project instead of creating one."""

    name: Output[str]
    default_environment_id: Output[str | None]
    workspace_id: Output[str]

    def __init__(self, resource_name: str, *, name: Input[str] | None = None, description: Input[str] | None = None,
                 pr_deploys: Input[bool] = False, default_environment_name: Input[str] | None = None,
                 adopt_id: Input[str] | None = None, opts: ResourceOptions | None = None) -> None:
        super().__init__(ProjectProvider(), resource_name, {
            "name": name, "description": description, "pr_deploys": pr_deploys,
            "default_environment_name": default_environment_name, "adopt_id": adopt_id,
            "default_environment_id": None, "workspace_id": None}, opts)


__all__ = ["Project", "ProjectProvider"]
