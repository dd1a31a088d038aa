"""`acs-infra status`: the promotion board. One row per stack (PR previews, dev, prod): the image and commit it
runs and since when (its outputs), its newest deployment's status, health (one probe of the health path), URL,
and drift when asked to check (`--drift`: one refreshing preview per stack)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from infra import versions

from infra.ops import automation as ops, release
from infra.railway import client_from_env

ORDER = {"pr": 0, "dev": 1, "prod": 2}


def row(stack: str, root: Path, check_drift: bool = False) -> dict[str, Any]:
    out = {k: v.value for k, v in ops.select(stack, root, create=False).outputs().items() if not v.secret}
    cur = out.get("release") or {}
    r: dict[str, Any] = {"stack": stack, "stage": out.get("stage"), "image": cur.get("image"),
                         "pinned": versions.pinned(cur.get("image")), "commit": cur.get("commit"),
                         "since": cur.get("since"), "url": out.get("url"), "deployment": None,
                         "deployment_status": None, "deployment_image": None, "healthy": None, "health": None,
                         "drift": None}
    if "environmentId" not in out:
        r["health"] = "not deployed"
        return r
    t = release.target(stack, root)
    cfg = release._config(stack, root)
    svc = cfg.public_service
    latest = release.deployments(client_from_env(), t, t.service_ids[svc.name], first=1) \
        if svc.name in t.service_ids else []
    if latest:
        r.update(deployment=latest[0]["id"], deployment_status=latest[0]["status"],
                 deployment_image=(latest[0].get("meta") or {}).get("image"))
    r["healthy"], r["health"] = release.health_gate(t, svc.healthcheck.path if svc.healthcheck else "/", 0)
    if check_drift:
        from infra.ops import drift
        d = drift.check_stack(stack, root)
        r["drift"] = "check failed" if d.error else (f"{len(d.resources)} drifted" if d.drifted else "clean")
    return r


def board(root: Path, check_drift: bool = False) -> list[dict[str, Any]]:
    names = [s.name for s in ops.workspace(root).list_stacks() if s.resource_count]
    with ThreadPoolExecutor(max_workers=4) as pool:
        rows = list(pool.map(lambda n: row(n, root, check_drift), names))
    return sorted(rows, key=lambda r: (ORDER.get(r["stage"] or "", 3), r["stack"]))


COLUMNS = ("stack", "image", "commit", "since", "deployment_status", "health", "url", "drift")


def _cell(r: dict[str, Any], key: str) -> str:
    value = r.get(key)
    if key == "image" and value and not r["pinned"]:
        return f"{value} (moving tag)"
    if key == "health":
        return "healthy" if r["healthy"] else f"unhealthy: {value}" if r["healthy"] is False else str(value or "-")
    if key == "drift" and value is None:
        return "not checked"
    return "-" if value is None else str(value)


def text(rows: list[dict[str, Any]]) -> str:
    return "\n".join("  ".join(f"{k}={_cell(r, k)}" for k in COLUMNS) for r in rows) or "no stacks"


def markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join(_cell(r, k).replace("|", "\\|") for k in COLUMNS) + " |" for r in rows]
    return "\n".join([head, *body])
