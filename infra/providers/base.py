"""What every Railway dynamic provider shares.

Providers are pickled into the state by the engine, so they hold no client and no token: the client is made
per process from the environment (or the stack config `acs:railwayToken` / `acs:railwayApiUrl`, delivered
through `configure`). Each resource kind lives in its own module with check/diff/create/read/update/delete.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from pulumi.dynamic import (CheckFailure, CheckResult, ConfigureRequest, CreateResult, DiffResult, ReadResult,
                            ResourceProvider, UpdateResult)
from pulumi.runtime.rpc import UNKNOWN

from infra.railway.errors import AmbiguousWriteError, NotFoundError, ValidationError

if TYPE_CHECKING:  # the client is imported where it is first used: in the provider process, not the program's
    from infra.railway.client import RailwayClient

ALREADY_EXISTS = ("already exists", "already has", "not available")

_CLIENT: RailwayClient | None = None
_CLIENT_LOCK = threading.Lock()
_CONFIG_OVERRIDES: dict[str, str] = {}


def client() -> RailwayClient:
    """One client per provider process (the engine runs one process for all dynamic resources)."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            from infra.railway.client import client_from_env
            _CLIENT = client_from_env({**os.environ, **_CONFIG_OVERRIDES})
        return _CLIENT


def reset_client() -> None:
    """Tests that switch emulators between calls in one process drop the cached client (and its snapshots)."""
    global _CLIENT
    from infra.providers import snapshot
    snapshot.forget()
    with _CLIENT_LOCK:
        if _CLIENT is not None:
            _CLIENT.close()
        _CLIENT = None


class ReplacementRefused(Exception):
    """A replacement that would delete what it keeps, or data; raised in diff, before any write."""


@dataclass(frozen=True)
class Field:
    """One input property: its name, whether changing it forces a replacement, and its default."""

    name: str
    replaces: bool = False
    default: Any = None


class RailwayProvider(ResourceProvider):
    """Base class: field-driven check and diff; subclasses implement the API calls."""

    kind: str = "resource"
    fields: tuple[Field, ...] = ()
    required: tuple[str, ...] = ()

    def configure(self, req: ConfigureRequest) -> None:
        token = req.config.get("railwayToken")
        url = req.config.get("railwayApiUrl")
        if token and not os.environ.get("RAILWAY_API_TOKEN") and not os.environ.get("RAILWAY_TOKEN"):
            _CONFIG_OVERRIDES["RAILWAY_API_TOKEN"] = token
        if url and not os.environ.get("RAILWAY_API_URL"):
            _CONFIG_OVERRIDES["RAILWAY_API_URL"] = url

    # ---- check ---------------------------------------------------------------------------------------
    def validate(self, news: dict[str, Any]) -> Iterable[CheckFailure]:
        """Kind-specific checks; the base checks required fields."""
        return ()

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = dict(news)
        for f in self.fields:
            if inputs.get(f.name) is None and f.default is not None:
                inputs[f.name] = f.default
        failures = [CheckFailure(name, f"{self.kind}: '{name}' is required")
                    for name in self.required if inputs.get(name) in (None, "")]
        failures.extend(self.validate(inputs))
        return CheckResult(inputs, failures)

    # ---- diff ----------------------------------------------------------------------------------------
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [f for f in self.fields if _norm(olds.get(f.name)) != _norm(news.get(f.name))]
        # A value a preview cannot know yet (another resource's output that changes in the same run) is not a
        # replacement: the run's own diff sees the real value. Reporting it as one made every preview of an
        # update touching the environment show the database replaced (the up's data-loss guard reads previews).
        replaces = [f.name for f in changed if f.replaces and news.get(f.name) != UNKNOWN]
        if replaces:
            self.refuse_replacement(_id, olds, news, replaces)
        return DiffResult(changes=bool(changed), replaces=replaces, stables=[f.name for f in self.fields
                                                                             if f.replaces and f not in changed],
                          delete_before_replace=bool(replaces) and self.delete_before_replace)

    delete_before_replace: bool = False
    # Inputs that find this object again at create (its name in its parent): a replacement that keeps them all
    # would adopt the very object it replaces (create_once's lookup, or the owner's marker), then delete it.
    identity: tuple[str, ...] = ()
    keeps_adopted: bool = False  # its delete leaves an adopted object alone

    def refuse_replacement(self, id_: str, olds: dict[str, Any], news: dict[str, Any], replaces: list[str]) -> None:
        """A replacement creates the new object, then deletes the old id. Refused in diff, before any write of this
        resource, when the new one would be the old one (the delete would remove what the state now holds) or
        when the old one holds data that its delete would take along."""
        if olds.get("adopt_id") and self.keeps_adopted:
            return  # its delete is a no-op: nothing can be lost
        adopted = news.get("adopt_id")
        same = adopted == id_ if adopted else \
            bool(self.identity) and all(_norm(olds.get(k)) == _norm(news.get(k)) for k in self.identity)
        what = f"{self.kind} {id_}: changing {', '.join(replaces)} replaces it"
        if same:
            raise ReplacementRefused(f"{what}, and the replacement would be this same object, which the replace "
                                     "then deletes. Nothing was changed: revert that change (or remove and re-add "
                                     "the object on purpose).")
        data = self.held_data(id_, olds)
        if data:
            raise ReplacementRefused(f"{what} and deletes the old one, which holds data ({'; '.join(data)}). Nothing "
                                     "was changed: revert that change, or move the data out (take a backup) first.")

    def held_data(self, id_: str, olds: dict[str, Any]) -> list[str]:
        """What a delete of this object would take along that is data (volumes); kinds that hold none: []."""
        return []

    # ---- helpers for subclasses ----------------------------------------------------------------------
    def inputs_of(self, props: dict[str, Any]) -> dict[str, Any]:
        return {f.name: props.get(f.name) for f in self.fields}

    def read_or_gone(self, id_: str, props: dict[str, Any], fetch: Callable[[], dict[str, Any] | None]) -> ReadResult:
        """A read that drops the resource from the state when Railway no longer has it."""
        try:
            live = fetch()
        except NotFoundError:
            live = None
        if live is None:
            return ReadResult(None, {})
        outs = {**props, **live}
        outs.pop("__provider", None)
        return ReadResult(id_, outs, {k: outs.get(k) for k in (f.name for f in self.fields)})


