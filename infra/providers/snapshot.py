"""Refresh and drift read each environment once per run, not once per resource.

The engine runs one dynamic-provider process per run and calls `read` for every resource of the stack. Here
that process reads each environment once (`EnvironmentSnapshot`: `environment(id) { config ... }` as the CLI's
`GetEnvironmentConfig` reads it, plus the instances, domains and volumes with their ids) and answers every
resource's read from that snapshot. Any write through the client drops the snapshots, so a read after a change
in the same run sees Railway again. Only the provider process caches (a long-lived process, such as a test
calling providers directly, reads live each time unless it turns caching on with `per_run(True)`).
"""
from __future__ import annotations

import json
import os
import sys
import threading
from collections import defaultdict
from typing import Any

from infra.ownership import OWNER_VARIABLE
from infra.providers import secret_prints
from infra.railway.errors import NotFoundError

INVENTORY = "environment_inventory"  # the read output drift looks for objects nobody declared in
_SNAPSHOTS: dict[str, tuple[int, dict[str, Any]]] = {}  # environment id -> (client writes seen, environment)
_LOCKS: dict[str, threading.Lock] = defaultdict(threading.Lock)
_GUARD = threading.Lock()
# {environment id: [volume instance ids]} known from the state, set by the caller of the engine (drift): Railway
# serves backup schedules only per volume instance, so the snapshot asks for these in the same request.
VOLUME_HINTS = "ACS_SNAPSHOT_VOLUME_INSTANCES"
_SCHEDULES = "volumeInstanceBackupScheduleList(volumeInstanceId: ${v}) {{ kind }}"


def _in_provider_process() -> bool:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", "") == "pulumi.dynamic.__main__"


_ENABLED = _in_provider_process()


def per_run(enabled: bool) -> None:
    """Turns the per-run cache on or off in this process (and forgets what it held)."""
    global _ENABLED
    _ENABLED = enabled
    forget()


def forget() -> None:
    with _GUARD:
        _SNAPSHOTS.clear()


def environment(environment_id: str) -> dict[str, Any] | None:
    """The environment's snapshot (None when Railway no longer has it); one call per environment per run."""
    from infra.providers.base import client  # base imports the providers' helpers, not the other way round
    api = client()
    if not _ENABLED:
        return _fetch(api, environment_id)
    with _GUARD:
        lock = _LOCKS[environment_id]
    with lock:  # concurrent reads of one environment wait for the first one's answer
        held = _SNAPSHOTS.get(environment_id)
        if held is None or held[0] != api.writes:
            held = (api.writes, _fetch(api, environment_id))
            _SNAPSHOTS[environment_id] = held
        return held[1]


def _fetch(api: Any, environment_id: str) -> dict[str, Any] | None:
    volumes = _hinted(environment_id)
    try:
        if volumes:
            return _with_schedules(api, environment_id, volumes)
    except NotFoundError:
        pass  # a hinted volume instance is gone (or the environment): read without them, as before
    try:
        return api.query("EnvironmentSnapshot", id=environment_id)["environment"]
    except NotFoundError:
        return None


def _hinted(environment_id: str) -> list[str]:
    try:
        held = json.loads(os.environ.get(VOLUME_HINTS) or "{}").get(environment_id) or []
    except (ValueError, AttributeError):
        return []
    return sorted({v for v in held if isinstance(v, str)})


