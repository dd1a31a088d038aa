"""`acs-infra pr up | down | list | gc`: PR preview environments (stacks pr-<N>)."""
from __future__ import annotations

import json
from typing import Any, Optional

import typer
from rich.table import Table

from infra.config import ConfigError, parse_pr_number, parse_pr_numbers
from infra.ops import automation as ops, locks, preview_gc
from infra.ops.cli.common import (STATE, SubCommands, app, describe, emit, engine_error, engine_output, err, guarded,
                                  out, root, seconds)
from infra.railway import RailwayApiError, client_from_env

pr_app = typer.Typer(help="PR preview environments (stacks pr-<N>).", no_args_is_help=True, cls=SubCommands)
app.add_typer(pr_app, name="pr")


@pr_app.command("up")
@guarded
def pr_up(pr: str = typer.Argument(..., metavar="NUMBER"),
          image: Optional[str] = typer.Option(None, "--image", help="the PR's image, pinned (digest or commit tag)"),
          commit: Optional[str] = typer.Option(None, "--commit", help="the PR's head commit"),
          lock_timeout: float = typer.Option(600, min=0, help="seconds to wait for another run")) -> None:
    """Create or update the preview of PR <number> (with a new image: redeployed) and print its URL."""
    from infra import versions
    from infra.ops import safety
    number = parse_pr_number(pr)
    request = None
    if image is not None:  # `--image ""` is refused, never "no image" (the moving tag)
        ref = versions.check_image(image)
        request = versions.Request(f"pr-{number}", ref, versions.commit_of(ref, versions.check_commit(commit)))
    safety.check_refork(f"pr-{number}", root())
    result = ops.up(f"pr-{number}", root(), lock_timeout=lock_timeout, on_output=engine_output, expect_pr=True,
                    release=request)
    if request:
        from infra.ops import promotion
        result.outputs["deployments"] = promotion.redeploy_image(f"pr-{number}", root())
    emit(result.as_dict(), f"pr-{number}: {describe(result.changes)}\n{result.url}")


@pr_app.command("down")
@guarded
def pr_down(pr: str = typer.Argument(..., metavar="NUMBER"), lock_timeout: float = typer.Option(600, min=0)) -> None:
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
    limit = seconds("--max-age", max_age) / 3600 if max_age else None
    from infra.ops import safety
    removed, objects, going, kept, failed = [], [], [], [], []
    stacks = ops.pr_stacks(root())
    due = [(s, "closed" if keep is not None and s.number not in keep else "too old") for s in stacks
           if (keep is not None and s.number not in keep) or (limit is not None and (s.age_hours() or 0) > limit)]
    # a preview holding what its stack did not make is skipped and named; the others still go (the dry run the same)
    foreign = safety.previews_holding_foreign([s.name for s, _ in due], root())
    for s, reason in due:  # one verdict per preview: removed, kept or failed
        stale = locks.all_gone(locks.file_backend_holders(ops.PROJECT_NAME, s.name) or [])
        if s.name in foreign:
            kept.append({"stack": s.name, "reason": reason, "foreign": foreign[s.name]})
        elif stale:  # its destroy would stop at the killed run's lock: the dry run says so too
            failed.append({"stack": s.name, "reason": reason, "error": ops.killed_run_lock(s.name, stale[0]),
                           "locked": True})
        else:
            going.append((s, reason))
    for s, reason in going:  # the environment its state records: a killed run may have recorded no outputs
        env_id = safety.preview_environment(s.name, root()) or s.environment_id
        listed = preview_gc.environment_objects(client_from_env(), env_id) if env_id else []
        error = None if dry_run else _destroy(s.name)
        if error:  # e.g. a killed run's lock on a backend gc cannot read without taking it: the others still go
            failed.append({"stack": s.name, "reason": reason, **error})
        else:
            removed.append({"stack": s.name, "reason": reason})
            objects += listed
    orphans, orphan_objects, left, kept_envs = _orphan_environments(dry_run, keep, {s.environment_id for s in stacks})
    objects += orphan_objects
    emit({"removed_stacks": removed, "kept_stacks": kept, "failed_stacks": failed, "removed_environments": orphans,
          "objects": objects, "left_environments": left, "kept_environments": kept_envs, "dry_run": dry_run},
         f"removed {len(removed)} stack(s): {', '.join(r['stack'] for r in removed) or '-'}; "
         f"{len(orphans)} orphaned environment(s): {', '.join(o['name'] for o in orphans) or '-'}"
         + (" (dry run)" if dry_run else "") + preview_gc.describe(objects)
         + "".join(f"\n  left alone: {e['name']} (belongs to {e['owner']})" for e in left)
         + "".join(f"\n  failed: {f['stack']} ({f['reason']}): {f['error']}" for f in failed))
    for f in failed:
        err.print(f"failed {f['stack']} ({f['reason']}): {f['error']}", markup=False, highlight=False)
    if kept or kept_envs:
        _kept_needs_a_hand(kept, kept_envs, 3 if any(f["locked"] for f in failed) else 1 if failed else 2)
    if failed:
        raise typer.Exit(3 if any(f["locked"] for f in failed) else 1)


