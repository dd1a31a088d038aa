"""A PR preview's secrets (issue 14, adversarial report 2, B3 and B4): only ones the tool generated for the preview
or CI gave (`ACS_PREVIEW_<NAME>`), never another stack's, and one set per preview whichever clone runs it.

Per secret, the first that applies: CI's `ACS_PREVIEW_<NAME>`; the set the stack recorded (its secret output
`previewSecrets`, written by its last successful update: the stack's record wins over a clone's own generated
file); the clone's file, only for a stack that existed before this run and only when no value equals one of
another stack's secrets; else a new random value. Values are compared decrypted, in this process; no message
holds one.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pulumi.automation as auto
from infra.config import PR_STACK, ConfigError
from infra.ops import stack_reads
from infra.ops.project import PROJECT_NAME

PREVIEW_SECRETS = "previewSecrets"  # a PR stack's secret output: its preview secrets, for any runner to reuse


def choose(stack: auto.Stack, names: list[str], trust_file: bool) -> dict[str, str]:
    """The preview's secret values (see the module docstring)."""
    held = {k.split(":", 1)[1]: v.value for k, v in stack.get_all_config().items() if k.startswith("acs:")}
    recorded = recorded_secrets(stack)
    chosen, from_file = {}, {}
    for name in names:
        given = os.environ.get(f"ACS_PREVIEW_{name}")
        if given:
            chosen[name] = given
        elif name in recorded:
            chosen[name] = recorded[name]
        elif trust_file and held.get(name):
            chosen[name] = from_file[name] = held[name]
        else:
            chosen[name] = secrets.token_urlsafe(32)
    if from_file:
        refuse_other_stacks_values(stack, from_file)
    return chosen


def apply(stack: auto.Stack, chosen: dict[str, str]) -> list[str]:
    """Writes the values that differ from the clone's file (a disagreeing generated file is replaced)."""
    held = stack.get_all_config()
    changed = [n for n, v in chosen.items() if getattr(held.get(f"{PROJECT_NAME}:{n}"), "value", None) != v]
    if changed:  # one engine call for all of them: each call derives the passphrase's key again (about 1 s)
        stack.set_all_config({f"{PROJECT_NAME}:{n}": auto.ConfigValue(value=chosen[n], secret=True) for n in changed})
    return changed


def recorded_secrets(stack: auto.Stack) -> dict[str, str]:
    """The preview secrets the stack recorded as its secret output, {} before its first update."""
    try:
        held = stack_reads.shown_outputs(stack).get(PREVIEW_SECRETS)
    except auto.CommandError:  # a stack with no update yet
        return {}
    return dict(held) if isinstance(held, dict) else {}


def refuse_other_stacks_values(stack: auto.Stack, values: dict[str, str]) -> None:
    """A preview file's value equal to a secret of another (non-preview) stack of this backend is refused, naming
    the key and that stack. A stack whose file this passphrase cannot decrypt is skipped: its ciphertexts cannot
    be in the preview's file either (the salt check refuses copies)."""
    root = Path(stack.workspace.work_dir)
    for summary in stack.workspace.list_stacks():
        other = summary.name
        if PR_STACK.match(other) or not (root / f"Pulumi.{other}.yaml").exists():
            continue
        theirs = _decrypted_secrets(stack.workspace, other)
        for name, value in sorted(values.items()):
            matches = sorted(k for k, v in theirs.items() if v == value)
            if matches:
                raise ConfigError(f"Pulumi.{stack.name}.yaml: acs:{name}: equals stack {other}'s "
                                  f"{', '.join('acs:' + m for m in matches)}; a preview never gets another stack's "
                                  f"secrets. Delete Pulumi.{stack.name}.yaml (the next `pr up` generates new ones) "
                                  f"or give CI's value as ACS_PREVIEW_{name}")


def _decrypted_secrets(ws: Any, stack_name: str) -> dict[str, str]:
    try:
        config = ws.get_all_config(stack_name)
    except auto.CommandError:
        return {}
    return {k.split(":", 1)[1]: v.value for k, v in config.items() if v.secret and isinstance(v.value, str)}
