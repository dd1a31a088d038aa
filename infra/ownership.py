"""Who owns a Railway object: the stack that made it, named by backend, Pulumi project and stack.

A create adopts what it finds only when the object carries this stack's own marker (a run killed after Railway
made it) or was given explicitly by id. Anything else of the same name belongs to someone else: the create stops
before its first write and names the owner. The marker lives where Railway keeps free text: a project's
description, and for an environment (which has none) a shared variable of the environment.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MARKER = "Managed by Pulumi (acs-infra)"
OWNER_VARIABLE = "ACS_INFRA_OWNER"  # shared (environment-level) variable; services see it only by reference


class NotOwnedError(RuntimeError):
    """An object of the declared name exists and this stack did not make it."""


def backend_id() -> str:
    """A short, stable fingerprint of the state backend (never the URL itself: it may name a bucket or a path).

    The backend is `PULUMI_BACKEND_URL` when set, else the one `pulumi login` stored as current. Runners of one
    team must name the backend the same way (the same bucket or path) to share the stacks' objects."""
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url:
        home = Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
        try:
            url = json.loads((home / "credentials.json").read_text()).get("current") or ""
        except (OSError, ValueError):
            url = ""
    # Query parameters (an S3 endpoint, a region) say how to reach the backend, not which one it is.
    where = (url or "https://api.pulumi.com").split("?", 1)[0].rstrip("/")
    return hashlib.sha256(where.encode()).hexdigest()[:12]


def stack_owner() -> str:
    """`<organization>/<project>/<stack>@<backend>` of the program being run (call inside a Pulumi program)."""
    import pulumi
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}@{backend_id()}"


def marker(owner: str | None) -> str:
    """The text a project made by `owner` carries; without an owner, the marker of older versions."""
    return f"{MARKER}: {owner}" if owner else MARKER


def owner_named_by(text: str | None) -> str:
    """Who a marker names, for an error message."""
    if text and text.startswith(MARKER + ": "):
        return f"stack {text[len(MARKER) + 2:]}"
    if text == MARKER:
        return "an acs-infra stack of an older version (unmarked)"
    return "nobody known to acs-infra (made by hand or by another tool)"


def refuse(kind: str, name: str, id_: str, owner_text: str | None, me: str | None, how: str) -> NotOwnedError:
    return NotOwnedError(
        f"{kind} {name!r} ({id_}) already exists and belongs to {owner_named_by(owner_text)}, not to this stack "
        f"({me or 'unmarked'}); nothing was changed. {how}")
