"""Railway environment: name (renamed in place), ephemeral flag and source environment (both replace)."""
from __future__ import annotations

import re
from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers.base import (CheckFailure, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult,
                                  client, create_once, ignore_missing)

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _outs(e: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    return {**inputs, "name": e["name"], "project_id": e["projectId"], "ephemeral": e["isEphemeral"]}


class EnvironmentProvider(RailwayProvider):
    kind = "railway environment"
    fields = (Field("project_id", replaces=True), Field("name"), Field("ephemeral", replaces=True, default=False),
              Field("source_environment_id", replaces=True), Field("adopt_id", replaces=True))
    required = ("project_id", "name")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        if news.get("name") and not NAME.match(news["name"]):
            yield CheckFailure("name", f"railway environment: name {news['name']!r} must be lowercase letters, "
                                       "digits and '-', at most 63 characters")

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.inputs_of(props)
        if props.get("adopt_id"):
            e = client().query("EnvironmentRead", id=props["adopt_id"])["environment"]
            return CreateResult(e["id"], _outs(e, inputs))
        payload = {"projectId": props["project_id"], "name": props["name"], "ephemeral": bool(props.get("ephemeral"))}
        if props.get("source_environment_id"):
            payload["sourceEnvironmentId"] = props["source_environment_id"]
        e = create_once(lambda: client().mutate("EnvironmentCreate", idempotent=False, input=payload)["environmentCreate"],
                        lambda: self._find(props["project_id"], props["name"]))
        return CreateResult(e["id"], _outs(e, inputs))

    @staticmethod
    def _find(project_id: str, name: str) -> dict[str, Any] | None:
        edges = client().query("EnvironmentFind", projectId=project_id)["environments"]["edges"]
        node = next((e["node"] for e in edges if e["node"]["name"] == name), None)
        return node and {**node, "projectId": project_id}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return self.read_or_gone(id_, props, lambda: _outs(client().query("EnvironmentRead", id=id_)["environment"],
                                                           self.inputs_of(props)))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        e = client().mutate("EnvironmentRename", id=id_, input={"name": news["name"]})["environmentRename"]
        return UpdateResult({**self.inputs_of(news), "name": e["name"], "project_id": olds["project_id"],
                             "ephemeral": olds.get("ephemeral", False)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: client().mutate("EnvironmentDelete", id=id_))


class Environment(Resource):
    """A Railway environment of a project (`ephemeral=True` for PR previews)."""

    name: Output[str]
    project_id: Output[str]
    ephemeral: Output[bool]

    def __init__(self, resource_name: str, *, project_id: Input[str], name: Input[str], ephemeral: Input[bool] = False,
                 source_environment_id: Input[str] | None = None, adopt_id: Input[str] | None = None,
                 opts: ResourceOptions | None = None) -> None:
        super().__init__(EnvironmentProvider(), resource_name, {
            "project_id": project_id, "name": name, "ephemeral": ephemeral,
            "source_environment_id": source_environment_id, "adopt_id": adopt_id}, opts)
