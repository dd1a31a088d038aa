"""An `up` never deletes data as a side effect of a config change (README "What this tool never deletes").

Before an `up` of a stack whose state holds a Railway volume (a database's data), the engine's own preview says
which steps it would take; a delete or replacement of a resource holding a volume stops the run before its first
write. Asking the engine (instead of comparing config keys) catches every way there: `database.kind: sqlite`, a
removed `database` block, a change the provider can only make by replacing the resource."""
from __future__ import annotations

from typing import Any, Callable

import pulumi.automation as auto
from pulumi.automation.events import EngineEvent, OpType

from infra.config import ConfigError

DELETING = {OpType.DELETE, OpType.REPLACE, OpType.CREATE_REPLACEMENT, OpType.DELETE_REPLACED}


class DataLossRefused(ConfigError):
    """The declared change would delete a volume; the user has to say so (`--allow-data-loss`)."""


def volume_holders(stack: auto.Stack) -> set[str]:
    """URNs of the resources whose state records a Railway volume (Postgres, a volume of its own)."""
    resources = stack.export_stack().deployment.get("resources") or []
    return {r["urn"] for r in resources if (r.get("outputs") or {}).get("volume_id")}


def refuse_data_loss(stack: auto.Stack, preview: Callable[..., Any]) -> None:
    """Raises DataLossRefused when `preview` (the runner's preview of this stack) would delete or replace a
    resource holding a volume. A stack holding no volume costs one state export and no preview."""
    holders = volume_holders(stack)
    if not holders:
        return
    doomed: list[str] = []

    def seen(event: EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre and pre.metadata.op in DELETING and pre.metadata.urn in holders:
            doomed.append(f"{pre.metadata.urn.rsplit('::', 1)[-1]} ({pre.metadata.op.value})")

    preview(on_event=seen)
    if doomed:
        raise DataLossRefused(
            f"up {stack.name} would delete {', '.join(sorted(set(doomed)))}, holding a Railway volume with the "
            f"database's data (a change to acs:environment.database, or one Railway can only make by replacing "
            f"it). Nothing was changed. Undo the change, or take a backup (`acs-infra backup {stack.name}`) and "
            f"run `acs-infra up {stack.name} --allow-data-loss`")
