"""Who owns a Railway object: the stack that made it, named by Pulumi project, stack and backend, and identified by
the stack's identity (a random id kept only in its state, infra.providers.identity).

A create adopts what it finds only when the object carries this stack's own marker, identity included (a run
killed after Railway made it) or was given explicitly by id. The name and the backend are for people (and for
`pr gc`): a removed or renamed stack's name can be reused, and one backend URL text (`file://~/.pulumi-state`)
names different backends on two machines; the identity cannot be shared that way. A marker of the older format
(no identity) is rewritten by the stack whose state holds the object (on its next up) and adopts nothing. Anything else of the same name belongs to someone else: the create stops
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


def stack_owner(identity: str | None = None) -> str:
    """`<organization>/<project>/<stack>@<backend>#<identity>` of the program being run (call inside a Pulumi
    program); without an identity, the older format."""
    import pulumi
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}@{backend_id()}"
    return f"{name}#{identity}" if identity else name


def _named(owner: str | None) -> str:
    """An owner without its identity: which stack name and backend it says it is."""
    return (owner or "").split("#", 1)[0]


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
    owner = owner_text[len(MARKER) + 2:] if owner_text and owner_text.startswith(MARKER + ": ") else None
    if owner and me and _named(owner) == _named(me):  # this stack's name, not this stack
        how = ("It carries this stack's name but another identity: a stack of this name that was removed or "
               "renamed made it (its state holds it), or a stack of this name on another backend or machine, or a "
               "first run of this stack killed before it recorded anything. If it is such a leftover, delete it by "
               f"hand (keep a backup of any volume) and run again; to take it over on purpose, give it by id. {how}")
    return NotOwnedError(
        f"{kind} {name!r} ({id_}) already exists and belongs to {owner_named_by(owner_text)}, not to this stack "
        f"({me or 'unmarked'}); nothing was changed. {how}")
