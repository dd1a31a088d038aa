"""Resource limits of a service in an environment (`serviceInstanceLimitsUpdate`).

Memory is carried in the unit Railway stores (`limitOverride.containers.memoryBytes`, whole bytes) from the
component to the state and back from a read; it becomes GB only inside the mutation's input (`memoryGB: Float`),
so a declared size reads back equal and never shows as drift. vCPUs are Railway's `cpu`, a float, unchanged.
"""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers import snapshot
from infra.providers.base import (CheckFailure, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult,
                                  client, ignore_missing)

GIB = 1024 ** 3
PLAN_CEILING = {"memory_bytes": 8 * GIB, "vcpus": 8.0}  # Hobby, per replica


def memory_gb(memory_bytes: int | None) -> float | None:
    """The mutation's unit; exact for any whole number of bytes below 2**53 (a float holds n / 2**30 exactly).
    Assumed, not documented by Railway: `memoryGB` means GiB and is stored as memoryGB * 2**30 `memoryBytes`
    (the emulator does the same)."""
    return None if memory_bytes is None else int(memory_bytes) / GIB


class ServiceLimitsProvider(RailwayProvider):
    kind = "railway service limits"
    fields = (Field("service_id", replaces=True), Field("environment_id", replaces=True), Field("memory_bytes"),
              Field("vcpus"))
    required = ("service_id", "environment_id")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        memory = news.get("memory_bytes")
        if memory is not None and (not float(memory).is_integer() or not 0 < memory <= PLAN_CEILING["memory_bytes"]):
            yield CheckFailure("memory_bytes", f"{self.kind}: memory_bytes {memory} must be a whole number of bytes, "
                                               f"> 0 and at most {PLAN_CEILING['memory_bytes']} (8 GB, Hobby plan)")
        vcpus = news.get("vcpus")
        if vcpus is not None and not 0 < float(vcpus) <= PLAN_CEILING["vcpus"]:
            yield CheckFailure("vcpus", f"{self.kind}: vcpus {vcpus} must be > 0 and at most 8 (Hobby plan)")

    def _apply(self, props: dict[str, Any], memory_bytes: int | None, vcpus: float | None) -> None:
        client().mutate("ServiceInstanceLimitsUpdate", input={
            "serviceId": props["service_id"], "environmentId": props["environment_id"],
            "memoryGB": memory_gb(memory_bytes), "vCPUs": vcpus})

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props, props.get("memory_bytes"), props.get("vcpus"))
        return CreateResult(f"{props['environment_id']}:{props['service_id']}:limits", self.inputs_of(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:
            if snapshot.instance(props["environment_id"], props["service_id"]) is None:
                return None
            # The environment config's deploy.limitOverride is what serviceInstanceLimitOverride answers.
            deploy = snapshot.service_config(props["environment_id"], props["service_id"]).get("deploy") or {}
            live = deploy.get("limitOverride") or {}
            containers = live.get("containers") or {}
            return {"memory_bytes": containers.get("memoryBytes"), "vcpus": containers.get("cpu")}
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news, news.get("memory_bytes"), news.get("vcpus"))
        return UpdateResult(self.inputs_of(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: self._apply(props, None, None))  # null removes the override


class ServiceLimits(Resource):
    memory_bytes: Output[int | None]
    vcpus: Output[float | None]

    def __init__(self, resource_name: str, *, service_id: Input[str], environment_id: Input[str],
                 memory_bytes: Input[int] | None = None, vcpus: Input[float] | None = None,
                 opts: ResourceOptions | None = None) -> None:
        super().__init__(ServiceLimitsProvider(), resource_name, {
            "service_id": service_id, "environment_id": environment_id, "memory_bytes": memory_bytes,
            "vcpus": vcpus}, opts)
