"""A Railway notification rule (project-wide): which events alert whom, at which severities. PR previews stay
quiet with `ephemeral_environments=False`."""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers import snapshot
from infra.providers.base import (CheckFailure, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult,
                                  client, create_once, ignore_missing)

SEVERITIES = ("INFO", "NOTICE", "WARNING", "CRITICAL")
CHANNEL_TYPES = ("webhook", "email", "slack")


def _outs(rule: dict[str, Any]) -> dict[str, Any]:
    return {"event_types": rule["eventTypes"], "severities": rule["severities"],
            "ephemeral_environments": rule.get("ephemeralEnvironments"),
            "channels": [c["config"] for c in rule.get("channels") or []]}


class NotificationRuleProvider(RailwayProvider):
    kind = "railway notification rule"
    fields = (Field("workspace_id", replaces=True), Field("project_id", replaces=True), Field("event_types"),
              Field("severities"), Field("channels"), Field("ephemeral_environments", default=False))
    required = ("workspace_id", "project_id", "event_types", "channels")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        bad = [s for s in news.get("severities") or [] if s not in SEVERITIES]
        if bad:
            yield CheckFailure("severities", f"{self.kind}: {bad} not allowed; use {', '.join(SEVERITIES)}")
        for channel in news.get("channels") or []:
            if not isinstance(channel, dict) or channel.get("type") not in CHANNEL_TYPES:
                yield CheckFailure("channels", f"{self.kind}: each channel needs a type in {', '.join(CHANNEL_TYPES)}")

    def _input(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"eventTypes": props["event_types"], "severities": props.get("severities") or [],
                "channelConfigs": props["channels"], "ephemeralEnvironments": bool(props.get("ephemeral_environments"))}

    def create(self, props: dict[str, Any]) -> CreateResult:
        payload = {**self._input(props), "workspaceId": props["workspace_id"], "projectId": props["project_id"]}
        # Find, then create: Railway never answers "already exists" for a rule, so a rule whose create answer was
        # lost (this run or a killed one) is only found by looking first. Railway gives a rule no name or
        # description to carry a marker; its marker is its place and purpose: a rule of this stack's own project
        # (only the stack that made the project declares rules) for exactly these event types.
        # One attempt per run: an answer that timed out may still be committed after our look, and without a
        # unique name a second create would not be refused. The run fails; the rerun's look finds the rule.
        rule = self._find(props) or create_once(
            lambda: client().mutate("NotificationRuleCreate", idempotent=False, input=payload)["notificationRuleCreate"],
            lambda: self._find(props), attempts=1)
        if _outs(rule) != _outs({**rule, **self._echo(props)}):  # adopted with other settings: make them ours
            rule = client().mutate("NotificationRuleUpdate", id=rule["id"], input=self._input(props))["notificationRuleUpdate"]
        return CreateResult(rule["id"], {**self.inputs_of(props), **_outs(rule)})

    @staticmethod
    def _echo(props: dict[str, Any]) -> dict[str, Any]:
        """The declared rule in Railway's shape, to compare an adopted one with."""
        return {"eventTypes": props["event_types"], "severities": props.get("severities") or [],
                "ephemeralEnvironments": bool(props.get("ephemeral_environments")),
                "channels": [{"config": c} for c in props["channels"]]}

    @staticmethod
    def _find(props: dict[str, Any]) -> dict[str, Any] | None:
        rules = client().query("NotificationRules", workspaceId=props["workspace_id"],
                               projectId=props["project_id"])["notificationRules"]
        return next((r for r in rules if sorted(r["eventTypes"]) == sorted(props["event_types"])), None)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:
            held = snapshot.project(props["project_id"], props["workspace_id"])  # shared with the project's read
            rules = held["notificationRules"] if held else client().query(
                "NotificationRules", workspaceId=props["workspace_id"], projectId=props["project_id"])["notificationRules"]
            rule = next((r for r in rules if r["id"] == id_), None)
            return rule and _outs(rule)
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        rule = client().mutate("NotificationRuleUpdate", id=id_, input=self._input(news))["notificationRuleUpdate"]
        return UpdateResult({**self.inputs_of(news), **_outs(rule)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: client().mutate("NotificationRuleDelete", id=id_))


class NotificationRule(Resource):
    severities: Output[list[str]]

    def __init__(self, resource_name: str, *, workspace_id: Input[str], project_id: Input[str],
                 event_types: Input[list[str]], severities: Input[list[str]], channels: Input[list[dict[str, str]]],
                 ephemeral_environments: bool = False, opts: ResourceOptions | None = None) -> None:
        super().__init__(NotificationRuleProvider(), resource_name, {
            "workspace_id": workspace_id, "project_id": project_id, "event_types": event_types,
            "severities": severities, "channels": channels, "ephemeral_environments": ephemeral_environments}, opts)
