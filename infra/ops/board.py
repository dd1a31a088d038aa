"""`acs-infra status`: the promotion board. One row per stack (PR previews, dev, prod): the image and commit it
runs and since when (its outputs), its newest deployment's status, health (one probe of the health path), URL,
and the drift found by the last drift run (`--drift`: check now, one refreshing preview per stack).

The last check is a stack tag (`acs:drift`), written by every drift run: Pulumi's own per-stack metadata, kept
by the backend beside the stack (file, S3 or Pulumi Cloud), so every runner and `pulumi stack tag ls` see it.
Setting a tag takes no stack lock and writes no update into the stack's history, which a stack output would
(a drift check never writes the state); a file of our own in the bucket would need our own storage client."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pulumi.automation as auto

from infra import versions

from infra.ops import automation as ops, release, stack_reads
from infra.config import PR_STACK, ConfigError
from infra.railway import NotFoundError, RailwayApiError, client_from_env

ORDER = {"pr": 0, "dev": 1, "prod": 2}
DRIFT_TAG = "acs:drift"
ROW_KEYS = ("stack", "stage", "image", "pinned", "commit", "since", "url", "deployment", "deployment_status",
            "deployment_image", "healthy", "health", "drift", "error")
TAG_MAX = 256  # Pulumi Cloud's limit on a tag value (the DIY backends take more): the tag stays portable


# ---- the last drift check, kept as a stack tag -------------------------------------------------------------
def drift_summary(result: Any) -> dict[str, Any]:
    """When, the verdict, and what changed: resource and field names only, never a value (secrets stay hidden)."""
    changed = []
    for res in result.resources:
        changed += [f"{res.resource}.{f.field}" for f in res.fields] or [f"{res.resource} ({res.kind})"]
    status = "check failed" if result.error else ("fixed" if result.fixed is not None and not result.remaining
                                                  else "drifted" if result.drifted else "clean")
    summary = {"at": _stamp(datetime.now(timezone.utc)), "status": status, "changed": changed}
    # why it failed, as drift printed it: a killed run's leftovers name `acs-infra recover <stack>` (session 19)
    return {**summary, "error": result.error} if result.error else summary


def _stamp(when: datetime) -> str:
    """UTC to the millisecond: the checkpoint's own time (`pulumi stack ls`) is compared with it."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def superseded(drift: dict[str, Any] | None, last_update: datetime | None) -> dict[str, Any] | None:
    """The last check, marked when the stack was updated after it (adv24 B1): a drift read that ended before an
    `up` took the stack's lock saw the file's change not yet made, and its "drifted" stayed on the board after
    the up made it. The check is not rewritten (only a new check knows); the board says it predates the update.
    The update's time is the checkpoint's (Pulumi's `lastUpdate`), on the clock of the runner that wrote it."""
    if not drift or last_update is None:
        return drift
    updated = _utc(last_update)
    checked = _checked_at(drift.get("at"))
    # A check of unknown time (a tag set by hand), or one stamped after the update by a clock running ahead but
    # dated in the future, cannot be shown as newer than the update (adv26 N5).
    if checked is None or checked > datetime.now(timezone.utc) or updated > checked:
        return {**drift, "updated_after": _stamp(updated)}
    return drift


def _checked_at(at: Any) -> datetime | None:
    try:
        return _utc(datetime.fromisoformat(str(at).replace("Z", "+00:00")))
    except ValueError:  # not a time (a tag set by hand): adv26 N1 crashed the board comparing it
        return None


def _utc(when: datetime) -> datetime:
    """Pulumi's `lastUpdate` and a check written without an offset are UTC."""
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


def encode(summary: dict[str, Any]) -> str:
    """Compact JSON under TAG_MAX: the names that do not fit are counted in `more`, an error is cut short."""
    changed, more = list(summary["changed"]), 0
    while True:
        text = json.dumps({**summary, "changed": changed, **({"more": more} if more else {})}, separators=(",", ":"))
        error = summary.get("error") or ""
        if len(text) <= TAG_MAX or not (changed or len(error) > 3):
            return text
        if changed:
            changed.pop()
            more += 1
        else:
            summary = {**summary, "error": error[:max(0, len(error) - (len(text) - TAG_MAX) - 3)] + "..."}


