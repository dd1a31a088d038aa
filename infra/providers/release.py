"""The app version a stack runs, and its release records, kept in the stack's own state (no Railway call).

Every CI runner that reads the stack sees them: the image (pinned by digest or an immutable tag), the commit,
since when, and the list of releases with their outcome. A run that names no image keeps the pinned one, so a
plain `up` never undoes a release or a rollback; the declared `source.image` of the stack file is only the
image of a stack that has had no release yet (or a deliberate edit of it, which then takes over).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers.base import CheckResult, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult

KEEP_RECORDS = 50  # the newest releases kept in the state; older ones are in the backend's checkpoint history


def merge_records(records: list[dict[str, Any]],
                  record: dict[str, Any] | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A record replaces the one with its id, in its place (a release is written when it starts and again when it
    ends: the list stays ordered by start); one run may write several (a rollback also marks the release it left)."""
    merged = list(records)
    for one in (record if isinstance(record, list) else [record] if record else []):
        at = next((i for i, r in enumerate(merged) if r.get("id") == one.get("id")), None)
        if at is None:
            merged.append(one)
        else:
            merged[at] = one
    return merged[-KEEP_RECORDS:]


class ReleaseProvider(RailwayProvider):
    kind = "release"
    fields = (Field("declared_image"), Field("image"), Field("commit"), Field("since"), Field("records", default=[]))

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = dict(news)
        declared_kept = olds.get("declared_image") == news.get("declared_image")
        if news.get("image"):
            image, commit = news["image"], news.get("commit")
        elif olds.get("image") and declared_kept:  # no release in this run: the pinned version stays
            image, commit = olds["image"], olds.get("commit")
        else:
            image, commit = news.get("declared_image"), None
        same = image == olds.get("image") and commit == olds.get("commit")
        inputs.update(image=image, commit=commit,
                      since=olds.get("since") if same and olds.get("since") else _now(),
                      records=merge_records(olds.get("records") or [], news.get("record")))
        inputs.pop("record", None)
        return CheckResult(inputs, [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult("release", self.inputs_of(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        outs = self.inputs_of(props)
        return ReadResult(id_, outs, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self.inputs_of(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        return None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Release(Resource):
    """The version of the app this stack runs, and its release records."""

    image: Output[str]
    commit: Output[str | None]
    since: Output[str]
    records: Output[list[dict[str, Any]]]

    def __init__(self, resource_name: str, *, declared_image: Input[str] | None, image: str | None = None,
                 commit: str | None = None, record: dict[str, Any] | list[dict[str, Any]] | None = None,
                 opts: ResourceOptions | None = None) -> None:
        super().__init__(ReleaseProvider(), resource_name, {
            "declared_image": declared_image, "image": image, "commit": commit, "record": record,
            "since": None, "records": None}, opts)
