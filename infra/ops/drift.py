"""Drift: what live Railway differs from what the program declares, field by field, without writing the state.

A `preview --refresh` reads every resource (one API call each) and diffs live outputs against the declared
inputs; the environment is then listed once to find objects nobody declared. Secret values are never shown.
"""
from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pulumi.automation as auto
from pulumi.automation.events import EngineEvent, OpType

from infra.ops import automation as ops, stack_reads
from infra.ops.drift_report import MASK, FieldDrift, ResourceDrift, StackDrift, masked
from infra.providers import secret_prints, snapshot
from infra.providers.secret_prints import fingerprint
from infra.providers.snapshot import INVENTORY
from infra.railway import NotFoundError, client_from_env
from infra.railway.facts import REFERENCE
from infra.railway.settings import NOTICE
from infra.ops.safety import held_ids, lives_elsewhere

CHANGING = {OpType.UPDATE, OpType.REPLACE, OpType.CREATE_REPLACEMENT}
HIDDEN = {"__provider", "secret_names", "adopt_id", INVENTORY, secret_prints.OUTPUT, secret_prints.CHANGES}


def variable_drift(declared: dict[str, Any], live: dict[str, Any], prefix: str = "variables") -> list[FieldDrift]:
    """Per-name differences of a plain variable set. Only names the program declares plain show their values:
    a name added out of band may hold a secret (`STRIPE_KEY`), and a declared reference (`${{Postgres.DATABASE_URL}}`)
    renders to a credential that may have been pasted over it, so both show a fingerprint."""
    out = []
    for name in sorted(set(declared) | set(live)):
        if declared.get(name) != live.get(name):
            plain = name in declared and not REFERENCE.search(str(declared[name]))
            shown = live.get(name) if plain else fingerprint(live.get(name))
            out.append(FieldDrift(f"{prefix}.{name}", declared.get(name), shown))
    return out


def nested_drift(prefix: str, declared: dict[str, Any], live: dict[str, Any]) -> list[FieldDrift]:
    """Nested declared values (a fork shape's `services`: per service its source, settings, limits, variables)
    against live ones, one field per leaf. A dict is never shown whole (a service's holds its variables' values):
    `variables` go through variable_drift, a dict present on one side only shows as present or absent."""
    out: list[FieldDrift] = []
    for key in sorted(set(declared) | set(live), key=str):
        want, have, path = declared.get(key), live.get(key), f"{prefix}.{key}"
        if key == "variables" and isinstance(want or {}, dict) and isinstance(have or {}, dict):
            out += variable_drift(want or {}, have or {}, path)
        elif isinstance(want, dict) and isinstance(have, dict):
            out += nested_drift(path, want, have)
        elif isinstance(want, dict) or isinstance(have, dict):
            if _norm(want) != _norm(have):
                out.append(FieldDrift(path, "(present)" if want is not None else None,
                                      "(present)" if have is not None else None))
        elif _norm(want) != _norm(have):
            out.append(FieldDrift(path, want, have))
    return out


def secret_drift(stack: auto.Stack, events: list[EngineEvent] | None = None,
                 key: str | None = None) -> list[ResourceDrift]:
    """Declared secrets (the stack's decrypted config) against Railway's live values, compared here and shown as
    names and fingerprints only. The engine's diff cannot say which secret changed: its view of them is masked.
    The live side comes from this run's refresh (keyed fingerprints, see `secret_prints`), else from a read."""
    config = {k.split(":", 1)[1]: v.value for k, v in stack.get_all_config().items() if k.startswith("acs:")}
    refreshed = refreshed_outputs(events or [])
    found: list[ResourceDrift] = []
    client = None
    for res in stack_reads.state(stack).get("resources") or []:
        outs = res.get("outputs") or {}
        names = [n for n in outs.get("secret_names") or [] if n in config]
        if not names or not res.get("id") or not outs.get("environment_id"):
            continue
        prints = (refreshed.get(res["urn"]) or {}).get(secret_prints.OUTPUT) or {}
        if key and all(isinstance(prints.get(n), dict) for n in names):
            fields = [FieldDrift(f"secrets.{n}", fingerprint(config[n], key), prints[n].get("shown"))
                      for n in names if prints[n].get("match") != secret_prints.keyed(key, config[n])]
        elif not outs.get("project_id"):
            continue  # a fork's shape: only its read's prints tell (without them, its fork is gone: reported)
        else:
            client = client or client_from_env()
            try:
                live = client.query("ServiceState", id=res["id"], projectId=outs["project_id"],
                                    environmentId=outs["environment_id"])["variables"]
            except NotFoundError:
                continue  # the resource itself is gone: reported as deleted
            fields = [FieldDrift(f"secrets.{n}", fingerprint(config[n], key), fingerprint(live.get(n), key))
                      for n in names if live.get(n) != config[n]]
        if fields:
            found.append(ResourceDrift(_name(res["urn"]), "changed", fields))
    return found