def _with_schedules(api: Any, environment_id: str, volumes: list[str]) -> dict[str, Any] | None:
    """One request: the snapshot plus each volume instance's backup schedules, as aliased root fields.
    Assumed (standard GraphQL, not stated by Railway's schema): several root fields run in one request."""
    from infra.railway.client import operations
    base = operations()["EnvironmentSnapshot"].rstrip()
    head, body = base.split("{", 1)
    params = "".join(f", $v{i}: String!" for i in range(len(volumes)))
    fields = "\n".join(f"  s{i}: " + _SCHEDULES.format(v=f"v{i}") for i in range(len(volumes)))
    document = head.replace("$id: String!", "$id: String!" + params, 1) + "{" + body[:-1] + fields + "\n}\n"
    data = api.query_document("EnvironmentSnapshot", document, id=environment_id,
                              **{f"v{i}": v for i, v in enumerate(volumes)})
    env = data["environment"]
    if env is not None:
        env["backupSchedules"] = {v: sorted(s["kind"] for s in data[f"s{i}"]) for i, v in enumerate(volumes)}
    return env


def project(project_id: str, workspace_id: str | None) -> dict[str, Any] | None:
    """A project and its notification rules (`ProjectSnapshot`), once per project per run; None when the
    project is gone or its workspace is unknown (the caller then reads the way it did before)."""
    if not workspace_id:
        return None
    key = f"project:{project_id}"
    from infra.providers.base import client
    api = client()
    with _GUARD:
        lock = _LOCKS[key]
    with lock:
        held = _SNAPSHOTS.get(key) if _ENABLED else None
        if held is None or held[0] != api.writes:
            try:
                held = (api.writes, api.query("ProjectSnapshot", id=project_id, workspaceId=workspace_id))
            except NotFoundError:
                held = (api.writes, None)
            if _ENABLED:
                _SNAPSHOTS[key] = held
        return held[1]


def instance(environment_id: str, service_id: str) -> dict[str, Any] | None:
    env = environment(environment_id)
    edges = env["serviceInstances"]["edges"] if env else []
    return next((e["node"] for e in edges if e["node"]["serviceId"] == service_id), None)


def service_config(environment_id: str, service_id: str) -> dict[str, Any]:
    env = environment(environment_id)
    return ((env or {}).get("config") or {}).get("services", {}).get(service_id) or {}


def variables(environment_id: str, service_id: str | None) -> dict[str, str] | None:
    """Unrendered, unsealed variables of a service (or the shared ones), as `variables(unrendered: true)`."""
    env = environment(environment_id)
    if env is None:
        return None
    config = env.get("config") or {}
    held = service_config(environment_id, service_id).get("variables") if service_id else \
        config.get("sharedVariables")
    return {k: v["value"] for k, v in (held or {}).items() if not v.get("isSealed")}


def inventory(environment_id: str | None) -> dict[str, Any] | None:
    """What the environment holds (the shape of `EnvironmentInstances`), published as an output of the project's
    or environment's read so that drift finds objects nobody declared without a call of its own."""
    env = environment(environment_id) if environment_id else None
    if not env:
        return env
    held = {"id": env["id"], "serviceInstances": env["serviceInstances"], "volumeInstances": env["volumeInstances"]}
    # under drift's key: shared variables no stack declares (the stack's own marker aside), by name
    shared = secret_prints.changes({}, variables(environment_id, None) or {}, ignore=(OWNER_VARIABLE,))
    return held if shared is None else {**held, "sharedVariables": shared}


def volume_instances(environment_id: str) -> list[dict[str, Any]] | None:
    env = environment(environment_id)
    return None if env is None else [e["node"] for e in env["volumeInstances"]["edges"]]


def backup_kinds(volume_instance_id: str) -> list[str] | None:
    """The volume instance's backup schedule kinds from its environment's snapshot; None when no snapshot holds
    them (no hint for it: the caller reads them itself)."""
    hints = {v: e for e, vs in _hint_map().items() for v in vs}
    env_id = hints.get(volume_instance_id)
    env = environment(env_id) if env_id else None
    return ((env or {}).get("backupSchedules") or {}).get(volume_instance_id)


def _hint_map() -> dict[str, list[str]]:
    try:
        held = json.loads(os.environ.get(VOLUME_HINTS) or "{}")
    except ValueError:
        return {}
    return {e: _hinted(e) for e in held} if isinstance(held, dict) else {}
