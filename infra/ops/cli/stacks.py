"""`acs-infra up | recover | destroy | backup`: a stack's life."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import typer

from infra.config import ConfigError, check_config
from infra.config.stacks import load_stack_file
from infra.ops import automation as ops, recovery, stack_reads
from infra.ops.cli.common import app, describe, emit, engine_output, fail, guarded, root, seconds


@app.command("up")
@guarded
def up_cmd(stack: str, lock_timeout: float = typer.Option(600, min=0, help="seconds to wait for another run"),
           allow_data_loss: bool = typer.Option(False, "--allow-data-loss", help="let a config change delete a "
                                                "database's volume (refused otherwise)")) -> None:
    """Create or update a stack (dev, prod or pr-<N>)."""
    result = ops.up(stack, root(), lock_timeout=lock_timeout, on_output=engine_output,
                    allow_data_loss=allow_data_loss)
    emit(result.as_dict(), f"{stack}: {describe(result.changes)} -> {result.url}")


@app.command("recover")
@guarded
def recover_cmd(stack: str, stale_after: Optional[str] = typer.Option(
        None, "--stale-after", help="also release a lock older than this (e.g. 120m) whose run may be on another "
                                    "machine")) -> None:
    """After a killed run: release the stale lock (only a dead run's, or one older than --stale-after), clear
    pending creates, converge (adopting half-made objects)."""
    _readable_stack_file(stack)
    result = recovery.recover(stack, root(), on_output=engine_output,
                              stale_after=seconds("--stale-after", stale_after) if stale_after else None)
    if result.action == "destroyed":  # the killed run was removing the preview: recover finished that
        emit(result.as_dict(), f"{stack}: the killed removal is finished: destroyed and removed")
    else:
        emit(result.as_dict(), f"{stack}: recovered ({describe(result.changes)}) -> {result.url}")


@app.command("destroy")
@guarded
def destroy_cmd(stack: str, with_dependents: bool = typer.Option(
        False, "--with-dependents", help="first destroy the stacks that live in this stack's project (dev's PR "
                                         "previews)")) -> None:
    """Destroy a stack's resources; refused when it holds protected data (prod), when other stacks live in its
    project (unless --with-dependents) and when it would take along anything no stack manages."""
    from infra.ops import safety
    _checked_stack_file(stack)
    _refuse_protected(stack)
    if not ops.stack_exists(stack, root()) and not ops.PR_STACK.match(stack) \
            and not (root() / f"Pulumi.{stack}.yaml").exists():  # a typo (`destroy prdo`) is not "absent" (adv18 4)
        raise ConfigError(f"no stack named {stack} in this backend and no Pulumi.{stack}.yaml in {root()}: nothing "
                          "to destroy (`pulumi stack ls` lists the stacks there are)")
    deps = safety.check_destroy(stack, root(), with_dependents) if ops.stack_exists(stack, root()) else []
    for name in deps:
        _refuse_protected(name)
    for name in deps:  # they go first: `pr list` keeps telling the truth
        ops.destroy_and_remove(name, root(), on_output=engine_output)
    result = ops.destroy_and_remove(stack, root(), on_output=engine_output)
    emit({**result.as_dict(), "dependents_destroyed": deps},
         f"{stack}: {result.action}" + (f" (after {', '.join(deps)})" if deps else ""))


def _readable_stack_file(stack: str) -> None:
    """A stack file that is not YAML is named with its line before any engine call (the engine's own words were
    "getting stack configuration: ..."; adv22 minor 2). Its content is not checked: destroy works from the state."""
    if (root() / f"Pulumi.{stack}.yaml").exists():
        load_stack_file(stack, root())


def _checked_stack_file(stack: str) -> None:
    """`destroy` refuses a stack file `up` would refuse (a value YAML reads two ways, a plain-text secret), naming
    the key, before any call: a bad stack config is never acted on (adv24 B2). A preview's file is only read: its
    configuration is dev's, and a broken dev file must not keep `pr down` from removing a preview."""
    if ops.PR_STACK.match(stack) or not (root() / f"Pulumi.{stack}.yaml").exists():
        _readable_stack_file(stack)
    else:
        check_config(stack, root(), secrets_needed=False)


def _refuse_protected(stack: str) -> None:
    protected = _protected_resources(stack)
    if protected:
        fail(f"{stack} holds protected data ({', '.join(protected)}); nothing was deleted. To delete it on purpose: "
             f"take a backup (acs-infra backup {stack} --label final), then "
             f"`pulumi state unprotect --all --stack {stack}` and `pulumi destroy --stack {stack}`.")


def _protected_resources(stack: str) -> list[str]:
    if not ops.stack_exists(stack, root()):
        return []
    state = stack_reads.state(ops.select(stack, root(), create=False))
    return [r["urn"].split("::")[-1] for r in state.get("resources") or [] if r.get("protect")]


@app.command("backup")
@guarded
def backup_cmd(stack: str, label: Optional[str] = typer.Option(None, help="backup name (default: manual-<time>)")) -> None:
    """Take a labelled backup of the stack's database volume and wait for it."""
    from infra.config import check_backup_label
    from infra.ops import release
    name = check_backup_label(label) if label is not None else f"manual-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    made = release.backup(release.target(stack, root()), name)
    emit({"stack": stack, "backup": made}, f"{stack}: backup {made['name']} ({made['id']}) complete")
