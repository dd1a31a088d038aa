"""Per-environment settings of a service (`serviceInstanceUpdate`): commands, healthcheck, replicas, region,
restart policy, sleep, cron.

Only the settings the program declares are managed. Absent means "leave Railway's value alone"; a setting
removed from the program is sent as an explicit `null`, which Railway takes as "unset".
"""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers import snapshot
from infra.providers.base import (CheckFailure, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult,
                                  client, ignore_missing)
from infra.railway.facts import REGIONS, RESTART_POLICIES

SETTINGS: dict[str, str] = {  # our property -> Railway's field
    "start_command": "startCommand", "build_command": "buildCommand", "pre_deploy_command": "preDeployCommand",
    "healthcheck_path": "healthcheckPath", "healthcheck_timeout": "healthcheckTimeout",
    "num_replicas": "numReplicas", "region": "region", "restart_policy_type": "restartPolicyType",
    "restart_policy_max_retries": "restartPolicyMaxRetries", "sleep_application": "sleepApplication",
    "cron_schedule": "cronSchedule",
}


def settings_failures(kind: str, s: dict[str, Any]) -> Iterator[CheckFailure]:
    replicas = s.get("num_replicas")
    if replicas is not None and not (1 <= int(replicas) <= 50):
        yield CheckFailure("num_replicas", f"{kind}: num_replicas {replicas} must be between 1 and 50")
    timeout = s.get("healthcheck_timeout")
    if timeout is not None and int(timeout) <= 0:
        yield CheckFailure("healthcheck_timeout", f"{kind}: healthcheck_timeout {timeout} must be > 0 seconds")
    path = s.get("healthcheck_path")
    if path is not None and not str(path).startswith("/"):
        yield CheckFailure("healthcheck_path", f"{kind}: healthcheck_path {path!r} must start with '/'")
    policy = s.get("restart_policy_type")
    if policy is not None and policy not in RESTART_POLICIES:
        yield CheckFailure("restart_policy_type", f"{kind}: restart_policy_type {policy!r} must be one of "
                                                  f"{', '.join(RESTART_POLICIES)}")
    region = s.get("region")
    if region is not None and region not in REGIONS:
        yield CheckFailure("region", f"{kind}: region {region!r} must be one of {', '.join(REGIONS)}")
    cron = s.get("cron_schedule")
    if cron and (len(str(cron)) < 9 or (replicas or 1) > 1):
        yield CheckFailure("cron_schedule", f"{kind}: cron_schedule needs a 5-field expression and one replica")


def _railway_input(props: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {SETTINGS[k]: props.get(k) for k in keys}


class ServiceSettingsProvider(RailwayProvider):
    kind = "railway service settings"
    fields = (Field("service_id", replaces=True), Field("environment_id", replaces=True),
              *(Field(k) for k in SETTINGS))
    required = ("service_id", "environment_id")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        return settings_failures(self.kind, news)

    @staticmethod
    def _id(props: dict[str, Any]) -> str:
        return f"{props['environment_id']}:{props['service_id']}"

    def _apply(self, props: dict[str, Any], keys: list[str]) -> None:
        if keys:
            client().mutate("ServiceInstanceUpdate", serviceId=props["service_id"],
                            environmentId=props["environment_id"], input=_railway_input(props, keys))

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props, [k for k in SETTINGS if props.get(k) is not None])
        return CreateResult(self._id(props), self.inputs_of(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:
            live = snapshot.instance(props["environment_id"], props["service_id"])
            if live is None:
                return None
            # Unmanaged settings stay None: Railway's defaults are not drift.
            return {k: live.get(v) if props.get(k) is not None else None for k, v in SETTINGS.items()}
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news, [k for k in SETTINGS if olds.get(k) != news.get(k)])  # None -> explicit null
        return UpdateResult(self.inputs_of(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        managed = [k for k in SETTINGS if props.get(k) is not None]
        if managed:  # hand the settings back to Railway's defaults
            ignore_missing(lambda: client().mutate(
                "ServiceInstanceUpdate", serviceId=props["service_id"], environmentId=props["environment_id"],
                input={SETTINGS[k]: None for k in managed}))


class ServiceSettings(Resource):
    """The declared settings of one service in one environment."""

    service_id: Output[str]
    environment_id: Output[str]

    def __init__(self, resource_name: str, *, service_id: Input[str], environment_id: Input[str],
                 opts: ResourceOptions | None = None, **settings: Input[Any]) -> None:
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise TypeError(f"unknown service settings: {', '.join(sorted(unknown))}; known: {', '.join(SETTINGS)}")
        super().__init__(ServiceSettingsProvider(), resource_name, {
            "service_id": service_id, "environment_id": environment_id,
            **{k: settings.get(k) for k in SETTINGS}}, opts)