def _destroy(stack: str) -> dict[str, Any] | None:
    """Removes one preview stack; what went wrong, for the report, instead of stopping gc (adv15b N4)."""
    try:
        ops.destroy_and_remove(stack, root(), on_output=engine_output)
    except ops.LockTimeout as exc:
        return {"error": str(exc), "locked": True}
    except (ConfigError, RailwayApiError) as exc:
        return {"error": str(exc), "locked": False}
    except ops.auto.CommandError as exc:
        locked = "currently locked" in str(exc)
        return {"error": f"the stack is locked by another run; if none is running, `acs-infra recover {stack}` "
                         "releases it" if locked else engine_error(exc), "locked": locked}
    return None


def _kept_needs_a_hand(kept: list[dict[str, Any]], kept_envs: list[dict[str, Any]], code: int = 2) -> None:
    """Exit 2: gc did its work, but these previews stay until someone moves what no stack manages out of them
    (CI shows the nightly job failed, with the names, instead of a silent leftover)."""
    from infra.ops import safety
    for k in kept:
        err.print(f"kept {k['stack']} ({k['reason']}): removing it would also delete what no stack manages: "
                  f"{'; '.join(k['foreign'])}. {safety.way_out([k['stack']], root(), 'run `acs-infra pr gc` again')}",
                  markup=False, highlight=False)
    for e in kept_envs:
        err.print(f"kept orphaned environment {e['name']} ({e['id']}; its stack is gone): removing it would also "
                  f"delete what the tool did not make there: {'; '.join(e['foreign'])}. Move or remove by hand what "
                  "is named (keep a backup of any volume; never delete a service that also runs elsewhere, only its "
                  "instance there) and run `acs-infra pr gc` again.", markup=False, highlight=False)
    raise typer.Exit(code)


def _orphan_environments(dry_run: bool, keep: set[int] | None, recorded: set[str | None]) -> tuple[
        list[dict[str, str]], list[dict[str, Any]], list[dict[str, str]], list[dict[str, Any]]]:
    """Ephemeral environments in the dev project that a PR stack made, whose stack is gone and whose PR is not
    open (preview_gc), the objects that go with them, the ephemeral environments left alone, and the orphans
    kept because they hold what the tool did not make. Only the environments are deleted: services and volumes
    may live on in dev."""
    from infra.ops import safety
    project_id = ops.stack_output("dev", root(), "projectId") if ops.stack_exists("dev", root()) else None
    if not project_id:
        return [], [], [], []
    client = client_from_env()
    envs = [e for e in preview_gc.ephemeral_environments(client, project_id) if e["id"] not in recorded]
    marked, left = preview_gc.sort_orphans(client, project_id, envs, ops.PROJECT_NAME)
    # read after the markers (preview_gc.held_by_a_stack). A `pr up` of a PR not in --open that starts after this
    # read may still lose a leftover of its name under it: it fails and says to run it again, nothing else is lost
    stacks = {s.name for s in ops.workspace(root()).list_stacks()}
    # an environment named after an existing stack (e.g. the unmarked fork of its killed `pr up`) is that stack's
    # business: its verdict is the stack's, never a second one here (adv17 break 5)
    left = [e for e in left if e["name"] not in stacks]
    orphans, kept = [], []
    for env in marked:
        held = preview_gc.held_by_a_stack(env["name"], stacks, keep)
        if held and env["name"] not in stacks:  # a stack's own environment is not listed; an open PR's is
            left.append({"id": env["id"], "name": env["name"], "owner": held})
        elif not held:  # no state says what it made: only its copies of dev's objects may go with it (N1)
            foreign = safety.orphan_foreign(project_id, env["id"])
            (kept if foreign else orphans).append({"id": env["id"], "name": env["name"], "foreign": foreign})
    objects = [o for env in orphans for o in preview_gc.environment_objects(client, env["id"])]
    for env in orphans if not dry_run else []:
        preview_gc.remove_environment(client, env["id"])
    return [{"id": e["id"], "name": e["name"]} for e in orphans], objects, left, kept


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
