"""The stack's identity: a random id made once, at the stack's first up, that lives only in the stack's state.

Every owner marker the stack writes carries it (infra.ownership). A stack name or a backend URL can be shared by
accident (a renamed or removed stack's name reused, two laptops with `file://~/.pulumi-state`); this id cannot:
only the state that made it holds it, and it moves with that state (rename, export/import to another backend).
No API call: created before anything of Railway, so a run that makes an object has already checkpointed it.
"""
from __future__ import annotations

import secrets
from typing import Any

from pulumi import Output, ResourceOptions
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

ID_LENGTH = 16  # hex digits (64 random bits)


class StackIdentityProvider(ResourceProvider):
    """Plain on purpose (pickled into the state): no client, no inputs. Read and delete are the defaults; the
    id never changes, and deleting it deletes nothing on Railway."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        key = secrets.token_hex(ID_LENGTH // 2)
        return CreateResult(key, {"key": key})

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=False)


class StackIdentity(Resource):
    """The stack's identity; `key` is the id."""

    key: Output[str]

    def __init__(self, resource_name: str, opts: ResourceOptions | None = None) -> None:
        super().__init__(StackIdentityProvider(), resource_name, {"key": None}, opts)
