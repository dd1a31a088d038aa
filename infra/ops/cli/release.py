"""`acs-infra deploy | monitor | rollback | promote | history | status`: releases, what each stack runs and how
it got there."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape

from infra.config import ConfigError
from infra.ops.cli.common import STATE, app, describe, emit, engine_output, err, fail, guarded, out, root, seconds


@app.command("deploy")
@guarded
def deploy_cmd(stack: str, image: Optional[str] = typer.Option(
                   None, "--image", help="the app image to release, pinned: <repo>@sha256:<digest> or a commit-SHA tag"),
               commit: Optional[str] = typer.Option(None, "--commit", help="the git commit the image was built from"),
               auto_rollback: bool = typer.Option(False, "--auto-rollback",
                                                  help="roll back when the health gate fails (always for --image)"),
               health_timeout: float = typer.Option(120, min=0, help="seconds to wait for a healthy answer"),
               monitor_window: Optional[str] = typer.Option(None, "--monitor", help="then watch for this long"),
               monitor_interval: str = typer.Option("30s", help="time between monitor readings"),
               lock_timeout: float = typer.Option(600, min=0, help="seconds to wait for another run's lock (exit 3 after)"),
               report_path: Optional[Path] = typer.Option(None, "--report", help="monitor report (Markdown + SVG)")) -> None:
    """Release: pre-deployment backup (if anything changes), up, deploy, wait, health gate, rollback to the
    previous release when unhealthy (for --image, or with --auto-rollback); the record goes to `history`."""
    from infra import versions
    from infra.ops import release
    # `--image ""` is a given, empty image (an empty CI output), refused like `--commit ''`; never "no image"
    image, commit = (versions.check_image(image) if image is not None else None), versions.check_commit(commit)
    if monitor_window:  # a typo in the watch must not surface after the release went out
        window_seconds("--monitor", monitor_window), seconds("--monitor-interval", monitor_interval)
    report = release.deploy(stack, root(), auto_rollback=auto_rollback, health_timeout=health_timeout,
                            on_output=engine_output, on_status=lambda s: err.print(f"deployment: {s}"),
                            image=image, commit=commit)
    lines = [f"{stack}: {describe(report.changes)}" + (f" (image {report.image})" if report.image else "")]
    if report.backup:
        lines.append(f"pre-deployment backup: {report.backup['name']}")
    lines.append(f"health: {report.health}")
    if report.rolled_back:
        lines.append(f"rolled back {report.rolled_back['service']} to deployment {report.rolled_back['rolled_back_to']}"
                     + (f" ({report.release['rolled_back_to']})" if report.release and
                        report.release.get("rolled_back_to") else ""))
    if monitor_window and STATE["json"] and report.healthy:  # stdout carries one JSON document: the monitor's,
        # or the release's when it failed (the monitor never runs)
        err.print(json.dumps(report.as_dict(), default=str), markup=False)
    else:
        emit(report.as_dict(), "\n".join(lines))
    if not report.healthy:
        err.print(f"[red]deploy failed:[/red] {escape(str(report.error))}")
        raise typer.Exit(1)
    if monitor_window:
        _monitor(stack, monitor_window, monitor_interval, None, report_path, roll_back=True)  # the watch rolls back


MAX_WINDOW_S = 7 * 24 * 3600  # a rollout watch longer than a week is a typo (the seed watches 30 min and more)


def window_seconds(option: str, text: str) -> float:
    window = seconds(option, text)
    if window > MAX_WINDOW_S:
        raise ConfigError(f"{option}: {text} is longer than a rollout watch may run (at most 7d)")
    return window


@app.command("monitor")
@guarded
def monitor_cmd(stack: str, window: str = typer.Option("30m", help="how long to watch (e.g. 30m, 90s)"),
                interval: str = typer.Option("30s", help="time between readings"),
                service: Optional[str] = typer.Option(None, help="service (default: the public one)"),
                report: Optional[Path] = typer.Option(None, help="write a Markdown report (+ SVG chart) here"),
                no_rollback: bool = typer.Option(False, "--no-rollback", help="report a breach, do not roll back")) -> None:
    """Watch a rollout; on a threshold breach roll back and exit 1 naming the metric."""
    _monitor(stack, window, interval, service, report, not no_rollback)


def _monitor(stack: str, window: str, interval: str, service: str | None, report_path: Path | None,
             roll_back: bool) -> None:
    from infra.ops import monitor, release
    window_s, interval_s = window_seconds("--window", window), seconds("--interval", interval)
    if service == "":
        raise ConfigError("--service: give a service name, or leave the option out for the public service")
    cfg = release._config(stack, root())
    if cfg.alerts is None:
        raise ConfigError(f"stack {stack} declares no alerts (acs:environment.alerts): nothing to monitor against")
    name = service or cfg.public_service.name

    def tick(i: int, n: int, v: dict[str, float]) -> None:
        bar = "#" * i + "." * (n - i)
        err.print(f"[{bar}] {i}/{n}  err {v['error_rate'] * 100:.2f}%  p95 {v['response_time_ms']:.0f}ms  "
                  f"mem {v['memory'] * 100:.0f}%  cpu {v['cpu'] * 100:.0f}%", markup=False, highlight=False)

    result = monitor.monitor(release.target(stack, root()), name, cfg.alerts, window_s, interval_s,
                             roll_back=roll_back, on_tick=tick, root=root())
    if report_path:
        monitor.write_report(result, report_path)
    emit(result.as_dict(), monitor.markdown(result))
    if not result.stable:
        err.print(f"[red]breach:[/red] {escape(result.breach['message'])}" +
                  (f"; rolled back to {result.rolled_back['rolled_back_to']}" if result.rolled_back else ""))
        raise typer.Exit(1)


@app.command("rollback")
@guarded
def rollback_cmd(stack: str, service: Optional[str] = typer.Option(
        None, help="roll only this service back one deployment (default: the previous release's image)"),
                lock_timeout: float = typer.Option(600, min=0, help="seconds to wait for another run's lock (exit 3 after)"),
                health_timeout: float = typer.Option(120, min=0, help="seconds the health path may take to answer 200")) -> None:
    """Return to the previous release's image (pinned again, so a later `up` keeps it) and wait until it is
    live and healthy; without release records, or with --service, one deployment back (gated the same way)."""
    from infra.ops import automation as ops, budget, promotion
    if service == "":  # an empty name is a typo, not "no --service"
        raise ConfigError("--service: give a service name, or leave the option out for the previous release")
    # A rollback asked for here waits for (or stops on) the hourly budget like any write; the monitor's own
    # rollback after a breach does not wait: the client paces it on Railway's answers instead.
    ops.ensure_budget(stack, root(), engine_output, extra=budget.ROLLBACK_CALLS)
    def on_status(status: str) -> None:
        err.print(f"deployment: {status}")
    if service:
        done = promotion.step_back(stack, root(), service, on_status=on_status, health_timeout=health_timeout)
    else:
        done = promotion.roll_back_release(stack, root(), on_output=engine_output, on_status=on_status,
                                           health_timeout=health_timeout)
    emit(done, f"{stack}/{done['service']}: rolled back to {done.get('image') or done['rolled_back_to']}, live")


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
    rows = board.board(root(), check_drift, only=stacks)
    if STATE["json"]:
        out.print_json(json.dumps(rows, default=str))
    else:
        print(board.markdown(rows) if markdown else board.text(rows))


@app.command("promote")
@guarded
def promote_cmd(source: str, dest: str, dry_run: bool = typer.Option(False, "--dry-run", help="show, change nothing"),
                health_timeout: float = typer.Option(120, min=0, help="seconds to wait for a healthy answer in DEST"),
                lock_timeout: float = typer.Option(600, min=0, help="seconds to wait for another run's lock (exit 3 after)")) -> None:
    """Deploy to DEST the exact image SOURCE runs (by digest), with the configuration difference promotion implies;
    refused when the image is unhealthy in SOURCE or DEST would change anything the plan does not list."""
    from infra.ops import promotion
    if source == dest:
        raise ConfigError(f"promote {source} {dest}: SOURCE and DEST are the same stack; promote moves a release "
                          "from one stack to the next (e.g. `promote dev prod`)")
    plan = promotion.plan(source, dest, root())
    _print_plan(plan, source, dest)
    done = promotion.promote(source, dest, root(), dry_run=dry_run, on_output=engine_output,
                             on_status=lambda s: err.print(f"deployment: {s}"), health_timeout=health_timeout)
    if STATE["json"]:
        out.print_json(json.dumps(done, default=str))
    elif not dry_run:
        print(f"{dest}: runs {done['image']['to']} ({done['deploy']['health']})")
    if dry_run and not done["source_healthy"]:
        err.print(f"[yellow]would refuse:[/yellow] {escape(str(done['source_health']))}")
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
