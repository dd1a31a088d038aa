"""`acs-infra`: the command line CI uses. Text for people, `--json` for machines; engine output goes to stderr.

Exit codes: 0 success, 1 failure, 2 drift found (drift), 3 another run holds the stack.
"""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from infra.ops import automation as ops, preview_gc
from infra.config import ConfigError, parse_pr_number, parse_pr_numbers
from infra.railway import RailwayApiError, client_from_env
from infra.ops.release import ReleaseError

app = typer.Typer(help="ACS infrastructure on Railway: stacks, PR previews, drift.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
pr_app = typer.Typer(help="PR preview environments (stacks pr-<N>).", no_args_is_help=True)
app.add_typer(pr_app, name="pr")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
STATE: dict[str, Any] = {"json": False, "root": None}


@app.callback()
def main_options(json_output: bool = typer.Option(False, "--json", help="machine-readable output on stdout"),
                 project_dir: Optional[Path] = typer.Option(None, "--project-dir", help="the Pulumi project")) -> None:
    STATE["json"], STATE["root"] = json_output, project_dir


def root() -> Path:
    return ops.project_dir(str(STATE["root"]) if STATE["root"] else None)


def engine_output(line: str) -> None:
    sys.stderr.write(line if line.endswith("\n") else line + "\n")


def emit(payload: dict[str, Any], text: str) -> None:
    if STATE["json"]:
        out.print_json(json.dumps(payload, default=str))
    else:
        out.print(text)


def fail(message: str, code: int = 1) -> None:
    if STATE["json"]:
        out.print_json(json.dumps({"error": message}))
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def guarded(fn: Any) -> Any:
    """Turns the known failures into a message and an exit code, never a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ops.LockTimeout as exc:
            fail(str(exc), 3)
        except (ConfigError, RailwayApiError, ReleaseError) as exc:
            fail(str(exc))
        except ops.auto.CommandError as exc:
            if "currently locked" in str(exc):  # the backend's own lock: another run, or a killed one
                fail(f"the stack is locked by another run; if none is running (a killed run left its lock), "
                     f"release it with `acs-infra recover <stack>`", 3)
            if re.search(r"failed to load checkpoint|error: EOF$", str(exc).strip(), re.M):  # a run killed mid-write
                fail("the stack's state file was left half-written by a killed run; `acs-infra recover <stack>` "
                     "repairs it from the newest intact copy", 3)
            fail(_engine_error(exc))
    return wrapper


def _engine_error(exc: Exception) -> str:
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if (line.strip().startswith(("error:", "stderr:"))
             or "error" in line.lower()) and "Traceback (most recent call last)" not in line]
    return "pulumi failed: " + (" | ".join(lines[-4:]) if lines else text[-800:])


# ---- stacks -----------------------------------------------------------------------------------------------
@app.command("up")
@guarded
def up_cmd(stack: str, lock_timeout: float = typer.Option(600, help="seconds to wait for another run")) -> None:
    """Create or update a stack (dev, prod or pr-<N>)."""
    result = ops.up(stack, root(), lock_timeout=lock_timeout, on_output=engine_output)
    emit(result.as_dict(), f"{stack}: {_describe(result.changes)} -> {result.url}")


@app.command("recover")
@guarded
def recover_cmd(stack: str) -> None:
    """After a killed run: release the stale lock, clear pending creates, converge (adopting half-made objects)."""
    result = ops.recover(stack, root(), on_output=engine_output)
    emit(result.as_dict(), f"{stack}: recovered ({_describe(result.changes)}) -> {result.url}")


@app.command("destroy")
@guarded
def destroy_cmd(stack: str, with_dependents: bool = typer.Option(
        False, "--with-dependents", help="first destroy the stacks that live in this stack's project (dev's PR "
                                         "previews)")) -> None:
    """Destroy a stack's resources; refused when it holds protected data (prod), when other stacks live in its
    project (unless --with-dependents) and when it would take along anything no stack manages."""
    from infra.ops import safety
    _refuse_protected(stack)
    deps = safety.check_destroy(stack, root(), with_dependents) if ops.stack_exists(stack, root()) else []
    for name in deps:
        _refuse_protected(name)
    for name in deps:  # they go first: `pr list` keeps telling the truth
        ops.destroy_and_remove(name, root(), on_output=engine_output)
    result = ops.destroy_and_remove(stack, root(), on_output=engine_output)
    emit({**result.as_dict(), "dependents_destroyed": deps},
         f"{stack}: {result.action}" + (f" (after {', '.join(deps)})" if deps else ""))


def _refuse_protected(stack: str) -> None:
    protected = _protected_resources(stack)
    if protected:
        fail(f"{stack} holds protected data ({', '.join(protected)}); nothing was deleted. To delete it on purpose: "
             f"take a backup (acs-infra backup {stack} --label final), then "
             f"`pulumi state unprotect --all --stack {stack}` and `pulumi destroy --stack {stack}`.")


def _protected_resources(stack: str) -> list[str]:
    if not ops.stack_exists(stack, root()):
        return []
    state = ops.select(stack, root(), create=False).export_stack().deployment or {}
    return [r["urn"].split("::")[-1] for r in state.get("resources") or [] if r.get("protect")]


@app.command("backup")
@guarded
def backup_cmd(stack: str, label: Optional[str] = typer.Option(None, help="backup name (default: manual-<time>)")) -> None:
    """Take a labelled backup of the stack's database volume and wait for it."""
    from infra.ops import release
    name = label or f"manual-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    made = release.backup(release.target(stack, root()), name)
    emit({"stack": stack, "backup": made}, f"{stack}: backup {made['name']} ({made['id']}) complete")


@app.command("deploy")
@guarded
def deploy_cmd(stack: str, image: Optional[str] = typer.Option(
                   None, "--image", help="the app image to release, pinned: <repo>@sha256:<digest> or a commit-SHA tag"),
               commit: Optional[str] = typer.Option(None, "--commit", help="the git commit the image was built from"),
               auto_rollback: bool = typer.Option(False, "--auto-rollback",
                                                  help="roll back when the health gate fails (always for --image)"),
               health_timeout: float = typer.Option(120, help="seconds to wait for a healthy answer"),
               monitor_window: Optional[str] = typer.Option(None, "--monitor", help="then watch for this long"),
               monitor_interval: str = typer.Option("30s", help="time between monitor readings"),
               report_path: Optional[Path] = typer.Option(None, "--report", help="monitor report (Markdown + SVG)")) -> None:
    """Release: pre-deployment backup (if anything changes), up, deploy, wait, health gate, rollback to the
    previous release when unhealthy (for --image, or with --auto-rollback); the record goes to `history`."""
    from infra import versions
    from infra.ops import release
    image, commit = (versions.check_image(image) if image else None), versions.check_commit(commit)
    if monitor_window:  # a typo in the watch must not surface after the release went out
        _seconds("--monitor", monitor_window), _seconds("--monitor-interval", monitor_interval)
    report = release.deploy(stack, root(), auto_rollback=auto_rollback, health_timeout=health_timeout,
                            on_output=engine_output, on_status=lambda s: err.print(f"deployment: {s}"),
                            image=image, commit=commit)
    lines = [f"{stack}: {_describe(report.changes)}" + (f" (image {report.image})" if report.image else "")]
    if report.backup:
        lines.append(f"pre-deployment backup: {report.backup['name']}")
    lines.append(f"health: {report.health}")
    if report.rolled_back:
        lines.append(f"rolled back {report.rolled_back['service']} to deployment {report.rolled_back['rolled_back_to']}"
                     + (f" ({report.release['rolled_back_to']})" if report.release and
                        report.release.get("rolled_back_to") else ""))
    if monitor_window and STATE["json"]:  # stdout carries one JSON document: the monitor's
        err.print(json.dumps(report.as_dict(), default=str))
    else:
        emit(report.as_dict(), "\n".join(lines))
    if not report.healthy:
        err.print(f"[red]deploy failed:[/red] {report.error}")
        raise typer.Exit(1)
    if monitor_window:
        _monitor(stack, monitor_window, monitor_interval, None, report_path, roll_back=True)  # the watch rolls back


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
    window_s, interval_s = _seconds("--window", window), _seconds("--interval", interval)
    cfg = release._config(stack, root())
    if cfg.alerts is None:
        raise ConfigError(f"stack {stack} declares no alerts (acs:environment.alerts): nothing to monitor against")
    name = service or cfg.public_service.name

    def tick(i: int, n: int, v: dict[str, float]) -> None:
        bar = "#" * i + "." * (n - i)
        err.print(f"[{bar}] {i}/{n}  err {v['error_rate'] * 100:.2f}%  p95 {v['response_time_ms']:.0f}ms  "
                  f"mem {v['memory'] * 100:.0f}%  cpu {v['cpu'] * 100:.0f}%", markup=False, highlight=False)

    result = monitor.monitor(release.target(stack, root()), name, cfg.alerts, window_s, interval_s,
                             roll_back=roll_back, on_tick=tick)
    if report_path:
        monitor.write_report(result, report_path)
    emit(result.as_dict(), monitor.markdown(result))
    if not result.stable:
        err.print(f"[red]breach:[/red] {result.breach['message']}" +
                  (f"; rolled back to {result.rolled_back['rolled_back_to']}" if result.rolled_back else ""))
        raise typer.Exit(1)


@app.command("rollback")
@guarded
def rollback_cmd(stack: str, service: Optional[str] = typer.Option(
        None, help="roll only this service back one deployment (default: the previous release's image)")) -> None:
    """Return to the previous release's image (pinned again, so a later `up` keeps it) and wait until it is
    live; without release records, or with --service, one deployment back."""
    from infra.ops import promotion, release
    if service:
        done = {"stack": stack, **release.rollback(release.target(stack, root()), service)}
    else:
        done = promotion.roll_back_release(stack, root(), on_output=engine_output,
                                           on_status=lambda s: err.print(f"deployment: {s}"))
    emit(done, f"{stack}/{done['service']}: rolled back to {done.get('image') or done['rolled_back_to']}, live")


# ---- PR previews ------------------------------------------------------------------------------------------
@pr_app.command("up")
@guarded
def pr_up(pr: str = typer.Argument(..., metavar="NUMBER"),
          image: Optional[str] = typer.Option(None, "--image", help="the PR's image, pinned (digest or commit tag)"),
          commit: Optional[str] = typer.Option(None, "--commit", help="the PR's head commit"),
          lock_timeout: float = typer.Option(600, help="seconds to wait for another run")) -> None:
    """Create or update the preview of PR <number> (with a new image: redeployed) and print its URL."""
    from infra import versions
    number = parse_pr_number(pr)
    request = None
    if image:
        ref = versions.check_image(image)
        request = versions.Request(f"pr-{number}", ref, versions.commit_of(ref, versions.check_commit(commit)))
    result = ops.up(f"pr-{number}", root(), lock_timeout=lock_timeout, on_output=engine_output, expect_pr=True,
                    release=request)
    if request:
        from infra.ops import promotion
        result.outputs["deployments"] = promotion.redeploy_image(f"pr-{number}", root())
    emit(result.as_dict(), f"pr-{number}: {_describe(result.changes)}\n{result.url}")


@pr_app.command("down")
@guarded
def pr_down(pr: str = typer.Argument(..., metavar="NUMBER"), lock_timeout: float = typer.Option(600)) -> None:
    """Destroy the preview of PR <number> and remove its stack (nothing to do is fine)."""
    from infra.ops import safety
    number = parse_pr_number(pr)
    safety.check_previews([f"pr-{number}"], root())
    result = ops.destroy_and_remove(f"pr-{number}", root(), lock_timeout=lock_timeout, on_output=engine_output)
    message = f"pr-{number}: no preview" if result.action == "absent" else f"pr-{number}: destroyed and removed"
    emit(result.as_dict(), message)


@pr_app.command("list")
@guarded
def pr_list() -> None:
    """Preview stacks with their age and URL."""
    stacks = ops.pr_stacks(root())
    rows = [{"stack": s.name, "pr": s.number, "age_hours": _round(s.age_hours()), "url": s.url,
             "environment_id": s.environment_id} for s in stacks]
    if STATE["json"]:
        out.print_json(json.dumps(rows))
        return
    table = Table("stack", "age", "url")
    for s in stacks:
        age = s.age_hours()
        table.add_row(s.name, "-" if age is None else f"{age:.1f}h", s.url or "-")
    out.print(table)


@pr_app.command("gc")
@guarded
def pr_gc(open_prs: Optional[str] = typer.Option(None, "--open", help="comma-separated open PR numbers"),
          max_age: Optional[str] = typer.Option(None, "--max-age", help="remove previews older than this (36h, 7d)"),
          dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """Remove previews of closed PRs or older than --max-age, and ephemeral Railway environments no stack owns."""
    if open_prs is None and max_age is None:
        raise ConfigError("pr gc needs --open and/or --max-age")
    keep = parse_pr_numbers(open_prs, "--open") if open_prs is not None else None
    limit = ops.parse_duration(max_age) if max_age else None
    from infra.ops import safety
    removed, objects, going = [], [], []
    for s in ops.pr_stacks(root()):
        closed = keep is not None and s.number not in keep
        stale = limit is not None and (s.age_hours() or 0) > limit
        if closed or stale:
            removed.append({"stack": s.name, "reason": "closed" if closed else "too old"})
            going.append(s)
    safety.check_previews([s.name for s in going], root())  # the dry run refuses as the real run would
    for s in going:
        objects += preview_gc.environment_objects(client_from_env(), s.environment_id) if s.environment_id else []
        if not dry_run:
            ops.destroy_and_remove(s.name, root(), on_output=engine_output)
    orphans, orphan_objects, left = _orphan_environments(dry_run)
    objects += orphan_objects
    emit({"removed_stacks": removed, "removed_environments": orphans, "objects": objects,
          "left_environments": left, "dry_run": dry_run},
         f"removed {len(removed)} stack(s): {', '.join(r['stack'] for r in removed) or '-'}; "
         f"{len(orphans)} orphaned environment(s): {', '.join(o['name'] for o in orphans) or '-'}"
         + (" (dry run)" if dry_run else "") + preview_gc.describe(objects)
         + "".join(f"\n  left alone: {e['name']} (belongs to {e['owner']})" for e in left))


def _orphan_environments(dry_run: bool) -> tuple[list[dict[str, str]], list[dict[str, Any]], list[dict[str, str]]]:
    """Ephemeral environments in the dev project that a PR stack made and no PR stack holds (e.g. a killed
    `pr up`), the objects that go with them, and the ephemeral environments left alone (not made by a PR stack).
    Only the environments are deleted: services and volumes may live on in dev."""
    project_id = ops.stack_output("dev", root(), "projectId") if ops.stack_exists("dev", root()) else None
    if not project_id:
        return [], [], []
    owned = {s.environment_id for s in ops.pr_stacks(root())}
    client = client_from_env()
    envs = client.query("EnvironmentFind", projectId=project_id, isEphemeral=True)["environments"]["edges"]
    unheld = [e["node"] for e in envs if e["node"]["id"] not in owned]
    orphans, left = preview_gc.sort_orphans(client, project_id, unheld, ops.PROJECT_NAME)
    objects = [o for env in orphans for o in preview_gc.environment_objects(client, env["id"])]
    for env in orphans if not dry_run else []:
        preview_gc.remove_environment(client, env["id"])
    return [{"id": e["id"], "name": e["name"]} for e in orphans], objects, left


@app.command("drift")
@guarded
def drift_cmd(stacks: Optional[list[str]] = typer.Argument(None, help="stacks to check (default: dev and prod)"),
              all_stacks: bool = typer.Option(False, "--all", help="every stack, PR previews included"),
              markdown: bool = typer.Option(False, "--markdown", help="Markdown for a step summary or issue"),
              fix: bool = typer.Option(False, "--fix", help="restore declared values, re-create what is missing "
                                                            "(never deletes)"),
              remove_unmanaged: bool = typer.Option(False, "--remove-unmanaged",
                                                    help="also remove unmanaged services without data and domains "
                                                         "(never a volume or database; not on protected stacks)")) -> None:
    """Find out-of-band changes, field by field. Exit 0 clean, 2 drift, 1 the check failed."""
    from infra.ops import drift
    names = [s.name for s in ops.workspace(root()).list_stacks()] if all_stacks else (stacks or ["dev", "prod"])
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=4) as pool:  # each check is a separate engine run
        results = list(pool.map(lambda name: drift.check_stack(name, root(), fix=fix,
                                                               remove_unmanaged_objects=remove_unmanaged), names))
    if STATE["json"]:
        out.print_json(json.dumps([r.as_dict() for r in results], default=str))
    elif markdown:
        print(drift.markdown_report(results))
    else:
        print(drift.text_report(results))
    raise typer.Exit(drift.exit_code(results))


def _seconds(option: str, text: str) -> float:
    from infra.ops import monitor
    try:
        return monitor.parse_window(text)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _describe(changes: dict[str, int]) -> str:
    moved = {k: v for k, v in changes.items() if k != "same"}
    return ", ".join(f"{v} {k}" for k, v in sorted(moved.items())) or "no changes"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def normalise_argv(argv: list[str]) -> list[str]:
    """`--json` is accepted anywhere before `--`, for every command: moved in front of the subcommand."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--json" not in argv[:end]:
        return argv
    return ["--json"] + [a for i, a in enumerate(argv) if not (a == "--json" and i < end)]


from infra.ops import cli_release  # noqa: E402,F401  (registers promote, history and status)


def main() -> None:
    app(args=normalise_argv(sys.argv[1:]), prog_name="acs-infra")


if __name__ == "__main__":
    main()
