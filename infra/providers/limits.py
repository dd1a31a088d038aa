"""Resource limits of a service in an environment (`serviceInstanceLimitsUpdate`), memory in GB and vCPUs."""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers.base import (CheckFailure, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult,
                                  client, ignore_missing)

PLAN_CEILING = {"memory_gb": 8.0, "vcpus": 8.0}  # Hobby, per replica


class ServiceLimitsProvider(RailwayProvider):
    kind = "railway service limits"
    fields = (Field("service_id", replaces=True), Field("environment_id", replaces=True), Field("memory_gb"),
              Field("vcpus"))
    required = ("service_id", "environment_id")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        for key, ceiling in PLAN_CEILING.items():
            value = news.get(key)
            if value is not None and not (0 < float(value) <= ceiling):
                yield CheckFailure(key, f"{self.kind}: {key} {value} must be > 0 and at most {ceiling:g} (Hobby plan)")

    def _apply(self, props: dict[str, Any], memory: float | None, vcpus: float | None) -> None:
        client().mutate("ServiceInstanceLimitsUpdate", input={
            "serviceId": props["service_id"], "environmentId": props["environment_id"],
            "memoryGB": memory, "vCPUs": vcpus})

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props, props.get("memory_gb"), props.get("vcpus"))
        return CreateResult(f"{props['environment_id']}:{props['service_id']}:limits", self.inputs_of(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any]:
            live = client().query("ServiceInstanceLimitOverride", serviceId=props["service_id"],
                                  environmentId=props["environment_id"])["serviceInstanceLimitOverride"] or {}
            containers = live.get("containers") or {}
            memory = containers.get("memoryBytes")
            return {"memory_gb": round(memory / 1024 ** 3, 4) if memory else None, "vcpus": containers.get("cpu")}
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news, news.get("memory_gb"), news.get("vcpus"))
        return UpdateResult(self.inputs_of(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: self._apply(props, None, None))  # null removes the override


class ServiceLimits(Resource):
    memory_gb: Output[float | None]
    vcpus: Output[float | None]

    def __init__(self, resource_name: str, *, service_id: Input[str], environment_id: Input[str],
                 memory_gb: Input[float] | None = None, vcpus: Input[float] | None = None,
                 opts: ResourceOptions | None = None) -> None:
        super().__init__(ServiceLimitsProvider(), resource_name, {
            "service_id": service_id, "environment_id": environment_id, "memory_gb": memory_gb, "vcpus": vcpus}, opts)