def merge_secret_drift(drifts: list[ResourceDrift], secrets: list[ResourceDrift]) -> list[ResourceDrift]:
    """Adds the changed secrets to the engine's findings: always listed, whatever else drifted."""
    by_name = {d.resource: d for d in drifts if d.kind == "changed"}
    out = list(drifts)
    for s in secrets:
        target = by_name.get(s.resource)
        if target is None:
            note = s.note or "a secret value changed (value not shown)"
            out.append(ResourceDrift(s.resource, "changed", s.fields, note))
            continue
        target.fields += [f for f in s.fields if f.field not in {g.field for g in target.fields}]
    return out


def published_changes(changes: list[dict[str, Any]] | None) -> list[FieldDrift]:
    """A read's `secret_prints.changes` (names and fingerprints, compared in the provider process) as fields."""
    return [FieldDrift(f"variables.{c['name']}", c.get("declared"), c.get("live")) for c in changes or []
            if isinstance(c, dict) and c.get("name")]


def database_variable_drift(events: list[EngineEvent]) -> list[ResourceDrift]:
    """The stack's database service's variables (its password among them) against the ones it made, as its read
    published them from this run's snapshot: never a value, and `--fix` does not restore them."""
    return [ResourceDrift(_name(urn), "changed", fields, "variables changed outside Pulumi (values not shown; "
                          "drift --fix does not restore them)")
            for urn, outs in refreshed_outputs(events).items()
            if (fields := published_changes(outs.get(secret_prints.CHANGES)))]


def field_drift(old_outputs: dict[str, Any], new_inputs: dict[str, Any]) -> list[FieldDrift]:
    """Declared inputs against refreshed (live) outputs."""
    diffs: list[FieldDrift] = []
    for key, declared in new_inputs.items():
        if key in HIDDEN:
            continue
        live = old_outputs.get(key)
        if key == "variables" and isinstance(declared, dict) and isinstance(live, dict):
            diffs += variable_drift(declared, live)
        elif key == "services" and isinstance(declared, dict) and isinstance(live or {}, dict):
            diffs += nested_drift(key, declared, live or {})  # a fork shape's: never the whole dict
        elif masked(declared) == MASK or masked(live) == MASK:
            continue  # compared below through the names only
        elif _norm(declared) != _norm(live):
            diffs.append(FieldDrift(key, declared, live))
    declared_secrets, live_secrets = new_inputs.get("secret_names") or [], old_outputs.get("secret_names") or []
    if declared_secrets != live_secrets:
        diffs.append(FieldDrift("secret_names", declared_secrets, live_secrets))
    return diffs


