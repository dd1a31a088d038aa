"""The last drift check as the status board keeps it: a stack tag under Pulumi Cloud's 256-character limit."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from infra.ops import board
from infra.ops.drift_report import FieldDrift, ResourceDrift, StackDrift

KILLED = ("stack dev was left by a killed run (1 pending operation(s) in its checkpoint and no run "
          "holds its lock); `acs-infra recover dev` finishes or clears what it left")


def test_a_failed_check_says_why_on_the_board() -> None:
    """Session 19 (noticed): `status --drift` after a killed run said "check failed" and nothing else; drift itself
    named `acs-infra recover dev`. The board keeps that reason."""
    summary = json.loads(board.encode(board.drift_summary(StackDrift("dev", error=KILLED))))
    assert summary["status"] == "check failed" and summary["error"] == KILLED
    cell = board._drift_cell(summary)
    assert cell.startswith(f"check failed at {summary['at']}") and "`acs-infra recover dev`" in cell, cell


def test_the_tag_stays_under_the_limit() -> None:
    many = StackDrift("dev", resources=[ResourceDrift(f"service-{i}", "changed", [FieldDrift("memory", 1, 2)])
                                        for i in range(40)])
    text = board.encode(board.drift_summary(many))
    summary = json.loads(text)
    assert len(text) <= board.TAG_MAX and summary["more"] == 40 - len(summary["changed"]) > 0, text
    long = board.encode(board.drift_summary(StackDrift("dev", error="x" * 1000)))
    assert len(long) <= board.TAG_MAX and json.loads(long)["error"].endswith("x..."), long
    assert board.encode(board.drift_summary(StackDrift("dev"))).find("error") == -1


def test_a_check_older_than_the_last_update_is_marked_on_the_board() -> None:
    """adv24 B1: a "drifted" found before an `up` made the change stayed on the board after it. The board says the
    stack was updated after the check; a check after the update, or a tag set by hand, is shown as it is."""
    from datetime import datetime
    summary = json.loads(board.encode(board.drift_summary(StackDrift("dev"))))
    checked = datetime.fromisoformat(summary["at"].replace("Z", ""))  # naive UTC, as `list_stacks()` gives it
    later = board.superseded(summary, checked + timedelta(milliseconds=5))
    assert later["updated_after"] > later["at"], later
    cell = board._drift_cell(later)
    assert cell.startswith(f"clean at {summary['at']}") and "not checked since the stack's last update at" in cell, cell
    assert board.superseded(summary, checked - timedelta(seconds=1)) == summary
    assert board.superseded(None, checked) is None and board.superseded(summary, None) == summary


@pytest.mark.parametrize("at", [None, "yesterday", "12345", "2026-11-28T03:26:00", "2026-11-28", "2099-01-01T00:00:00Z"])
def test_a_check_of_unknown_or_future_time_is_never_shown_as_newer(at: object) -> None:
    """adv26 N1/N5: a hand-set tag whose time had no offset (or was a date) crashed the whole board comparing
    naive and aware times; one whose time was missing, not a time, or in the future showed "clean" after a later
    update. None of them proves the check came after the update."""
    from datetime import datetime
    tag = {"status": "clean", **({"at": at} if at is not None else {})}
    marked = board.superseded(tag, datetime(2026, 11, 28, 4, 0, 0))
    assert marked["updated_after"] == "2026-11-28T04:00:00.000Z", marked


def test_a_hand_set_tag_is_shown_not_obeyed() -> None:
    """adv26 N2/N5: a tag that was a JSON list crashed the text board; control characters in a tag's fields wrote
    colour codes and a fake `stack=prod drift=clean` line into it."""
    cell = board._drift_cell({"status": "clean\n\x1b[32mstack=prod drift=clean", "at": "x", "changed": "a\nb"})
    assert "\n" not in cell and "\x1b" not in cell, cell
    assert board._drift_cell({"status": "x", "changed": [1, 2]}).startswith("x at ?: 1, 2")


@pytest.mark.parametrize("raw", ["[1,2]", "7", "not json"])
def test_a_tag_that_is_not_an_object_is_shown_as_its_text(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    class Workspace:
        def list_tags(self, name: str) -> dict[str, str]:
            return {board.DRIFT_TAG: raw}
    monkeypatch.setattr(board.ops, "workspace", lambda root: Workspace())
    assert board.last_drift("dev", None) == {"status": raw}
