"""`promote <source> <dest>`: build once, promote the same artifact. Deploys to DEST the exact image SOURCE runs
(pinned by digest), with the configuration difference promotion implies, after showing both. Refused when the
image is not healthy in SOURCE, and when DEST would change anything the plan does not list."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pulumi.automation as auto

from infra import versions
from infra.config import app_repo, is_app_image

from infra.ops import automation as ops, drift, promotion_plan, release
from infra.railway import client_from_env

# What each promoted configuration field touches in DEST (resource names after the stack prefix).
FIELD_RESOURCES = {"start_command": ("{svc}-settings",), "pre_deploy_command": ("{svc}-settings",),
                   "healthcheck": ("{svc}-settings",), "restart_policy": ("{svc}-settings",),
                   "port": ("{svc}", "{svc}-settings", "{svc}-domain"), "source": ("{svc}",)}


def plan(source: str, dest: str, root: Path) -> dict[str, Any]:
    """The configuration plan plus the image move: what DEST runs now and what it would run."""
    out = promotion_plan.promote_plan(source, dest, root)
    src, now = ops.current_release(source, root), ops.current_release(dest, root)
    image = src.get("image")
    out["image"] = {"from": now.get("image"), "to": image, "commit": src.get("commit"),
                    "changes": image != now.get("image")}
    return out


def source_health(source: str, root: Path, image: str, timeout: float = 10) -> tuple[bool, str]:
    """The image is healthy in SOURCE: pinned, its newest deployment runs it and reached SUCCESS, and the health
    path answers 200 now."""
    if not image:
        return False, f"{source} records no image yet: run `acs-infra deploy {source} --image <ref>` first"
    if not versions.pinned(image):
        return False, (f"{source} runs {image}, a moving tag: deploy {source} with a pinned image "
                       "(`--image <repo>@sha256:<digest>`) before promoting it")
    t = release.target(source, root)
    cfg = release._config(source, root)
    svc = cfg.public_service
    latest = release.deployments(client_from_env(), t, t.service_ids[svc.name], first=1)
    if not latest:
        return False, f"{source}/{svc.name} has no deployment"
    dep = latest[0]
    ran = (dep.get("meta") or {}).get("image")
    if ran and ran != image:
        return False, f"{source}/{svc.name}'s newest deployment {dep['id']} runs {ran}, not {image}"
    if dep["status"] != "SUCCESS":
        return False, f"{source}/{svc.name}'s deployment {dep['id']} is {dep['status']}"
    ok, detail = release.health_gate(t, svc.healthcheck.path if svc.healthcheck else "/", timeout)
    return ok, detail


def expected_resources(p: dict[str, Any], dest: str, root: Path) -> dict[str, set[str] | None]:
    """The resources of DEST the plan says may change, each with the inputs it may change (None: any)."""
    allowed: dict[str, set[str] | None] = {f"{dest}-release": None}

    def allow(name: str, inputs: set[str] | None = None) -> None:
        had = allowed.get(name, set())
        allowed[name] = None if inputs is None or had is None else had | inputs
    for change in (c["change"] for c in p["changes"]):
        if change.startswith(("variable ", "secret ")):
            for svc in _service_names(dest, root):
                allow(f"{dest}-{svc}")
        elif change.startswith("add service "):
            svc = change.removeprefix("add service ")
            for name in (f"{dest}-{svc}", f"{dest}-{svc}-settings", f"{dest}-{svc}-limits"):
                allow(name)
        elif "." in change:
            svc, key = change.split(".", 1)
            for r in FIELD_RESOURCES.get(key, ()):
                allow(f"{dest}-" + r.format(svc=svc))
    if p["image"]["changes"]:  # the new image, and nothing else of those services (adv16 B6)
        for svc in _service_names(dest, root):
            allow(f"{dest}-{svc}", {"image"})
    return allowed


def _service_names(dest: str, root: Path) -> list[str]:
    """The app's services: the ones a release's image reaches (infra.config.is_app_image)."""
    services = release._config(dest, root).services
    app = app_repo([s.source.image for s in services])
    return [s.name for s in services if is_app_image(s.source.image, app)]


def unlisted_changes(dest: str, root: Path, req: versions.Request, allowed: dict[str, set[str] | None]) -> list[str]:
    """Previews DEST with the promoted image; names every resource, and input, that would change outside the
    plan (an image change allows only the image of those services: adv16 B6)."""
    stack = ops.with_release(ops.select(dest, root, create=False), req)
    touched: list[str] = []

    def on_event(event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        kind = pre.metadata.type if pre else ""
        if not pre or pre.metadata.op.value in ("same", "read", "refresh") or kind == "pulumi:pulumi:Stack" \
                or kind.startswith("pulumi:providers:"):  # the stack's outputs and provider plugins
            return
        name, op = pre.metadata.urn.split("::")[-1], pre.metadata.op.value
        inputs = changed_inputs(pre.metadata)
        may = allowed.get(name, set())
        if name not in allowed or (may is not None and not inputs <= may):
            touched.append(f"{name} ({op}: {', '.join(sorted(inputs - (may or set()))) or 'the resource'})"
                           if op == "update" else f"{name} ({op})")

    ops.run(stack, "preview", on_event=on_event)
    return touched


def changed_inputs(meta: Any) -> set[str]:
    """The names of the inputs a step changes (never their values, which may be secrets)."""
    old = (meta.old.inputs if meta.old else None) or {}
    new = (meta.new.inputs if meta.new else None) or {}
    return {k for k in set(old) | set(new) if not k.startswith("__") and old.get(k) != new.get(k)}


def promote(source: str, dest: str, root: Path, *, dry_run: bool, on_output: Callable[[str], Any] | None = None,
            on_status: Callable[[str], Any] | None = None, health_timeout: float = 120) -> dict[str, Any]:
    p = plan(source, dest, root)
    ok, detail = source_health(source, root, p["image"]["to"])
    p["source_healthy"], p["source_health"] = ok, detail
    p["dest_drift"] = hand_made_changes(dest, root)
    if dry_run:
        return p
    if not ok:
        raise release.ReleaseError(f"refused: {source}'s image {p['image']['to']} is not healthy there: {detail}")
    if p["dest_drift"]:  # adv16 B6: they would go live with the promotion's deployment, unreviewed
        raise release.ReleaseError(
            f"refused: {dest} runs what its stack file does not say ({'; '.join(p['dest_drift'])}), which the "
            f"promotion plan does not list and its deployment would put live. Changed by hand: `acs-infra drift "
            f"{dest} --fix` restores the file's values; an edit of the file not applied yet: `acs-infra up {dest}` "
            "first. Nothing was changed")
    path = root / f"Pulumi.{dest}.yaml"
    kept = path.read_text()
    if p["changes"]:
        promotion_plan.apply_promotion(p, root)
    req = versions.Request(dest, p["image"]["to"], p["image"]["commit"])
    unlisted = unlisted_changes(dest, root, req, expected_resources(p, dest, root))
    if unlisted:
        path.write_text(kept)  # the stack file as it was: nothing promoted
        raise release.ReleaseError(f"refused: {dest} would also change {', '.join(unlisted)}, which the promotion "
                                   f"plan does not list (drift? run `acs-infra drift {dest}`); nothing was changed")
    report = release.deploy(dest, root, image=p["image"]["to"], commit=p["image"]["commit"], auto_rollback=True,
                            health_timeout=health_timeout, on_output=on_output, on_status=on_status)
    p["deploy"] = report.as_dict()
    return p


def hand_made_changes(dest: str, root: Path) -> list[str]:
    """What DEST runs that its stack file does not say (drift's own check: names and fingerprints, no values).
    A destination not made yet runs nothing."""
    if not ops.stack_exists(dest, root):
        return []
    checked = drift.check_stack(dest, root)
    if checked.error:
        raise release.ReleaseError(f"refused: could not read {dest} to check it against its stack file: "
                                   f"{checked.error}; nothing was changed")
    return [f"{r.resource}: " + (", ".join(f.field for f in r.fields) or r.kind)
            for r in checked.resources if r.kind != "unmanaged"]


def roll_back_release(stack_name: str, root: Path, *, on_output: Callable[[str], Any] | None = None,
                      on_status: Callable[[str], Any] | None = None, service: str | None = None,
                      reason: str | None = None, health_timeout: float = 120) -> dict[str, Any]:
    """Back to the previous healthy release's image: its deployment again when Railway still has it (else a new
    deployment of it), and the image pinned again in the state, so a later `up` keeps it. With `reason` (a
    monitor's breach) the bad release's own record says it was rolled back, and why; a breach of a release
    without an earlier image goes one deployment back and says so too. The record says healthy only after the
    rolled-back deployment passed the health gate. A stack without release records goes back one deployment."""
    cur = ops.current_release(stack_name, root)
    records = ops.release_history(stack_name, root)
    prev = versions.previous_good(records, cur.get("image"))
    bad = next((r for r in reversed(records) if r.get("image") == cur.get("image")), None) if reason else None
    t = release.target(stack_name, root)
    cfg = release._config(stack_name, root)
    name = service or cfg.public_service.name
    if prev is None and bad is None:
        if records:  # never one deployment back onto a release recorded rolled back, nor forward to one it left
            raise release.ReleaseError(f"{stack_name}: no earlier healthy release than {cur.get('image')} to roll "
                                       "back to (releases recorded rolled back or unhealthy are never redeployed)")
        return step_back(stack_name, root, name, on_status=on_status, health_timeout=health_timeout)
    image, commit = (prev["image"], prev.get("commit")) if prev else (cur.get("image"), cur.get("commit"))
    record = _rollback_record(stack_name, cur, image, commit, bad, reason)
    client = client_from_env()
    done = _return_to(client, t, name, image if prev else None, on_status)
    if done is None:  # Railway no longer holds a deployment of it: pin the image first, then deploy it anew
        _pin(stack_name, root, image, commit, record, on_output)
        done = _deploy_anew(client, t, name, on_status)
    ok, detail = (False, done["failed"]) if done.get("failed") else \
        release.health_gate(t, cfg.public_service.healthcheck.path if cfg.public_service.healthcheck else "/",
                            health_timeout)
    record.update(deployments={name: done["deployment"]}, rollback_health=detail,
                  outcome="rolled back" if bad else ("healthy" if ok else "unhealthy"))
    left = _left(records, cur, image) if bad is None else None
    _pin(stack_name, root, image, commit, [left, record] if left else record, on_output)  # written after the gate
    if not ok:
        raise release.ReleaseError(f"{stack_name}/{name}: rolled back to {image}, but it is not healthy: {detail}")
    return {"stack": stack_name, **{k: v for k, v in done.items() if k != "failed"}, "image": image,
            "commit": commit, "record": record}


def step_back(stack_name: str, root: Path, service: str, *, on_status: Callable[[str], Any] | None = None,
              health_timeout: float = 120) -> dict[str, Any]:
    """One service one deployment back, gated like a release: the deployment reaches SUCCESS and, for the public
    service, its health path answers 200 (else exit 1 naming why: the step back did not restore service)."""
    t = release.target(stack_name, root)
    done = {"stack": stack_name, **release.rollback(t, service, on_status=on_status)}
    public = release._config(stack_name, root).public_service
    if done["service"] == public.name:
        ok, done["rollback_health"] = release.health_gate(
            t, public.healthcheck.path if public.healthcheck else "/", health_timeout)
        if not ok:
            raise release.ReleaseError(f"{stack_name}/{service}: rolled back to deployment {done['rolled_back_to']}, "
                                       f"but it is not healthy: {done['rollback_health']}")
    return done


def _left(records: list[dict[str, Any]], cur: dict[str, Any], image: str) -> dict[str, Any] | None:
    """The healthy record of the release a rollback leaves, marked rolled back: a later rollback never returns
    to it (forward)."""
    left = next((r for r in reversed(records) if r.get("image") == cur.get("image") and r.get("outcome") == "healthy"),
                None)
    return dict(left, outcome="rolled back", rolled_back_to=image, reason="rolled back by `acs-infra rollback`") \
        if left else None


def _rollback_record(stack_name: str, cur: dict[str, Any], image: str, commit: str | None,
                     bad: dict[str, Any] | None, reason: str | None) -> dict[str, Any]:
    """The bad release's own record (monitor breach), or a new `rollback` record; `rolling back` until gated."""
    if bad is not None:
        record = dict(bad, reason=f"monitor: {reason}")
    else:
        record = versions.new_record(stack_name, image, commit, kind="rollback")
        record["previous_image"] = cur.get("image")
    record.update(rolled_back_to=image, outcome="rolling back")
    return record


def _return_to(client: Any, t: release.Target, name: str, image: str | None,
               on_status: Callable[[str], Any] | None) -> dict[str, Any] | None:
    """Rolls back to the newest deployment that ran `image` (None: one deployment back), waited for; None when
    Railway holds no deployment of it any more."""
    if image is None:
        return release.rollback(t, name, client=client, on_status=on_status)
    ran_it = next((d for d in release.deployments(client, t, t.service_ids[name])
                   if d["canRollback"] and (d.get("meta") or {}).get("image") == image), None)
    return release.rollback(t, name, client=client, on_status=on_status, to=ran_it["id"]) if ran_it else None


def _deploy_anew(client: Any, t: release.Target, name: str, on_status: Callable[[str], Any] | None) -> dict[str, Any]:
    dep = client.mutate("ServiceInstanceDeploy", serviceId=t.service_ids[name],
                        environmentId=t.environment_id)["serviceInstanceDeployV2"]
    status = release.wait_deployment(client, dep, 900, on_status=on_status)
    failed = f"its new deployment {dep} ended {status}" if status != "SUCCESS" else None
    return {"service": name, "rolled_back_to": None, "deployment": dep, "failed": failed}


def _pin(stack_name: str, root: Path, image: str, commit: str | None, record: dict[str, Any] | list[dict[str, Any]],
         on_output: Callable[[str], Any] | None) -> None:
    """Pins `image` in the stack's state with `record` (state only: the release resource calls no API)."""
    records = [dict(r) for r in record] if isinstance(record, list) else dict(record)
    stack = ops.with_release(ops.select(stack_name, root, create=False),
                             versions.Request(stack_name, image, commit, records))
    ops.run(stack, "up", on_output=on_output)


def redeploy_image(stack_name: str, root: Path) -> dict[str, str]:
    """Deploys each of the app's services whose newest deployment does not run the pinned image (a preview whose
    PR got new commits); one that already runs it is left alone. Returns the new deployments."""
    image = ops.current_release(stack_name, root).get("image")
    t = release.target(stack_name, root)
    client = client_from_env()
    made = {}
    for name in _service_names(stack_name, root):  # a worker with its own image is not redeployed
        if name not in t.service_ids:
            continue
        latest = release.deployments(client, t, t.service_ids[name], first=1)
        if latest and (latest[0].get("meta") or {}).get("image") == image:
            continue
        made[name] = client.mutate("ServiceInstanceDeploy", serviceId=t.service_ids[name],
                                   environmentId=t.environment_id)["serviceInstanceDeployV2"]
    return made
