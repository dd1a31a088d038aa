"""Backup schedule of a volume instance (DAILY / WEEKLY / MONTHLY)."""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers import snapshot
from infra.providers.base import (CheckFailure, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult,
                                  client, ignore_missing)

KINDS = ("DAILY", "WEEKLY", "MONTHLY")


class BackupScheduleProvider(RailwayProvider):
    kind = "railway backup schedule"
    fields = (Field("volume_instance_id", replaces=True), Field("kinds"))
    required = ("volume_instance_id", "kinds")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        bad = [k for k in news.get("kinds") or [] if k not in KINDS]
        if bad:
            yield CheckFailure("kinds", f"{self.kind}: {', '.join(bad)} not allowed; use {', '.join(KINDS)}")

    def _apply(self, vi: str, kinds: list[str]) -> None:
        client().mutate("BackupScheduleUpdate", volumeInstanceId=vi, kinds=sorted(set(kinds)))

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props["volume_instance_id"], props["kinds"])
        return CreateResult(f"{props['volume_instance_id']}:backups", {**self.inputs_of(props),
                                                                       "kinds": sorted(set(props["kinds"]))})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any]:  # from the environment's snapshot when the run hinted this volume instance
            vi = props["volume_instance_id"]
            kinds = snapshot.backup_kinds(vi)
            if kinds is None:
                kinds = sorted(s["kind"] for s in client().query(
                    "BackupScheduleList", volumeInstanceId=vi)["volumeInstanceBackupScheduleList"])
            return {"kinds": kinds}
        return self.read_or_gone(id_, props, fetch)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]):
        news = {**news, "kinds": sorted(set(news.get("kinds") or []))}
        return super().diff(id_, olds, news)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news["volume_instance_id"], news["kinds"])
        return UpdateResult({**self.inputs_of(news), "kinds": sorted(set(news["kinds"]))})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: self._apply(props["volume_instance_id"], []))


class BackupSchedule(Resource):
    kinds: Output[list[str]]

    def __init__(self, resource_name: str, *, volume_instance_id: Input[str], kinds: Input[list[str]],
                 opts: ResourceOptions | None = None) -> None:
        super().__init__(BackupScheduleProvider(), resource_name, {
            "volume_instance_id": volume_instance_id, "kinds": kinds}, opts)
