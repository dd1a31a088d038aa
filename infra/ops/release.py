"""The production release flow: backup -> deploy (migrations run as the pre-deploy command) -> wait for the
deployment -> health check -> healthy? done : roll back to the previous successful deployment."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import httpx
import pulumi.automation as auto

from infra import versions

from infra.ops import automation as ops, budget, stack_reads
from infra.config import ConfigError, EnvironmentConfig, app_repo, is_app_image, check_config
from infra.railway import RailwayClient, client_from_env

TERMINAL = {"SUCCESS", "FAILED", "CRASHED", "REMOVED", "SKIPPED"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ReleaseError(RuntimeError):
    """The release did not reach a healthy state; the message says why."""


@dataclass
class Target:
    """What a stack's outputs say about where the app runs."""

    stack: str
    project_id: str
    environment_id: str
    service_ids: dict[str, str]
    url: str
    volume_instance_id: str | None = None
    database_kind: str | None = None

    @property
    def host(self) -> str:
        return urlparse(self.url).hostname or ""


def target(stack_name: str, root: Path) -> Target:
    """Read from the stack's outputs only (the program exports every id an operation targets)."""
    out = stack_reads.outputs(ops.select(stack_name, root, create=False))  # ids and the URL: none is secret
    if "environmentId" not in out:
        raise ConfigError(f"stack {stack_name} has no environment yet: run `acs-infra up {stack_name}` first")
    return Target(stack_name, out["projectId"], out["environmentId"], out.get("serviceIds") or {}, out["url"],
                  out.get("volumeInstanceId"), out.get("databaseKind"))


