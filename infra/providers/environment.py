"""Railway environment: name (renamed in place), ephemeral flag and source environment (both replace)."""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.ownership import MARKER, OWNER_VARIABLE, refuse
from infra.providers import snapshot
from infra.providers.base import (CheckFailure, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult,
                                  client, create_once, ignore_missing,
                                  ignore_missing_list)
from infra.railway.facts import ENVIRONMENT_NAME as NAME



def _outs(e: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    return {**inputs, "name": e["name"], "project_id": e["projectId"], "ephemeral": e["isEphemeral"]}


class EnvironmentProvider(RailwayProvider):
    kind = "railway environment"
    fields = (Field("project_id", replaces=True), Field("name"), Field("ephemeral", replaces=True, default=False),
              Field("source_environment_id", replaces=True), Field("adopt_id", replaces=True), Field("owner"))
    required = ("project_id", "name")
    # An environment of this name in the project is adopted at create when it carries this stack's marker.
    identity = ("project_id", "name")
    keeps_adopted = True

    def held_data(self, id_: str, olds: dict[str, Any]) -> list[str]:
        return ignore_missing_list(lambda: [f"volume at {v['node']['mountPath']}" for v in client().query(
            "EnvironmentInstances", environmentId=id_)["environment"]["volumeInstances"]["edges"]])

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
                        lambda: self._find(props["project_id"], props["name"]), owned=lambda e: self._owned(e, props))
        if props.get("owner"):
            self._mark(e["id"], props)
        return CreateResult(e["id"], _outs(e, inputs))

    @staticmethod
    def _owner(env_id: str, project_id: str) -> str | None:
        return client().query("VariablesRead", projectId=project_id, environmentId=env_id,
                              serviceId=None)["variables"].get(OWNER_VARIABLE)

    @staticmethod
    def _mark(env_id: str, props: dict[str, Any]) -> None:
        """Railway environments have no description: the marker is a shared variable (only a reference
        `${{shared.ACS_INFRA_OWNER}}` would show it to a service)."""
        client().mutate("VariableCollectionUpsert", input={
            "projectId": props["project_id"], "environmentId": env_id, "serviceId": None,
            "variables": {OWNER_VARIABLE: props["owner"]}, "replace": False, "skipDeploys": True})

    def _owned(self, env: dict[str, Any], props: dict[str, Any]) -> None:
        check_owned(env, props, "Name this stack's environment differently, or remove that environment "
                                "(if a run of this stack was killed right after creating it, it is empty).")

    @staticmethod
    def _find(project_id: str, name: str) -> dict[str, Any] | None:
        edges = client().query("EnvironmentFind", projectId=project_id)["environments"]["edges"]
        node = next((e["node"] for e in edges if e["node"]["name"] == name), None)
        return node and {**node, "projectId": project_id}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:
            live = snapshot.environment(id_)  # one read of the whole environment per run
            return live and {**_outs(live, self.inputs_of(props)), snapshot.INVENTORY: snapshot.inventory(id_)}
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        name = olds.get("name")
        if name != news["name"]:
            name = client().mutate("EnvironmentRename", id=id_, input={"name": news["name"]})["environmentRename"]["name"]
        if news.get("owner") and news.get("owner") != olds.get("owner"):  # marked by an older version: mark now
            self._mark(id_, {**news, "project_id": olds["project_id"]})
        return UpdateResult({**self.inputs_of(news), "name": name, "project_id": olds["project_id"],
                             "ephemeral": olds.get("ephemeral", False)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopt_id"):
            return  # adopted, not created: leave it to its owner (as a project adopted by id)
        ignore_missing(lambda: client().mutate("EnvironmentDelete", id=id_))


def check_owned(env: dict[str, Any], props: dict[str, Any], how: str) -> None:
    """An environment of this name that was there before the create is ours only with our marker."""
    owner = EnvironmentProvider._owner(env["id"], props["project_id"])
    if owner is None or owner != props.get("owner"):
        raise refuse("railway environment", props["name"], env["id"], owner and f"{MARKER}: {owner}",
                     props.get("owner"), how)


class Environment(Resource):
    """A Railway environment of a project (`ephemeral=True` for PR previews)."""

    name: Output[str]
    project_id: Output[str]
    ephemeral: Output[bool]

    def __init__(self, resource_name: str, *, project_id: Input[str], name: Input[str], ephemeral: Input[bool] = False,
                 source_environment_id: Input[str] | None = None, adopt_id: Input[str] | None = None,
                 owner: Input[str] | None = None, opts: ResourceOptions | None = None) -> None:
        super().__init__(EnvironmentProvider(), resource_name, {
            "project_id": project_id, "name": name, "ephemeral": ephemeral,
            "source_environment_id": source_environment_id, "adopt_id": adopt_id, "owner": owner}, opts)
