"""Notification rules of a workspace (alerts on deployment events, sent to webhook, email or Slack channels)."""
from __future__ import annotations

from typing import Any

from railway_emulator.errors import BadRequest, NotAuthorized, NotFound
from railway_emulator.models.records import NotificationRule, Token, new_id, now_iso
from railway_emulator.models.store import Store


class NotificationRulesBackend(Store):
    """notificationRuleCreate/Update/Delete, notificationRules."""

    def _rule_scope(self, tok: Token, workspace_id: str, project_id: str | None) -> None:
        if tok.is_project_token or workspace_id != tok.workspaceId:
            raise NotAuthorized()
        if project_id:
            self.project(tok, project_id)

    @staticmethod
    def _channels(configs: list[Any], workspace_id: str) -> list[dict[str, Any]]:
        for config in configs:
            if not isinstance(config, dict) or config.get("type") not in ("webhook", "email", "slack"):
                raise BadRequest("Each channel config needs a type: webhook, email or slack")
        return [{"id": new_id(), "config": c, "workspaceId": workspace_id, "createdAt": now_iso(),
                 "updatedAt": now_iso()} for c in configs]

    def notification_rule_create(self, tok: Token, inp: dict[str, Any]) -> NotificationRule:
        self._rule_scope(tok, inp["workspaceId"], inp.get("projectId"))
        if not inp["eventTypes"]:
            raise BadRequest("A notification rule needs at least one event type")
        rule = NotificationRule(id=new_id(), workspaceId=inp["workspaceId"], projectId=inp.get("projectId"),
                                eventTypes=list(inp["eventTypes"]), severities=list(inp.get("severities") or []),
                                channels=self._channels(inp["channelConfigs"], inp["workspaceId"]),
                                ephemeralEnvironments=inp.get("ephemeralEnvironments"))
        self.tables["notification_rules"][rule.id] = rule
        return rule

    def notification_rule(self, tok: Token, id: str) -> NotificationRule:
        rule = self.tables["notification_rules"].get(id)
        if rule is None:
            raise NotFound("Notification rule")
        self._rule_scope(tok, rule.workspaceId, None)
        return rule

    def notification_rule_update(self, tok: Token, id: str, inp: dict[str, Any]) -> NotificationRule:
        rule = self.notification_rule(tok, id)
        for key in ("eventTypes", "severities", "ephemeralEnvironments"):
            if key in inp and inp[key] is not None:
                setattr(rule, key, inp[key])
        if inp.get("channelConfigs") is not None:
            rule.channels = self._channels(inp["channelConfigs"], rule.workspaceId)
        rule.updatedAt = now_iso()
        return rule

    def notification_rule_delete(self, tok: Token, id: str) -> bool:
        self.notification_rule(tok, id)
        del self.tables["notification_rules"][id]
        return True

    def notification_rules(self, tok: Token, workspace_id: str,
                           project_id: str | None = None) -> list[NotificationRule]:
        self._rule_scope(tok, workspace_id, project_id)
        return [r for r in self.tables["notification_rules"].values()
                if r.workspaceId == workspace_id and (project_id is None or r.projectId == project_id)]
