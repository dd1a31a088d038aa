"""`acs-infra history` and `acs-infra status`: what each stack runs and how it got there."""
from __future__ import annotations

import json

import typer

from infra.cli import STATE, app, emit, guarded, out, root


@app.command("history")
@guarded
def history_cmd(stack: str) -> None:
    """The stack's releases, oldest first: image, commit, time, deployments, backup, outcome, rolled back to."""
    from infra import versions
    records = versions.history(stack, root())
    lines = [f"{r['time']}  {r.get('kind', 'release'):<8} {r['image']}  commit {r.get('commit') or '-'}  "
             f"{r['outcome']}" + (f" -> rolled back to {r['rolled_back_to']}" if r.get("rolled_back_to") else "")
             + (f"  ({r['reason']})" if r.get("reason") else "") for r in records]
    emit({"stack": stack, "releases": records}, "\n".join(lines) or f"{stack}: no releases recorded")


@app.command("status")
@guarded
def status_cmd(markdown: bool = typer.Option(False, "--markdown", help="a table for a step summary or PR comment"),
               stacks: list[str] = typer.Option([], "--stack", help="only these stacks (repeatable)"),
               check_drift: bool = typer.Option(False, "--drift", help="check drift now (one refreshing preview "
                                                                          "per stack)")) -> None:
    """The promotion board: every stack's image and commit, since when, deployment status, health, URL, drift."""
    from infra import board
    rows = [r for r in board.board(root(), check_drift) if not stacks or r["stack"] in stacks]
    if STATE["json"]:
        out.print_json(json.dumps(rows, default=str))
    else:
        print(board.markdown(rows) if markdown else board.text(rows))
