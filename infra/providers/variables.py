"""A variable collection managed as one: a service's variables, or the environment's shared set."""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers import variable_sets
from infra.providers import snapshot
from infra.providers.base import (CheckFailure, CheckResult, CreateResult, Field, RailwayProvider, ReadResult,
                                  UpdateResult, client, ignore_missing)


class VariablesProvider(RailwayProvider):
    kind = "railway variables"
    fields = (Field("project_id", replaces=True), Field("environment_id", replaces=True),
              Field("service_id", replaces=True), Field("variables", default={}), Field("secret_variables", default={}),
              Field("secret_names", default=[]), Field("skip_deploys", default=False))
    required = ("project_id", "environment_id")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        return variable_sets.validate(self.kind, news)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return super().check(olds, variable_sets.with_names(news))

    def _put(self, props: dict[str, Any], variables: dict[str, Any]) -> None:
        client().mutate("VariableCollectionUpsert", input={
            "projectId": props["project_id"], "environmentId": props["environment_id"],
            "serviceId": props.get("service_id"), "variables": variables, "replace": True,
            "skipDeploys": bool(props.get("skip_deploys"))})

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._put(props, variable_sets.merged(props))
        scope = props.get("service_id") or "shared"
        return CreateResult(f"{props['environment_id']}:{scope}:variables", self.inputs_of(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:  # from the run's snapshot of the environment
            live = snapshot.variables(props["environment_id"], props.get("service_id"))
            return None if live is None else variable_sets.split(live, props.get("secret_names") or [])
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._put(news, variable_sets.merged(news))
        return UpdateResult(self.inputs_of(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: self._put(props, {}))


class Variables(Resource):
    """`service_id=None` manages the environment's shared variables."""

    variables: Output[dict[str, str]]

    def __init__(self, resource_name: str, *, project_id: Input[str], environment_id: Input[str],
                 variables: Input[dict[str, Input[str]]] | None = None,
                 secret_variables: Input[dict[str, Input[str]]] | None = None, service_id: Input[str] | None = None,
                 skip_deploys: bool = False, opts: ResourceOptions | None = None) -> None:
        opts = ResourceOptions.merge(opts, ResourceOptions(additional_secret_outputs=["secret_variables"]))
        super().__init__(VariablesProvider(), resource_name, {
            "project_id": project_id, "environment_id": environment_id, "service_id": service_id,
            "variables": variables or {}, "secret_variables": Output.secret(secret_variables) if secret_variables
            else {}, "secret_names": None, "skip_deploys": skip_deploys}, opts)