def record_drift(name: str, root: Path, result: Any) -> None:
    ops.workspace(root).set_tag(name, DRIFT_TAG, encode(drift_summary(result)))


def last_drift(name: str, root: Path) -> dict[str, Any] | None:
    raw = ops.workspace(root).list_tags(name).get(DRIFT_TAG)
    return read_tag(raw) if raw else None


TAG_READ_MAX = 4096  # ours are at most TAG_MAX; a longer one was set by hand


def read_tag(raw: str) -> dict[str, Any]:
    """The drift record a tag holds: its known keys with plain values. A tag set by hand is shown, never obeyed:
    one nested 1,000 deep crashed the board for every stack (adv27 B1), NaN reached --json (B12)."""
    try:
        found = json.loads(raw, parse_constant=_no_constant) if len(raw) <= TAG_READ_MAX else None
    except (ValueError, RecursionError):
        found = None
    if not isinstance(found, dict):  # not JSON, a list, a number: by hand
        return {"status": raw if len(raw) <= 200 else raw[:200] + "..."}
    changed = found.get("changed")
    changed = changed if isinstance(changed, list) else [] if changed is None else [changed]
    record = {"at": _plain(found.get("at")), "status": _plain(found.get("status")),
              "changed": [_plain(c) for c in changed],
              "more": found["more"] if type(found.get("more")) is int else None, "error": _plain(found.get("error"))}
    return {key: value for key, value in record.items() if value is not None}


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _plain(value: Any) -> str | None:
    """A tag's value as text: a list or an object within it is not ours."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (bool, int, float)) else "?"


def row(stack: str, root: Path, check_drift: bool = False) -> dict[str, Any]:
    out = stack_reads.outputs(ops.select(stack, root, create=False))
    cur = out.get("release") or {}
    r: dict[str, Any] = {"stack": stack, "stage": out.get("stage"), "image": cur.get("image"),
                         "pinned": versions.pinned(cur.get("image")), "commit": cur.get("commit"),
                         "since": cur.get("since"), "url": out.get("url"), "deployment": None,
                         "deployment_status": None, "deployment_image": None, "healthy": None, "health": None,
                         "drift": None, "error": None}
    if "environmentId" not in out:
        r["health"] = "not deployed"
        return r
    t = release.target(stack, root)
    cfg = release._config(stack, root)
    svc = cfg.public_service
    try:
        latest = release.deployments(client_from_env(), t, t.service_ids[svc.name], first=1) \
            if svc.name in t.service_ids else []
    except NotFoundError:  # deleted outside the tool: this row says so, the other stacks keep theirs
        r["error"] = r["health"] = _gone(stack, t)
        r["drift"] = last_drift(stack, root)
        return r
    if latest:
        r.update(deployment=latest[0]["id"], deployment_status=latest[0]["status"],
                 deployment_image=(latest[0].get("meta") or {}).get("image"))
        # False: the newest deployment (whose status and health the row shows) runs another image than the pin
        r["runs_pinned_image"] = None if not r["deployment_image"] else r["deployment_image"] == r["image"]
    r["healthy"], r["health"] = release.health_gate(t, svc.healthcheck.path if svc.healthcheck else "/", 0)
    if check_drift:
        from infra.ops import drift
        drift.check_stack(stack, root)  # records its result as the stack's drift tag
    r["drift"] = last_drift(stack, root)
    return r


def _gone(stack: str, t: release.Target) -> str:
    """What is gone from Railway (one read of the environment) and what clears or repairs it."""
    try:
        env = client_from_env().query("EnvironmentRead", id=t.environment_id)["environment"]
    except NotFoundError:
        env = None
    gone = env is None or env.get("deletedAt")
    what = f"its environment {t.environment_id} is gone" if gone else \
        f"its service is gone from environment {t.environment_id}"
    pr = PR_STACK.match(stack)
    fix = f"`acs-infra pr down {pr.group(1)}` clears it" if pr else f"`acs-infra drift {stack}` shows what is missing"
    return f"{stack}: {what} (deleted outside this tool); {fix}"


def _row_or_error(stack: str, root: Path, check_drift: bool) -> dict[str, Any]:
    """A stack that cannot be read still gets its row, saying why, named: one broken stack never hides the board."""
    try:
        return row(stack, root, check_drift)
    except (RailwayApiError, ConfigError, release.ReleaseError, auto.CommandError) as exc:
        message = f"{stack}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}"
        return {**dict.fromkeys(ROW_KEYS), "stack": stack, "stage": "pr" if PR_STACK.match(stack) else stack,
                "pinned": False, "health": message, "error": message, "drift": _quiet_last_drift(stack, root)}


def _quiet_last_drift(stack: str, root: Path) -> dict[str, Any] | None:
    """The last check, which needs no Railway token: a row without one said "not checked" (adv27 B13)."""
    try:
        return last_drift(stack, root)
    except auto.CommandError:
        return None


def board(root: Path, check_drift: bool = False, only: list[str] | None = None) -> list[dict[str, Any]]:
    """Every stack's row, or only those named (the others are not read; a name no stack has is refused)."""
    stacks = ops.workspace(root).list_stacks()
    unknown = sorted(set(only or []) - {s.name for s in stacks})
    if unknown:  # a typo in `--stack` printed an empty board and exit 0 (adversarial issue 18, break 4)
        raise ConfigError(f"no stack named {', '.join(unknown)} in this backend (`pulumi stack ls` lists the stacks "
                          "there are)")
    names = [s.name for s in stacks if (s.resource_count or only) and (not only or s.name in only)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        rows = list(pool.map(lambda n: _row_or_error(n, root, check_drift), names))
    updated = {s.name: s.last_update for s in stacks}  # read before any `--drift` check: a new one is later
    for r in rows:
        r["drift"] = superseded(r.get("drift"), updated.get(r["stack"]))
    return sorted(rows, key=lambda r: (ORDER.get(r["stage"] or "", 3), r["stack"]))


COLUMNS = ("stack", "image", "commit", "since", "deployment_status", "health", "url", "drift")


def _cell(r: dict[str, Any], key: str) -> str:
    value = r.get(key)
    if key == "image" and r.get("runs_pinned_image") is False:
        return f"{value} (pinned; NOT LIVE: live deployment runs {r['deployment_image']})"
    if key == "image" and value and not r["pinned"]:
        return f"{value} (moving tag)"
    if key == "health":
        return "healthy" if r["healthy"] else f"unhealthy: {value}" if r["healthy"] is False else str(value or "-")
    if key == "drift":
        return "not checked" if value is None else _drift_cell(value)
    return "-" if value is None else str(value)


def _drift_cell(d: dict[str, Any]) -> str:
    d = {key: _printable(value) for key, value in d.items()}  # a tag set by hand is shown, never obeyed (adv26 N5)
    changed = d.get("changed")
    names = (", ".join(map(str, changed)) if isinstance(changed, list) else str(changed or "")) + \
        (f" +{d['more']} more" if d.get("more") else "")
    said = f"{d.get('status') or '?'} at {d.get('at') or '?'}" + (f": {names}" if names else "")
    said = f"{said} ({d['error']})" if d.get("error") else said
    return f"{said}; not checked since the stack's last update at {d['updated_after']}" \
        if d.get("updated_after") else said


def _printable(value: Any) -> Any:
    """A tag's text without control characters: a hand-set tag wrote colour codes and a fake board line."""
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return "".join(c if c.isprintable() else "?" for c in value) if isinstance(value, str) else value


def text(rows: list[dict[str, Any]]) -> str:
    # every cell, not only the tag's: a stack's outputs forged a board line too (adv27 B3)
    return "\n".join("  ".join(f"{k}={_printable(_cell(r, k))}" for k in COLUMNS) for r in rows) or "no stacks"


# What a cell's text could make of a GitHub table: HTML (`<br>` forged a line), links and images (adv27 B4)
MARKDOWN_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "[": "\\[", "]": "\\]",
                                  "`": "\\`", "*": "\\*", "\\": "\\\\"})


def markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join(_printable(_cell(r, k)).translate(MARKDOWN_ESCAPES) for k in COLUMNS) + " |"
            for r in rows]
    return "\n".join([head, *body])
