"""`acs-infra promote`, `history` and `status`: what each stack runs and how it got there."""
from __future__ import annotations

import json
from typing import Any

import typer

from infra.ops.cli import STATE, app, emit, engine_output, err, fail, guarded, out, root


@app.command("history")
@guarded
def history_cmd(stack: str) -> None:
    """The stack's releases, oldest first: image, commit, time, deployments, backup, outcome, rolled back to."""
    from infra.ops import automation as ops
    records = ops.release_history(stack, root())
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
    from infra.ops import board
    rows = [r for r in board.board(root(), check_drift) if not stacks or r["stack"] in stacks]
    if STATE["json"]:
        out.print_json(json.dumps(rows, default=str))
    else:
        print(board.markdown(rows) if markdown else board.text(rows))


@app.command("promote")
@guarded
def promote_cmd(source: str, dest: str, dry_run: bool = typer.Option(False, "--dry-run", help="show, change nothing"),
                health_timeout: float = typer.Option(120, help="seconds to wait for a healthy answer in DEST")) -> None:
    """Deploy to DEST the exact image SOURCE runs (by digest), with the configuration difference promotion implies;
    refused when the image is unhealthy in SOURCE or DEST would change anything the plan does not list."""
    from infra.ops import promotion
    plan = promotion.plan(source, dest, root())
    _print_plan(plan, source, dest)
    done = promotion.promote(source, dest, root(), dry_run=dry_run, on_output=engine_output,
                             on_status=lambda s: err.print(f"deployment: {s}"), health_timeout=health_timeout)
    if STATE["json"]:
        out.print_json(json.dumps(done, default=str))
    elif not dry_run:
        print(f"{dest}: runs {done['image']['to']} ({done['deploy']['health']})")
    if dry_run and not done["source_healthy"]:
        err.print(f"[yellow]would refuse:[/yellow] {done['source_health']}")
    if not dry_run and not done["deploy"]["healthy"]:
        fail(f"promotion to {dest} failed: {done['deploy']['error']}")


def _print_plan(plan: dict[str, Any], source: str, dest: str) -> None:
    if STATE["json"]:
        return
    print(f"{source} -> {dest}: {len(plan['differences'])} difference(s)")
    for d in plan["differences"]:
        print(f"  {d['what']}: {source}={d[source]!r} {dest}={d[dest]!r}")
    img = plan["image"]
    print(f"image: {dest} runs {img['from']}, {source} runs {img['to']}" + ("" if img["changes"] else " (same)"))
    print(f"{dest} would change:" if plan["changes"] or img["changes"] else f"{dest} would not change")
    if img["changes"]:
        print(f"  image: {img['from']!r} -> {img['to']!r}")
    for c in plan["changes"]:
        print(f"  {c['change']}" + (f": {c['from']!r} -> {c['to']!r}" if "to" in c else ""))
