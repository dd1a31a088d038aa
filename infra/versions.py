"""The app's version as data: pinned image references, the release a run asks for, and the records a stack
keeps in its outputs (`release`, `releases`).

The image digest comes from the build: CI pushes the image once per commit and passes `repo@sha256:<digest>`
(docker/build-push-action's `digest` output). Railway pulls a service's `source.image` as given; its schema
documents no field that resolves a tag to a digest (`Deployment.meta` is an untyped `DeploymentMeta` JSON
scalar), so the tool never relies on Railway resolving one: it pins the digest in the source itself.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from infra.config import ConfigError
from infra.config.images import check_image_ref

ENV = "ACS_RELEASE"  # how the CLI hands a run its release (the program reads it only for the named stack)
DIGEST = re.compile(r"^(?P<repo>[a-z0-9][a-z0-9._/:-]*[a-z0-9])@sha256:[0-9a-f]{64}$")
COMMIT_TAG = re.compile(r"^(?P<repo>[a-z0-9][a-z0-9._/:-]*[a-z0-9]):(?P<tag>[0-9a-f]{7,40})$")
COMMIT = re.compile(r"^[0-9a-f]{7,40}$")


def check_image(ref: str) -> str:
    """An immutable reference: `repo@sha256:<64 hex>`, or a tag that is a commit SHA (never moved)."""
    ref = ref.strip()
    if DIGEST.match(ref) or COMMIT_TAG.match(ref):
        return _registry_accepts(ref)
    if not ref:
        raise ConfigError("--image is empty; give the image to release, pinned: the digest the build printed "
                          "(<repo>@sha256:<64 hex>) or an immutable commit-SHA tag (<repo>:<7-40 hex>)")
    raise ConfigError(f"--image {ref!r}: not pinned; use the digest the build printed (<repo>@sha256:<64 hex>) "
                      "or an immutable commit-SHA tag (<repo>:<7-40 hex>), never a moving tag like :main")


def _registry_accepts(ref: str) -> str:
    try:
        return check_image_ref(ref)
    except ValueError as e:
        raise ConfigError(f"--image {e}") from None


def check_commit(sha: str | None) -> str | None:
    if sha is not None and not COMMIT.match(sha.strip()):
        raise ConfigError(f"--commit {sha!r}: a git commit SHA (7-40 hex characters)")
    return sha.strip() if sha else None


def commit_of(ref: str, commit: str | None) -> str | None:
    """The commit an image came from: given, or read from a commit-SHA tag."""
    match = COMMIT_TAG.match(ref)
    return commit or (match.group("tag") if match else None)


def resolve_commit(image: str, commit: str | None, records: list[dict[str, Any]]) -> str | None:
    """The commit a release of `image` records: the one given (in the form already recorded, when it is the same
    commit: a re-release then writes nothing), else the image's commit-SHA tag, else the commit the records hold."""
    recorded = next((r["commit"] for r in reversed(records) if r.get("image") == image and r.get("commit")), None)
    if commit and recorded and _same_commit(recorded, commit):
        return recorded
    return commit or commit_of(image, None) or recorded


def check_provenance(records: list[dict[str, Any]], current: dict[str, Any], image: str, commit: str | None) -> None:
    """A digest is built from one commit: an image already recorded with a commit is never credited to another."""
    known = [r for r in [*records, current] if r.get("image") == image and r.get("commit")]
    other = next((r["commit"] for r in reversed(known) if not _same_commit(r["commit"], commit)), None)
    if commit and other:
        raise ConfigError(f"--commit {commit}: {image} is recorded as built from commit {other}; an image comes "
                          f"from one commit (pass --commit {other}, or build and release the image of {commit})")


def _same_commit(a: str, b: str | None) -> bool:
    """Short and full SHAs of one commit are the same commit."""
    return b is None or a.startswith(b) or b.startswith(a)


def pinned(ref: str | None) -> bool:
    return bool(ref) and bool(DIGEST.match(ref or "") or COMMIT_TAG.match(ref or ""))


@dataclass
class Request:
    """What one engine run is asked to pin and record."""

    stack: str
    image: str | None = None
    commit: str | None = None
    record: dict[str, Any] | list[dict[str, Any]] | None = None  # several: each replaces the one with its id

    def env(self) -> dict[str, str]:
        return {ENV: json.dumps(self.__dict__)}


def requested(stack: str) -> Request:
    """The release the CLI handed this run, if it is for this stack (a stray variable never moves another)."""
    raw = json.loads(os.environ.get(ENV) or "{}")
    if raw.get("stack") != stack:
        return Request(stack)
    return Request(stack, raw.get("image"), raw.get("commit"), raw.get("record"))


def new_record(stack: str, image: str, commit: str | None, kind: str = "release") -> dict[str, Any]:
    return {"id": uuid.uuid4().hex[:12], "kind": kind, "stack": stack, "image": image, "commit": commit,
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "outcome": "in progress",
            "deployments": {}, "backup": None, "rolled_back_to": None, "reason": None}


OPEN = ("in progress", "rolling back")  # a record its run has not closed yet


def close_open(records: list[dict[str, Any]], outcome: str, reason: str) -> list[dict[str, Any]]:
    """The records whose run never closed them (killed, or still gating elsewhere), closed with `outcome`. A run
    still alive writes its own end over this by the record's id."""
    return [dict(r, outcome=outcome, reason=reason) for r in records if r.get("outcome") in OPEN]


def previous_good(records: list[dict[str, Any]], image: str | None) -> dict[str, Any] | None:
    """The newest healthy release of another image than `image`: what a rollback returns to."""
    return next((r for r in reversed(records) if r.get("outcome") == "healthy" and r.get("image") != image), None)
