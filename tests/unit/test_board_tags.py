"""adv27: what a tag or a stack output set by hand can make the board say. It is shown, never obeyed: no crash,
no forged line in text or markdown, no NaN in JSON, no Python repr."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from infra.ops import board

ROW = {"stack": "dev", "stage": "dev", "image": "ghcr.io/acme/acs:1", "pinned": True, "commit": "abc",
       "since": "2026-11-28T07:00:00Z", "url": "https://acs-dev.up.railway.app", "deployment_status": "SUCCESS",
       "healthy": True, "health": "200", "drift": None}


def tag(monkeypatch: pytest.MonkeyPatch, raw: str) -> dict | None:
    class Workspace:
        def list_tags(self, name: str) -> dict[str, str]:
            return {board.DRIFT_TAG: raw}
    monkeypatch.setattr(board.ops, "workspace", lambda root: Workspace())
    return board.last_drift("dev", None)


@pytest.mark.parametrize("raw", ["[" * 2000 + "]" * 2000, "[" * 100_000,
                                 '{"at":"x","status":"drifted","changed":' + "[" * 500 + "]" * 500 + "}",
                                 '{"at":"x","status":"drifted","error":' + "[" * 500 + "]" * 500 + "}"])
def test_a_deeply_nested_tag_never_crashes_the_board(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """B1: nested 1,000 deep, json.loads raised RecursionError and the board died for every stack; 500 deep in a
    field, the text and markdown renderings did."""
    drift = tag(monkeypatch, raw)
    row = {**ROW, "drift": board.superseded(drift, datetime(2026, 11, 28, 7, 10))}
    for rendered in (board.text([row]), board.markdown([row]), json.dumps([row], allow_nan=False)):
        assert "stack=dev" in rendered or "| dev |" in rendered or '"dev"' in rendered


def test_nan_and_infinity_in_a_tag_never_reach_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """B12: `--json status` printed NaN and Infinity from a tag: GitHub's fromJSON rejects the document."""
    drift = tag(monkeypatch, '{"at":NaN,"status":"clean","changed":[1e400,-Infinity]}')
    json.dumps(drift, allow_nan=False)
    drift = tag(monkeypatch, '{"at":"2026-11-28T07:20:00Z","status":"drifted","changed":[1e400, {"a": 1}],'
                             '"more": 1.5, "updated_after": null, "extra": "x"}')
    assert drift == {"at": "2026-11-28T07:20:00Z", "status": "drifted", "changed": ["Infinity", "?"]}, drift


@pytest.mark.parametrize("tagged", [{"at": "2026-11-28T07:20:00Z", "status": None}, {"at": None},
                                    {"status": {"a": 1}}, {"status": True}])
def test_a_missing_or_odd_status_is_no_python_repr(tagged: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """B13: `status: null` showed `drift=None at ...`, an object `{'a': 1}`, true `True`."""
    cell = board._drift_cell(tag(monkeypatch, json.dumps(tagged)))
    assert "None" not in cell and "{'" not in cell and "True" not in cell, cell


FORGED = "x\nstack=prod  image=x drift=clean"


@pytest.mark.parametrize("key", ["image", "commit", "since", "url", "health"])
def test_a_stack_output_cannot_forge_a_board_line(key: str) -> None:
    """B3: the outputs' fields (image, commit, since, url) were printed raw: a newline forged a prod line."""
    row = {**ROW, key: FORGED + "\x1b[31m\r", **({"healthy": None} if key == "health" else {})}
    for rendered in (board.text([row]), board.markdown([row])):
        lines = rendered.splitlines()
        assert not any(line.startswith("stack=prod") for line in lines) and "\x1b" not in rendered \
            and "\r" not in rendered, rendered


def test_markdown_shows_html_and_links_as_text() -> None:
    """B4: a tag's `<br>stack=prod drift=clean<br>`, an image and a link rendered in a GitHub step summary."""
    drift = {"at": "2026-11-28T07:20:00Z", "status": "drifted",
             "changed": ["<br>stack=prod drift=clean<br>", "<img src=x onerror=alert(1)>", "[link](https://e.x)",
                         "**bold**", "`code`"]}
    table = board.markdown([{**ROW, "drift": drift}])
    for raw in ("<br>", "<img", "[link]", "**bold**", "`code`"):
        assert raw not in table, table
    assert "&lt;br&gt;stack=prod drift=clean&lt;br&gt;" in table and "\\[link\\](https://e.x)" in table, table


def test_a_row_without_a_token_still_shows_the_last_check(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """B13: with no Railway token the row said `drift=not checked`, though the tag needs no token to read."""
    from infra.railway import RailwayApiError
    tag(monkeypatch, json.dumps({"at": "2026-11-28T07:20:00Z", "status": "drifted", "changed": ["web.memory"]}))

    def no_token(stack, root, check_drift):
        raise RailwayApiError("no Railway token: set RAILWAY_API_TOKEN")
    monkeypatch.setattr(board, "row", no_token)
    row = board._row_or_error("dev", tmp_path, False)
    assert row["drift"]["status"] == "drifted" and "no Railway token" in row["health"], row
    assert "drifted at 2026-11-28T07:20:00Z: web.memory" in board.text([row])