def _norm(value: Any) -> Any:
    """Compares values the way Railway stores them: missing and None are the same."""
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def ignore_missing(fn: Callable[[], Any]) -> None:
    """Deleting what is already gone succeeds."""
    try:
        fn()
    except NotFoundError:
        pass


def ignore_missing_list(fn: Callable[[], list[str]]) -> list[str]:
    """A listing of what is already gone is empty."""
    try:
        return fn()
    except NotFoundError:
        return []


@contextmanager
def undo_on_failure(undo: Callable[[], Any], keep: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """A multi-call create that fails halfway removes what it already made, then re-raises; not on a `keep`
    error (e.g. what it made now holds someone else's object)."""
    try:
        yield
    except keep:
        raise
    except BaseException:
        try:
            undo()
        except Exception:  # the original error matters more; a re-run finds and adopts the leftover
            pass
        raise


def create_once(create: Callable[[], dict[str, Any]], find: Callable[[], dict[str, Any] | None],
                attempts: int = 3, owned: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Creates an object without ever creating it twice, and without taking over one that is not ours.

    When a create's answer is lost (timeout, 5xx after commit, dropped connection) look for the object before
    creating again: what appears is what that call made. When Railway says it already exists at the first
    attempt, the object was there before this create: `owned(found)` decides (it raises NotOwnedError unless the
    object carries this stack's marker, e.g. a run killed after the create went through). Without `owned`, the
    lookup is inside the stack's own environment, whose ownership was settled when the environment was made."""
    ambiguous = False
    for attempt in range(attempts):
        try:
            return create()
        except AmbiguousWriteError:
            ambiguous = True
            found = find()
            if found is not None:
                return found
            if attempt == attempts - 1:
                raise
        except ValidationError as exc:
            if not any(m in exc.message.lower() for m in ALREADY_EXISTS):
                raise
            found = find()
            if found is None:
                raise
            if owned is not None and not ambiguous:
                owned(found)
            return found
    raise AssertionError("unreachable")


__all__ = ["RailwayProvider", "ReplacementRefused", "Field", "client", "reset_client", "ignore_missing", "ignore_missing_list", "create_once", "undo_on_failure", "CheckFailure",
           "CreateResult", "DiffResult", "ReadResult", "UpdateResult"]
