"""Ownership markers and the create-once rule (issue 14 item 1), without the API."""
from __future__ import annotations

from typing import Any

import pytest

from infra.ownership import MARKER, NotOwnedError, backend_id, marker, owner_named_by
from infra.providers.base import create_once
from infra.railway.errors import AmbiguousWriteError, ValidationError


def test_backend_id_names_the_backend_not_how_to_reach_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://acs-state?endpoint=http://10.0.0.1:9000&region=eu")
    same = backend_id()
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://acs-state/?region=us")
    assert backend_id() == same
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://other-team-state")
    assert backend_id() != same
    assert "acs-state" not in same and len(same) == 12


def test_markers_name_their_owner() -> None:
    assert marker("organization/acs/prod@0123456789ab") == f"{MARKER}: organization/acs/prod@0123456789ab"
    assert owner_named_by(marker("organization/acs/prod@0123456789ab")) == "stack organization/acs/prod@0123456789ab"
    assert "older version" in owner_named_by(MARKER)
    assert "made by hand" in owner_named_by("our staging, by hand") and "made by hand" in owner_named_by(None)


def _already_exists() -> dict[str, Any]:
    raise ValidationError("Environment with name pr-7 already exists")


def test_an_object_there_before_the_create_is_adopted_only_when_owned() -> None:
    """Issue 14 item 1: "already exists" at the first attempt means someone made it before: `owned` decides."""
    found = {"id": "e1"}

    def not_ours(obj: dict[str, Any]) -> None:
        raise NotOwnedError(f"{obj['id']} is not ours")

    with pytest.raises(NotOwnedError, match="e1 is not ours"):
        create_once(_already_exists, lambda: found, owned=not_ours)
    assert create_once(_already_exists, lambda: found, owned=lambda obj: None) == found


def test_what_our_own_lost_create_made_is_adopted() -> None:
    """After an unanswered create of ours, "already exists" names what that create made: no ownership check."""
    calls = iter([AmbiguousWriteError("timed out"), None])
    looks = iter([None, {"id": "e1"}])

    def create() -> dict[str, Any]:
        error = next(calls)
        if error:
            raise error
        return _already_exists()

    def never(obj: dict[str, Any]) -> None:
        raise AssertionError("an object our own ambiguous create made needs no marker check")

    assert create_once(create, lambda: next(looks), owned=never) == {"id": "e1"}


def test_a_forks_own_volumes_are_those_its_record_says_it_copied() -> None:
    """Issue 14 B7: only the fork resource's record (`copied`, made when Railway forked dev) makes a volume
    instance in the preview its own; a volume id held in no such record (attached by hand later) is not."""
    from infra.ops.safety import fork_copies
    fork = {"urn": "urn:pulumi:pr-9::acs::pulumi-python:dynamic:Resource::pr-9-environment",
            "outputs": {"copied": {"volumes": {"vol-uploads": "svc-web", "vol-pg": "svc-pg"}, "services": {}}}}
    other = {"urn": "urn:pulumi:pr-9::acs::pulumi-python:dynamic:Resource::pr-9-shape",
             "outputs": {"copied": {"volumes": {"vol-by-hand": ""}}}}
    assert fork_copies({"resources": [other, fork]}) == {"vol-uploads", "vol-pg"}
    assert fork_copies({"resources": [other]}) == set()
    assert fork_copies({}) == set()
