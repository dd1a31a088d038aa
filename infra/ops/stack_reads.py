"""Reads of a stack that leave its secrets encrypted.

The Automation API's `export_stack()` and `outputs()` always decrypt (`--show-secrets`; `outputs()` runs the
engine twice, masked and shown, to tell which outputs are secret). Decrypting derives the passphrase's key first
(PBKDF2, a million rounds): measured here, 1.0 s of CPU for `pulumi stack export --show-secrets` against 0.3 s
without it. Most reads want ids, URNs, pending operations or plain outputs, never a secret's value: they read
here, once, without it. Only what needs a secret's value (a preview's recorded secrets) decrypts.
"""
from __future__ import annotations

import json
from typing import Any

import pulumi.automation as auto

# How `pulumi stack output --json` shows a secret output's value without `--show-secrets`.
SECRET = "[secret]"


def _engine(stack: auto.Stack, *args: str) -> str:
    """One `pulumi` command on this stack, through the workspace's command (the engine guard) and environment."""
    ws = stack.workspace
    env = {**({"PULUMI_HOME": ws.pulumi_home} if ws.pulumi_home else {}), **(ws.env_vars or {})}
    return ws.pulumi_command.run([*args, "--stack", stack.name], ws.work_dir, env).stdout


def state(stack: auto.Stack) -> dict[str, Any]:
    """The stack's checkpoint (its `deployment`), secret values left as the checkpoint holds them (ciphertext
    objects). The same checkpoint always exports to the same text, so its hash tells whether a run wrote it."""
    return json.loads(_engine(stack, "stack", "export")).get("deployment") or {}


def masked_outputs(stack: auto.Stack) -> dict[str, Any]:
    """The stack's outputs, a secret one's value shown as SECRET; {} before the first update."""
    return json.loads(_engine(stack, "stack", "output", "--json") or "{}")


def outputs(stack: auto.Stack) -> dict[str, Any]:
    """The stack's outputs that are not secret (a secret one is left out)."""
    return {key: value for key, value in masked_outputs(stack).items() if value != SECRET}


def shown_outputs(stack: auto.Stack) -> dict[str, Any]:
    """All the stack's outputs, secret ones decrypted: one engine call (the Automation API's `outputs()` makes two,
    and another run's write between them broke its read: a key of one missing from the other)."""
    return json.loads(_engine(stack, "stack", "output", "--json", "--show-secrets") or "{}")