# ---- backups ----------------------------------------------------------------------------------------------
def wait_workflow(client: RailwayClient, workflow_id: str, timeout: float = 600, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = client.query("WorkflowStatus", workflowId=workflow_id)["workflowStatus"]
        if status["status"] == "Complete":
            return
        if status["status"] in ("Error", "NotFound"):
            raise ReleaseError(f"backup workflow {workflow_id}: {status['status']} {status.get('error') or ''}")
        if time.monotonic() > deadline:
            raise ReleaseError(f"backup workflow {workflow_id} still running after {timeout:.0f}s")
        time.sleep(interval)


def backup(t: Target, label: str, client: RailwayClient | None = None) -> dict[str, Any]:
    """A labelled backup of the stack's database volume, waited for."""
    if not t.volume_instance_id and t.database_kind == "postgres":  # an update from before the output existed
        raise ConfigError(f"stack {t.stack} was last updated before it exported its database volume "
                          f"(volumeInstanceId), so no backup can be taken; `acs-infra up {t.stack}` records it")
    if not t.volume_instance_id:
        raise ConfigError(f"stack {t.stack} has no database volume to back up")
    client = client or client_from_env()
    wf = client.mutate("BackupCreate", volumeInstanceId=t.volume_instance_id, name=label)["volumeInstanceBackupCreate"]
    wait_workflow(client, wf["workflowId"])
    backups = client.query("BackupList", volumeInstanceId=t.volume_instance_id)["volumeInstanceBackupList"]
    made = next((b for b in backups if b["name"] == label), None)
    if made is None:
        raise ReleaseError(f"backup {label} finished but is not listed")
    return made


# ---- deployments and health -------------------------------------------------------------------------------
def deployments(client: RailwayClient, t: Target, service_id: str, first: int = 20) -> list[dict[str, Any]]:
    edges = client.query("DeploymentsOfService", projectId=t.project_id, environmentId=t.environment_id,
                         serviceId=service_id, first=first)["deployments"]["edges"]
    return [e["node"] for e in edges]


def wait_deployment(client: RailwayClient, deployment_id: str, timeout: float,
                    interval: float = 0.5, on_status: Callable[[str], Any] | None = None) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        status = client.query("DeploymentRead", id=deployment_id)["deployment"]["status"]
        if status != last and on_status:
            on_status(status)
        last = status
        if status in TERMINAL:
            return status
        if time.monotonic() > deadline:
            raise ReleaseError(f"deployment {deployment_id} still {status} after {timeout:.0f}s")
        time.sleep(interval)


def probe_url(t: Target, path: str) -> tuple[str, dict[str, str]]:
    """Railway serves the app at its domain; the emulator serves it on its own port, by Host header."""
    api = urlparse(client_from_env().url)
    if api.hostname in LOOPBACK:
        return f"{api.scheme}://{api.netloc}{path}", {"Host": t.host}
    return f"https://{t.host}{path}", {}


def health_gate(t: Target, path: str, timeout: float, interval: float = 1.0) -> tuple[bool, str]:
    url, headers = probe_url(t, path)
    deadline = time.monotonic() + timeout
    detail = "no answer"
    while True:
        try:
            resp = httpx.get(url, headers=headers, timeout=10)
            if resp.status_code == 200:
                return True, f"{t.host}{path} answered 200"
            detail = f"{t.host}{path} answered {resp.status_code}"
        except httpx.HTTPError as exc:
            detail = f"{t.host}{path}: {type(exc).__name__}"
        if time.monotonic() > deadline:
            return False, f"unhealthy after {timeout:.0f}s: {detail}"
        time.sleep(interval)


def rollback(t: Target, service: str | None, timeout: float = 300, client: RailwayClient | None = None,
             on_status: Callable[[str], Any] | None = None, to: str | None = None) -> dict[str, Any]:
    """Back to the previous successful deployment of the service (or to the given one), in one step, waited
    for until live."""
    client = client or client_from_env()
    name = service or next(iter(t.service_ids), None)
    if name not in t.service_ids:
        raise ConfigError(f"stack {t.stack} has no service {name!r} (services: {', '.join(t.service_ids)})")
    service_id = t.service_ids[name]
    history = deployments(client, t, service_id)
    previous = next((d for d in history if d["canRollback"] and (to is None or d["id"] == to)), None)
    if previous is None:
        raise ReleaseError(f"{t.stack}/{name}: no previous successful deployment to roll back to")
    client.mutate("DeploymentRollback", id=previous["id"])
    newest = deployments(client, t, service_id, first=1)[0]
    status = wait_deployment(client, newest["id"], timeout, on_status=on_status)
    if status != "SUCCESS":
        raise ReleaseError(f"{t.stack}/{name}: rollback deployment ended {status}")
    return {"service": name, "rolled_back_to": previous["id"], "deployment": newest["id"]}


@dataclass
class DeployReport:
    stack: str
    changes: dict[str, int] = field(default_factory=dict)
    backup: dict[str, Any] | None = None
    deployments: dict[str, str] = field(default_factory=dict)
    healthy: bool | None = None
    health: str = ""
    rolled_back: dict[str, Any] | None = None
    error: str | None = None
    image: str | None = None
    commit: str | None = None
    release: dict[str, Any] | None = None  # the release record written to the stack's outputs

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def deploy(stack_name: str, root: Path, *, auto_rollback: bool = False, health_timeout: float = 120,
           deploy_timeout: float = 900, on_output: Callable[[str], Any] | None = None,
           on_status: Callable[[str], Any] | None = None, image: str | None = None,
           commit: str | None = None) -> DeployReport:
    """A release. Preview (with the image asked for, if any); nothing changes: nothing is written. Otherwise back
    up the database first; up (pins the image); redeploy the services so the new image, settings and migrations
    (the pre-deploy command) run; wait; probe the health path; when unhealthy, roll back to the previous release
    if asked (always for an image release) and pin its image again. The release record (image, commit, time,
    deployments, backup, outcome, rolled back to) is kept in the stack's outputs."""
    report = DeployReport(stack_name)
    cfg = _config(stack_name, root)
    ops.ensure_budget(stack_name, root, on_output, extra=budget.RELEASE_CALLS)  # before the backup, its first write
    stack = ops.select(stack_name, root, create=True)
    was = ops.current_release(stack_name, root)
    image = image or was.get("image")
    report.image = image
    history = ops.release_history(stack_name, root) if was else []
    known = [*history, *_other_records(stack_name, root)] if image else []
    # the same image again keeps the commit it was recorded with, here or in another stack (adv16b N3, N4)
    report.commit = versions.resolve_commit(image, commit, [*known, was]) if image else None
    if image:  # before any write: a digest's commit is never rewritten (B8)
        versions.check_provenance(known, was, image, report.commit)
    ops.with_release(stack, versions.Request(stack_name, image, report.commit) if image else None)
    changes = _preview_changes(stack)
    exists = ops.stack_output(stack_name, root, "environmentId")
    live = _live_nodes(target(stack_name, root)) if exists else {}
    before = {name: node["id"] for name, node in live.items()}
    stale = _not_running(cfg, live, image)  # pinned, but its live deployment runs another image: deploy it
    killed = _killed(history, image)  # a re-run of a release killed midway: it is gated again (adv16b N1)
    if killed and killed.get("previous_image"):
        before = _served_before(target(stack_name, root) if exists else None, cfg, before, killed["previous_image"])
    if (changes or stale) and exists and cfg.database.kind == "postgres":  # nothing to lose before the first up
        label = f"pre-deploy-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
        report.backup = backup(target(stack_name, root), label)
    records = _start_record(stack_name, history, killed, image, report.commit, was, live, cfg) \
        if (changes or stale or killed) and image else []
    record = records[-1] if records else None
    if record:
        record.update(backup=(report.backup or {}).get("name"))
        ops.with_release(stack, versions.Request(stack_name, image, report.commit, records))
    result = ops.run(stack, "up", on_output=on_output)
    report.changes = {k: v for k, v in (result.summary.resource_changes or {}).items() if v and k != "same"}
    t = target(stack_name, root)
    client = client_from_env()
    _new_deployments(client, t, cfg, report, before, stale)
    _gate(client, t, cfg, report, health_timeout, deploy_timeout, on_status)
    clash = _interleaved(client, t, report) if record else None
    if clash:  # another release deployed meanwhile: rolling back would undo it, and this one's pin is not live
        report.healthy, report.health, report.error = False, clash, clash
    rolled_back_image = None
    if not clash and not report.healthy and \
            (auto_rollback or (record and record["previous_image"] not in (None, image))):
        rolled_back_image = _roll_back(client, t, cfg, report, before, record, on_status)
    if record:
        _finish_record(stack, record, report, rolled_back_image, on_output, interleaved=bool(clash))
    return report


def _image(deployment: dict[str, Any] | None) -> str | None:
    return ((deployment or {}).get("meta") or {}).get("image")


def _app_services(cfg: EnvironmentConfig) -> set[str]:
    """The services a release's image reaches (a worker with an image of its own keeps it: adv15 B8)."""
    app = app_repo([s.source.image for s in cfg.services])
    return {s.name for s in cfg.services if is_app_image(s.source.image, app)}


def _not_running(cfg: EnvironmentConfig, live: dict[str, dict[str, Any]], image: str | None) -> set[str]:
    """The app's services whose live deployment runs another image than `image` (a release killed after the
    pin, a rollback by hand): "the same image again writes nothing" holds only when it runs."""
    return {name for name in _app_services(cfg) if image and name in live and _image(live[name]) not in (None, image)}


def _other_records(stack_name: str, root: Path) -> list[dict[str, Any]]:
    """The release records of the team's other persistent stacks (previews aside): a digest is built from one
    commit wherever it runs, so one stack never credits it to another commit than its neighbour does."""
    from infra.config import PR_STACK
    names = [s.name for s in ops.workspace(root).list_stacks() if s.name != stack_name and not PR_STACK.match(s.name)]
    out: list[dict[str, Any]] = []
    for name in names:
        try:
            out += ops.stack_output(name, root, "releases") or []
        except auto.CommandError:
            continue  # a stack that cannot be read records nothing we could contradict
    return out


def _killed(records: list[dict[str, Any]], image: str | None) -> dict[str, Any] | None:
    """The newest record, when a release of this image was killed midway and left it open (`in progress`, or
    `interrupted` by recover): a re-run takes it over and gates the image again, whatever the preview says."""
    last = records[-1] if records else {}
    return last if image and last.get("image") == image and last.get("kind", "release") == "release" \
        and last.get("outcome") in (*versions.OPEN, "interrupted") else None


def _served_before(t: Target | None, cfg: EnvironmentConfig, before: dict[str, str],
                   image: str) -> dict[str, str]:
    """What a re-run of a killed release returns to when unhealthy: each app service's newest deployment of the
    image the killed release replaced (its own deployment may be live already)."""
    if t is None:
        return before
    client = client_from_env()
    out = dict(before)
    for name in _app_services(cfg) & set(t.service_ids):
        ran = next((d for d in deployments(client, t, t.service_ids[name]) if _image(d) == image
                    and d.get("canRollback")), None)
        if ran:
            out[name] = ran["id"]
    return out


def _start_record(stack_name: str, records: list[dict[str, Any]], killed: dict[str, Any] | None, image: str, commit: str | None,
                  was: dict[str, Any], live: dict[str, dict[str, Any]], cfg: EnvironmentConfig) -> list[dict[str, Any]]:
    """The new release's record, last, after the older records no run closed (closed as superseded). The record a
    killed release of this image left (`_killed`) is taken over (its id and what it replaced), so this run closes
    it truthfully; `previous_image` is what runs now."""
    record = versions.new_record(stack_name, image, commit)
    superseded = versions.close_open([r for r in records if r is not killed], "superseded",
                                     f"release {record['id']} of {image} started before this one ended")
    if killed:
        return [*superseded, dict(record, id=killed["id"], previous_image=killed.get("previous_image"),
                                  previous_commit=killed.get("previous_commit"))]
    running = _image(live.get(cfg.public_service.name)) or was.get("image")
    ran = next((r for r in reversed(records) if r.get("image") == running), {}) if running != was.get("image") else was
    return [*superseded, dict(record, previous_image=running, previous_commit=ran.get("commit"))]


def _new_deployments(client: RailwayClient, t: Target, cfg: EnvironmentConfig, report: DeployReport,
                     before: dict[str, str], stale: set[str]) -> None:
    images = _app_services(cfg)
    for name, sid in t.service_ids.items():
        latest = deployments(client, t, sid, first=1)
        newest = latest[0]["id"] if latest else None
        # A deployment made since `before` is this run's only when it runs this release's image: another
        # release's (interleaved on the same stack) is never taken as this one's.
        ours = newest is not None and newest != before.get(name) and (
            name not in images or _image(latest[0]) in (None, report.image))
        if (report.changes or name in stale) and not ours:
            # Image and settings changes do not redeploy by themselves (variable changes do): deploy once.
            newest = client.mutate("ServiceInstanceDeploy", serviceId=sid,
                                   environmentId=t.environment_id)["serviceInstanceDeployV2"]
        if newest:
            report.deployments[name] = newest


def _interleaved(client: RailwayClient, t: Target, report: DeployReport) -> str | None:
    """After the gate: each service's newest deployment is still this release's. Another release on the stack
    (the stack lock serialises engine runs, not releases) may have deployed since: this one then does not serve."""
    for name, dep in report.deployments.items():
        latest = deployments(client, t, t.service_ids[name], first=1)
        if latest and latest[0]["id"] != dep:
            return (f"another release deployed meanwhile: {t.stack}/{name} now runs {_image(latest[0])} (deployment "
                    f"{latest[0]['id']}), not this release's {report.image} (deployment {dep})")
    return None


def _gate(client: RailwayClient, t: Target, cfg: EnvironmentConfig, report: DeployReport, health_timeout: float,
          deploy_timeout: float, on_status: Callable[[str], Any] | None) -> None:
    """Healthy = every new deployment reached SUCCESS and the public service answers 200 on its health path."""
    failures = []
    for name, dep in report.deployments.items():
        status = wait_deployment(client, dep, deploy_timeout, on_status=on_status)
        if status != "SUCCESS":
            failures.append(f"{name}: deployment {status} (the pre-deploy/migration command or the build failed; "
                            "the previous deployment keeps serving)")
    svc = cfg.public_service
    path = svc.healthcheck.path if svc.healthcheck else "/"
    if failures:
        report.healthy, report.health = False, "; ".join(failures)
    else:
        report.healthy, report.health = health_gate(t, path, health_timeout)
    if not report.healthy:
        report.error = report.health


def _roll_back(client: RailwayClient, t: Target, cfg: EnvironmentConfig, report: DeployReport,
               before: dict[str, str], record: dict[str, Any] | None,
               on_status: Callable[[str], Any] | None) -> str | None:
    """Back to what served before the release: its deployment again (a failed deployment never replaced it),
    and, for an image release, its image pinned again in the state."""
    svc = cfg.public_service
    if not before.get(svc.name):
        raise ReleaseError(f"{report.error}; and there is no previous deployment to roll back to")
    live = _live_deployments(t).get(svc.name)
    if live != before[svc.name]:
        report.rolled_back = rollback(t, svc.name, client=client, on_status=on_status, to=before[svc.name])
    else:
        report.rolled_back = {"service": svc.name, "rolled_back_to": live, "deployment": live}
    return record["previous_image"] if record else None


def _finish_record(stack: auto.Stack, record: dict[str, Any], report: DeployReport, rolled_back_image: str | None,
                   on_output: Callable[[str], Any] | None, interleaved: bool = False) -> None:
    """Writes the release's outcome to the stack's outputs; after a rollback this run pins the previous image, so
    a later `up` keeps it. An interleaved release keeps the pin the other release wrote (no image asked)."""
    outcome = "interleaved" if interleaved else \
        "healthy" if report.healthy else ("rolled back" if report.rolled_back else "unhealthy")
    record.update(outcome=outcome, deployments=report.deployments, reason=report.error,
                  rolled_back_to=rolled_back_image if report.rolled_back else None)
    image = None if interleaved else rolled_back_image or record["image"]
    commit = None if interleaved else record["previous_commit"] if rolled_back_image else record["commit"]
    ops.with_release(stack, versions.Request(report.stack, image, commit, record))
    ops.run(stack, "up", on_output=on_output)
    report.release = record


def _live_deployments(t: Target) -> dict[str, str]:
    """The deployment serving each service now: what a failed release goes back to."""
    return {name: node["id"] for name, node in _live_nodes(t).items()}


def _live_nodes(t: Target) -> dict[str, dict[str, Any]]:
    client = client_from_env()
    live = {}
    for name, sid in t.service_ids.items():
        ok = [d for d in deployments(client, t, sid) if d["status"] == "SUCCESS"]
        if ok:
            live[name] = ok[0]
    return live


def _config(stack_name: str, root: Path) -> EnvironmentConfig:
    return check_config(stack_name, root)  # the checks `up` and `drift` make, before any call (adv23 B2)


def _preview_changes(stack: auto.Stack) -> dict[str, int] | None:
    preview = ops.run(stack, "preview")
    summary = {getattr(k, "value", k): v for k, v in (preview.change_summary or {}).items()}
    return {k: v for k, v in summary.items() if v and k != "same"}
