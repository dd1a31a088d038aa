"""The last drift check as the status board keeps it: a stack tag under Pulumi Cloud's 256-character limit."""
from __future__ import annotations

import json

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
