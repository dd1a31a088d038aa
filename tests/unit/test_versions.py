"""Pinned image references and the Release resource's rules: a run without an image keeps the pinned one."""
from __future__ import annotations

import pytest

from infra.config import ConfigError
from infra.providers.release import KEEP_RECORDS, ReleaseProvider, merge_records
from infra.versions import check_image, close_open, commit_of, previous_good

DIGEST = "ghcr.io/acs-team/acs@sha256:" + "0" * 64


@pytest.mark.parametrize("ref", [DIGEST, "ghcr.io/acs-team/acs:1a2b3c4", "registry:5000/team/acs:" + "f" * 40])
def test_pinned_references(ref: str) -> None:
    assert check_image(ref) == ref


@pytest.mark.parametrize("ref", ["ghcr.io/acs-team/acs:main", "ghcr.io/acs-team/acs", "acs:latest",
                                 "ghcr.io/acs-team/acs@sha256:abc", "ghcr.io/acs-team/acs:1a2b3c4 ; rm"])
def test_moving_or_malformed_references_are_refused(ref: str) -> None:
    with pytest.raises(ConfigError, match="not pinned"):
        check_image(ref)


@pytest.mark.parametrize("ref", ["ghcr.io/" + "a" * 3000 + "/acs@sha256:" + "0" * 64,
                                 "ghcr.io/acs-team/" + "a" * 240 + ":1a2b3c4",
                                 "ghcr.io/acs-team//acs@sha256:" + "0" * 64, "ghcr.io/acs-team/acs-@sha256:" + "0" * 64])
def test_references_no_registry_accepts_are_refused(ref: str) -> None:
    """The OCI distribution spec caps `<registry>/<name>` at 255 characters and names path components
    `[a-z0-9]+(?:[._-][a-z0-9]+)*`: a name outside those fails at Railway's pull, after a backup and a deployment."""
    with pytest.raises(ConfigError, match="255|not an image reference|not pinned"):
        check_image(ref)


def test_commit_from_a_commit_tag() -> None:
    assert commit_of("ghcr.io/acs-team/acs:1a2b3c4", None) == "1a2b3c4"
    assert commit_of(DIGEST, None) is None and commit_of(DIGEST, "abcdef0") == "abcdef0"


def check(olds: dict, news: dict) -> dict:
    return ReleaseProvider().check(olds, news).inputs


def test_a_run_without_an_image_keeps_the_pinned_one() -> None:
    first = check({}, {"declared_image": "acs:main", "image": DIGEST, "commit": "abc1234", "record": {"id": "1"}})
    assert (first["image"], first["commit"], first["records"]) == (DIGEST, "abc1234", [{"id": "1"}])
    plain = check(first, {"declared_image": "acs:main", "image": None, "commit": None, "record": None})
    assert plain == first, "a plain up changes nothing: no diff, no write"


def test_a_deliberate_edit_of_the_declared_image_takes_over() -> None:
    pinned = check({}, {"declared_image": "acs:main", "image": DIGEST})
    edited = check(pinned, {"declared_image": "acs:next", "image": None})
    assert (edited["image"], edited["commit"]) == ("acs:next", None) and edited["since"]


def test_records_merge_by_id_and_stay_bounded() -> None:
    state = check({}, {"declared_image": "x", "image": DIGEST, "record": {"id": "r", "outcome": "in progress"}})
    state = check(state, {"declared_image": "x", "image": DIGEST, "record": {"id": "r", "outcome": "healthy"}})
    assert state["records"] == [{"id": "r", "outcome": "healthy"}]
    for i in range(KEEP_RECORDS + 5):
        state = check(state, {"declared_image": "x", "record": {"id": str(i)}})
    assert len(state["records"]) == KEEP_RECORDS and state["records"][-1]["id"] == str(KEEP_RECORDS + 4)


def test_previous_good_skips_failed_and_current() -> None:
    records = [{"image": "a", "outcome": "healthy"}, {"image": "b", "outcome": "rolled back"},
               {"image": "c", "outcome": "healthy"}]
    assert previous_good(records, "c")["image"] == "a"


def test_only_open_records_are_closed() -> None:
    records = [{"id": "a", "outcome": "healthy"}, {"id": "b", "outcome": "in progress"},
               {"id": "c", "outcome": "rolling back"}, {"id": "d", "outcome": "rolled back"}]
    closed = close_open(records, "interrupted", "killed")
    assert [(r["id"], r["outcome"], r["reason"]) for r in closed] == [("b", "interrupted", "killed"),
                                                                      ("c", "interrupted", "killed")]
    assert records[1]["outcome"] == "in progress", "the records read are left as they are"


def test_a_record_written_again_keeps_its_place() -> None:
    """adv16b N6: history is oldest first (by start); a record closed later (rolled back by a later `rollback`)
    stays where it started instead of moving behind newer releases."""
    a, b, c = ({"id": i, "outcome": "healthy"} for i in "abc")
    merged = merge_records([a, b, c], [dict(a, outcome="rolled back"), {"id": "d", "outcome": "healthy"}])
    assert [(r["id"], r["outcome"]) for r in merged] == [("a", "rolled back"), ("b", "healthy"), ("c", "healthy"),
                                                         ("d", "healthy")]
