"""The last drift check as the status board keeps it: a stack tag under Pulumi Cloud's 256-character limit."""
from __future__ import annotations

import json
from datetime import timedelta

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
    assert cell.startswith(f"clean at {summary['at']}") and "updated after this check" in cell, cell
    assert board.superseded(summary, checked - timedelta(seconds=1)) == summary
    assert board.superseded({"status": "by hand"}, checked) == {"status": "by hand"}
    assert board.superseded({"at": "yesterday", "status": "x"}, checked) == {"at": "yesterday", "status": "x"}
    assert board.superseded(None, checked) is None and board.superseded(summary, None) == summary