def _norm(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def _name(urn: str) -> str:
    return urn.split("::")[-1]


def from_events(events: list[EngineEvent]) -> list[ResourceDrift]:
    drifts = []
    for event in events:
        pre = event.resource_pre_event
        if pre is None:
            continue
        meta = pre.metadata
        if meta.type.startswith("pulumi:") or "StackReference" in meta.type:
            continue
        if meta.op == OpType.CREATE:
            drifts.append(ResourceDrift(_name(meta.urn), "deleted", note="deleted outside Pulumi"))
        elif meta.op in CHANGING:
            old = (meta.old.outputs if meta.old else None) or {}
            new = (meta.new.inputs if meta.new else None) or {}
            fields = field_drift(old, new)
            note = "" if fields else "a secret value changed (value not shown)"
            drifts.append(ResourceDrift(_name(meta.urn), "changed", fields, note))
    return drifts


DATABASE_IMAGES = ("postgres", "mysql", "mariadb", "mongo", "redis", "clickhouse")


def refreshed_outputs(events: list[EngineEvent]) -> dict[str, dict[str, Any]]:
    """Each resource's outputs after this run's read, by URN (never the state's copy a pre-event shows)."""
    out = {}
    for event in events:
        meta = event.res_outputs_event.metadata if event.res_outputs_event else None
        if meta and meta.op == OpType.REFRESH and meta.new:
            out[meta.urn] = meta.new.outputs or {}
    return out


def refreshed_inventory(events: list[EngineEvent], env_id: str) -> dict[str, Any] | None:
    """The environment's contents as the refresh just read them (published by the project's or environment's
    read from the run's snapshot), so the look for undeclared objects costs no call of its own."""
    for outputs in refreshed_outputs(events).values():
        held = outputs.get(INVENTORY)
        if isinstance(held, dict) and held.get("id") == env_id:
            return held
    return None


def snapshot_hints(stack: auto.Stack) -> dict[str, str]:
    """What this run's provider process is told (its `pulumi` process's environment): the volume instances of
    the stack's backup schedules, read with the environment's snapshot, and a fresh key for secret fingerprints."""
    env_id = stack_reads.outputs(stack).get("environmentId")
    held = [r.get("outputs") or {} for r in stack_reads.state(stack).get("resources") or []]
    volumes = [o.get("volume_instance_id") for o in held if "kinds" in o]  # backup schedules (dynamic resources)
    hints = {env_id: sorted(v for v in volumes if v)} if env_id else {}
    return {snapshot.VOLUME_HINTS: json.dumps(hints), secret_prints.KEY: secrets.token_hex(32)}


def unmanaged(stack: auto.Stack, events: list[EngineEvent] | None = None) -> list[ResourceDrift]:
    """Services, volumes and domains in the stack's environment that the stack does not hold. Only services
    without data and domains get a `removal`: a volume, a service with a volume and a database are never
    removed by drift."""
    outputs = stack_reads.outputs(stack)
    env_id = outputs.get("environmentId")
    if not env_id:
        return []
    ids = held_ids(stack_reads.state(stack))
    try:
        env = refreshed_inventory(events or [], env_id) or \
            client_from_env().query("EnvironmentInstances", environmentId=env_id)["environment"]
    except NotFoundError:
        return [ResourceDrift(f"environment {outputs.get('environmentName', env_id)}", "deleted",
                              note="the whole environment was deleted outside Pulumi")]
    mounts: dict[str, list[str]] = {}
    for edge in env["volumeInstances"]["edges"]:
        mounts.setdefault(edge["node"].get("serviceId") or "", []).append(edge["node"]["mountPath"])
    shared = published_changes(env.get("sharedVariables"))  # only a refreshed inventory holds them
    found = [ResourceDrift("shared variables", "unmanaged", shared, "added outside Pulumi (values not shown); "
                           "never removed by drift")] if shared else []
    for edge in env["serviceInstances"]["edges"]:
        node = edge["node"]
        if node["serviceId"] not in ids:
            found.append(_unmanaged_service(node, env_id, mounts.get(node["serviceId"], [])))
            continue
        for dom in node["domains"]["serviceDomains"]:
            if dom["id"] not in ids and dom["domain"] not in ids:
                found.append(ResourceDrift(f"domain {dom['domain']}", "unmanaged",
                                           note=f"on service {node['serviceName']}, added outside Pulumi",
                                           removal={"op": "ServiceDomainDelete", "vars": {"id": dom["id"]}}))
    for edge in env["volumeInstances"]["edges"]:
        node = edge["node"]
        if node["volumeId"] not in ids:
            found.append(ResourceDrift(f"volume at {node['mountPath']}", "unmanaged",
                                       note="added outside Pulumi; holds data: never removed by drift"))
    return found


def _unmanaged_service(node: dict[str, Any], env_id: str, mounts: list[str]) -> ResourceDrift:
    image = ((node.get("source") or {}).get("image") or "").lower()
    data = [f"volume at {m}" for m in mounts]
    if any(image.split("/")[-1].startswith(db) for db in DATABASE_IMAGES):
        data.append(f"database image {image}")
    if data:
        return ResourceDrift(f"service {node['serviceName']}", "unmanaged",
                             note=f"added outside Pulumi; holds data ({', '.join(data)}): never removed by drift")
    # Only this environment's instance: the service may live in other environments too.
    return ResourceDrift(f"service {node['serviceName']}", "unmanaged", note="added outside Pulumi",
                         removal={"op": "ServiceDelete", "vars": {"id": node["serviceId"], "environmentId": env_id}})


def confine_removals(found: list[ResourceDrift], project_id: str, env_id: str) -> None:
    """An unmanaged service with an instance in another environment or a volume in any is not this stack's to
    remove (safety.lives_elsewhere): it loses its removal and says where it lives. One read, only when needed."""
    services = [r for r in found if r.removal and r.removal["op"] == "ServiceDelete"]
    elsewhere = lives_elsewhere(project_id, env_id) if services else {}
    for item in services:
        where = elsewhere.get(item.removal["vars"]["id"])
        if where:
            item.removal, item.note = None, f"added outside Pulumi; has {', '.join(where)}: never removed by drift"


def remove_unmanaged(found: list[ResourceDrift]) -> int:
    """--remove-unmanaged on an unprotected stack: removes what has a removal (never data)."""
    client = client_from_env()
    for item in found:
        if item.removal:
            client.mutate(item.removal["op"], **item.removal["vars"])
    return sum(1 for item in found if item.removal)


def conflicts(events: list[EngineEvent]) -> list[ResourceDrift]:
    """Declared values a provider refuses against the live state (e.g. a volume grown past its declared size):
    drift that `--fix` cannot undo; the configuration has to change."""
    out = []
    for event in events:
        diag = event.diagnostic_event
        if diag and diag.severity == "error" and "has a problem:" in diag.message:
            reason = diag.message.split("has a problem:", 1)[1].strip()
            out.append(ResourceDrift(_name(diag.urn or "stack"), "conflict", note=reason))
    return out


PROGRAM_EXIT = "Program exited with non-zero exit code"  # the engine's word after the program's own error


def engine_errors(events: list[EngineEvent]) -> str:
    """The error that says why: a Railway error by its class, else the program's own first error on one line
    (adv22 B2: drift kept only the program's exit, not the line naming the key)."""
    messages = [e.diagnostic_event.message.strip() for e in events
                if e.diagnostic_event and e.diagnostic_event.severity == "error"]
    own = [m for m in messages if PROGRAM_EXIT not in m] or messages
    if not own:
        return ""
    said = _first_error("\n".join(own))
    if any(marker in said for marker in RAILWAY_ERRORS) or "Traceback" in own[0]:
        return said
    return " ".join(own[0].split())[:500]


def check_stack(name: str, root: Path, fix: bool = False, remove_unmanaged_objects: bool = False) -> StackDrift:
    started = time.monotonic()
    result = StackDrift(name)
    events: list[EngineEvent] = []
    try:
        stack = ops.select(name, root, create=False)
        if ops.PR_STACK.match(name):  # a fresh clone has no local config for it: the backend has its secrets
            ops.ensure_pr_secrets(stack, root)
        hints = snapshot_hints(stack)
        stack.workspace.env_vars.update(hints)
        try:
            ops.run(stack, "preview", refresh=True, on_event=events.append, on_output=notices(name),
                    on_wait=ops.to_stderr)
        except auto.CommandError:
            found = conflicts(events)
            if not found:
                raise
            result.resources, result.remaining = from_events(events) + found, found
            return result
        for hint in hints:  # a fix's `up` must not publish fingerprints into the state
            stack.workspace.env_vars.pop(hint, None)
        database = database_variable_drift(events)
        result.resources = merge_secret_drift(from_events(events), secret_drift(stack, events,
                                                                                hints[secret_prints.KEY]))
        result.resources = merge_secret_drift(result.resources, database)
        extra = unmanaged(stack, events)
        result.resources += extra
        if (fix or remove_unmanaged_objects) and result.drifted:
            result.fixed = {}
            if fix:  # restores declared values, re-creates what is missing; deletes nothing it did not make
                up = ops.run(stack, "up", refresh=True)
                result.fixed = {k: v for k, v in (up.summary.resource_changes or {}).items() if v and k != "same"}
            if remove_unmanaged_objects and not _protected(stack):
                outputs = stack_reads.outputs(stack)
                confine_removals(extra, outputs["projectId"], outputs["environmentId"])
            removable = [r for r in extra if r.removal] if remove_unmanaged_objects and not _protected(stack) else []
            if removable:
                result.fixed["unmanaged_removed"] = remove_unmanaged(removable)
            result.remaining = [r for r in extra if r.kind == "unmanaged" and r not in removable] + database
    except auto.CommandError as exc:
        result.error = ops.missing_stack(str(exc)) or engine_errors(events) or _first_error(str(exc))
    except ops.LockTimeout as exc:  # a run in progress, or a killed one's leftovers: its message names the way out
        result.error = str(exc)
    except Exception as exc:  # auth, network: the check itself failed
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        result.seconds = time.monotonic() - started
        _record(name, root, result)
    return result


def notices(name: str) -> Callable[[str], None]:
    """Drift shows no engine output, but the Railway client's notices in it reach stderr, named by stack: a drift
    waiting for the hourly budget said nothing for as long as it waited (adv25 m2)."""
    def show(line: str) -> None:
        if NOTICE in line:
            sys.stderr.write(f"{name}: {line[line.index(NOTICE):].rstrip()}\n")
            sys.stderr.flush()
    return show


def _record(name: str, root: Path, result: StackDrift) -> None:
    """The status board shows this check without running it again (a stack tag, see infra.ops.board)."""
    from infra.ops import board
    try:
        board.record_drift(name, root, result)
    except auto.CommandError:  # no such stack: nothing to record on
        pass


def _protected(stack: auto.Stack) -> bool:
    state = stack_reads.state(stack)
    return any(r.get("protect") for r in state.get("resources") or [])


RAILWAY_ERRORS = ("NotAuthorizedError", "ApiUnavailableError", "RateLimitedError", "ValidationError", "NotFoundError",
                  "RailwayApiError")


def _first_error(text: str) -> str:
    for marker in RAILWAY_ERRORS:
        for line in text.splitlines():
            if marker in line:
                return line.strip().split("infra.railway.errors.")[-1]
    lines = [line.strip() for line in text.splitlines() if "error" in line.lower()]
    return lines[-1] if lines else text[-500:]
