"""Deployments (a small state machine on the backend's clock), rollbacks, and the metrics of a live one."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from railway_emulator import metrics
from railway_emulator.errors import BadRequest
from railway_emulator.models.records import Behaviour, Deployment, ServiceInstance, Token, new_id, now_iso
from railway_emulator.models.store import Store

# How a deployment's status shows on its instances (Deployment.instances[].status).
INSTANCE_STATUS = {"SUCCESS": "RUNNING", "FAILED": "CRASHED", "CRASHED": "CRASHED", "REMOVED": "REMOVED",
                   "BUILDING": "INITIALIZING", "DEPLOYING": "INITIALIZING"}


class DeploymentsBackend(Store):
    """serviceInstanceDeploy*, serviceInstanceRedeploy, deployment*, deployments, metrics, httpMetrics."""

    def behaviour(self, service_id: str) -> Behaviour:
        return self.tables["behaviours"].setdefault(service_id, Behaviour())

    def deploy_instance(self, inst: ServiceInstance, snapshot: dict[str, Any] | None = None,
                rolled_back_from: str | None = None) -> Deployment:
        behaviour = self.behaviour(inst.serviceId)
        snap = snapshot or {"settings": dict(inst.settings), "source": dict(inst.source or {}),
                            "behaviour": asdict(behaviour)}
        outcome = "SUCCESS" if snapshot else behaviour.deployOutcome
        dep = Deployment(id=new_id(), serviceId=inst.serviceId, environmentId=inst.environmentId,
                         projectId=self.tables["services"][inst.serviceId].projectId, createdTs=self.clock.now(),
                         snapshot=snap, outcome=outcome, rolledBackFrom=rolled_back_from)
        self.tables["deployments"][dep.id] = dep
        return dep

    def status(self, dep: Deployment, at: float | None = None) -> str:
        """Statuses move BUILDING -> DEPLOYING -> SUCCESS (or FAILED) over `deploy_seconds`; a newer success
        supersedes older ones (REMOVED)."""
        at = self.clock.now() if at is None else at
        if dep.stopped:
            return "REMOVED"
        age = at - dep.createdTs
        if age < self.deploy_seconds / 2:
            return "BUILDING"
        if age < self.deploy_seconds:
            return "DEPLOYING"
        if dep.outcome != "SUCCESS":
            return dep.outcome
        newer = [d for d in self.tables["deployments"].values()
                 if d.serviceId == dep.serviceId and d.environmentId == dep.environmentId
                 and d.createdTs > dep.createdTs and not d.stopped and d.outcome == "SUCCESS"
                 and at - d.createdTs >= self.deploy_seconds]
        return "REMOVED" if newer else "SUCCESS"

    def deployments(self, tok: Token, inp: dict[str, Any]) -> list[Deployment]:
        if inp.get("environmentId"):
            self.environment(tok, inp["environmentId"])
        elif inp.get("projectId"):
            self.project(tok, inp["projectId"])
        elif inp.get("serviceId"):
            self.service(tok, inp["serviceId"])
        else:
            raise BadRequest("Must provide projectId, environmentId or serviceId")
        out = []
        for dep in self.tables["deployments"].values():
            if any(inp.get(k) and getattr(dep, k) != inp[k] for k in ("projectId", "environmentId", "serviceId")):
                continue
            status = self.status(dep)
            flt = inp.get("status") or {}
            if (dep.removed and not inp.get("includeDeleted")) or (flt.get("in") and status not in flt["in"]) or \
                    (flt.get("notIn") and status in flt["notIn"]):
                continue
            out.append(dep)
        return sorted(out, key=lambda d: d.createdTs, reverse=True)

    def latest_deployment(self, inst: ServiceInstance) -> Deployment | None:
        deps = [d for d in self.tables["deployments"].values()
                if d.serviceId == inst.serviceId and d.environmentId == inst.environmentId and not d.removed]
        return max(deps, key=lambda d: d.createdTs, default=None)

    def active_deployment(self, service_id: str, env_id: str) -> Deployment | None:
        live = [d for d in self.tables["deployments"].values() if d.serviceId == service_id
                and d.environmentId == env_id and not d.removed and self.status(d) == "SUCCESS"]
        return max(live, key=lambda d: d.createdTs, default=None)

    def can_rollback(self, dep: Deployment) -> bool:
        """A past deployment that once succeeded and has been superseded can be rolled back to."""
        return dep.outcome == "SUCCESS" and not dep.stopped and self.status(dep) == "REMOVED"

    def _deploy_source(self, tok: Token, service_id: str, environment_id: str) -> Deployment:
        inst = self.service_instance(tok, environment_id, service_id)
        if not inst.source:
            raise BadRequest("Service has no source to deploy")
        return self.deploy_instance(inst)

    def service_instance_deploy_v2(self, tok: Token, service_id: str, environment_id: str,
                                   commit_sha: str | None = None) -> str:
        return self._deploy_source(tok, service_id, environment_id).id

    def service_instance_deploy(self, tok: Token, service_id: str, environment_id: str, **_unmodelled: Any) -> bool:
        """commitSha and latestCommit pick a commit of a repo source; the emulator has no commits."""
        return bool(self._deploy_source(tok, service_id, environment_id))

    def service_instance_redeploy(self, tok: Token, service_id: str, environment_id: str) -> bool:
        """Redeploys the instance; one without a source has nothing to build and answers true without a
        deployment (as the Terraform provider sees when it renames a service that has no source)."""
        inst = self.service_instance(tok, environment_id, service_id)
        if inst.source:
            self.deploy_instance(inst)
        return True

    def deployment_redeploy(self, tok: Token, id: str, use_previous_image_tag: bool | None = None) -> Deployment:
        dep = self.deployment(tok, id)
        inst = self.service_instance(tok, dep.environmentId, dep.serviceId)
        return self.deploy_instance(inst)

    def deployment_restart(self, tok: Token, id: str) -> bool:
        return bool(self.deployment(tok, id))

    def deployment_rollback(self, tok: Token, id: str) -> bool:
        dep = self.deployment(tok, id)
        if not self.can_rollback(dep):
            raise BadRequest("Cannot rollback to this deployment")
        inst = self.service_instance(tok, dep.environmentId, dep.serviceId)
        self.deploy_instance(inst, snapshot=dep.snapshot, rolled_back_from=dep.id)
        return True

    def _stop(self, tok: Token, id: str, remove: bool) -> bool:
        dep = self.deployment(tok, id)
        dep.stopped = True
        dep.removed = dep.removed or remove
        return True

    def deployment_stop(self, tok: Token, id: str) -> bool:
        return self._stop(tok, id, remove=False)

    def deployment_cancel(self, tok: Token, id: str) -> bool:
        return self._stop(tok, id, remove=False)

    def deployment_remove(self, tok: Token, id: str) -> bool:
        return self._stop(tok, id, remove=True)

    # ---- computed fields of a Deployment -------------------------------------------------------------
    def deployment_status_updated_at(self, dep: Deployment) -> str:
        return now_iso(dep.createdTs + (self.deploy_seconds if self.status(dep) != "BUILDING" else 0))

    def deployment_url(self, dep: Deployment) -> str | None:
        doms = self.domains_of(dep.environmentId, dep.serviceId)["serviceDomains"]
        return f"https://{doms[0].domain}" if doms else None

    def deployment_meta(self, dep: Deployment) -> dict[str, Any]:
        """What was deployed: the image, the rollback origin, and the service manifest (the instance's source,
        build and deploy settings at deploy time, in EnvironmentConfig's shape; the Terraform provider reads
        `serviceManifest.deploy.multiRegionConfig`). `DeploymentMeta` is an untyped JSON scalar: its keys
        are not documented (assumed). `image` is the source's `source.image` verbatim at deploy time: a digest-pinned
        ref stays a digest, a tag is never resolved to one (Railway documents no such field); acs-infra pins the
        digest in the source itself and reads `meta.image` only to confirm what runs."""
        source = dep.snapshot.get("source") or {}
        settings = dep.snapshot.get("settings") or {}
        return {"image": source.get("image"), "rollbackFrom": dep.rolledBackFrom,
                "serviceManifest": _manifest(source, settings)}

    def deployment_instances(self, dep: Deployment) -> list[dict[str, str]]:
        status = INSTANCE_STATUS.get(self.status(dep), "UNKNOWN")
        return [{"id": f"{dep.id[:8]}-{i}", "status": status}
                for i in range(int(dep.snapshot["settings"].get("numReplicas") or 1))]

    # ---- metrics of the active deployment ------------------------------------------------------------
    def _series_window(self, tok: Token, service_id: str | None, environment_id: str | None, start: str | None,
                       end: str | None, step: int | None) -> tuple[Deployment | None, ServiceInstance, float, float, int]:
        if not service_id or not environment_id:
            raise BadRequest("serviceId and environmentId are required")
        inst = self.service_instance(tok, environment_id, service_id)
        end_ts = metrics.parse_time(end, self.clock.now())
        return (self.active_deployment(service_id, environment_id), inst, metrics.parse_time(start, end_ts - 3600),
                end_ts, max(1, int(step or 60)))

    def metrics(self, tok: Token, measurements: list[str], start_date: str, end_date: str | None = None,
                service_id: str | None = None, environment_id: str | None = None,
                sample_rate_seconds: int | None = None, **_unmodelled: Any) -> list[dict[str, Any]]:
        """CPU and memory series of a service's active deployment (grouping and averaging are not modelled)."""
        dep, inst, start, end, step = self._series_window(tok, service_id, environment_id, start_date, end_date,
                                                          sample_rate_seconds)
        limits = self.limits_json(inst, merged=True)["containers"]
        memory_gb, cpu = limits["memoryBytes"] / 1024 ** 3, limits["cpu"]
        tags = {"deploymentId": dep.id if dep else None, "environmentId": environment_id, "serviceId": service_id,
                "projectId": dep.projectId if dep else None}
        return [{"measurement": name, "tags": tags,
                 "values": metrics.resource_series(dep, name, start, end, step, memory_gb, cpu) if dep else []}
                for name in measurements]

    def http_metrics(self, tok: Token, service_id: str, environment_id: str, start_date: str, end_date: str,
                     step_seconds: int | None = None, status_code: int | None = None,
                     **_unmodelled: Any) -> dict[str, Any]:
        """Request counts of the active deployment (method and path filters are not modelled)."""
        dep, _inst, start, end, step = self._series_window(tok, service_id, environment_id, start_date, end_date,
                                                           step_seconds)
        return {"samples": metrics.request_series(dep, start, end, step, status_code) if dep else []}

    def http_duration_metrics(self, tok: Token, service_id: str, environment_id: str, start_date: str,
                              end_date: str, step_seconds: int | None = None,
                              **_unmodelled: Any) -> dict[str, Any]:
        dep, _inst, start, end, step = self._series_window(tok, service_id, environment_id, start_date, end_date,
                                                           step_seconds)
        return {"samples": metrics.duration_series(dep, start, end, step) if dep else []}

    def http_metrics_grouped_by_status(self, tok: Token, service_id: str, environment_id: str, start_date: str,
                                       end_date: str, step_seconds: int | None = None,
                                       **_unmodelled: Any) -> list[dict[str, Any]]:
        """Request counts per status code; the emulated app answers 200 or, at its error rate, 500."""
        return [{"statusCode": code, "samples": self.http_metrics(tok, service_id, environment_id, start_date, end_date,
                                                                  step_seconds, code)["samples"]}
                for code in (200, 500)]

    # ---- logs ----------------------------------------------------------------------------------------------
    def build_logs(self, tok: Token, deployment_id: str, limit: int | None = None, filter: str | None = None,
                   **_unmodelled: Any) -> list[dict[str, Any]]:
        return _page_logs(self._log_lines(self.deployment(tok, deployment_id), build=True), limit, filter)

    def deployment_logs(self, tok: Token, deployment_id: str, limit: int | None = None, filter: str | None = None,
                        **_unmodelled: Any) -> list[dict[str, Any]]:
        return _page_logs(self._log_lines(self.deployment(tok, deployment_id), build=False), limit, filter)

    def http_logs(self, tok: Token, deployment_id: str, **_unmodelled: Any) -> list[dict[str, Any]]:
        """The emulated app's requests are not logged one by one (metrics count them): no HTTP log lines."""
        self.deployment(tok, deployment_id)
        return []

    def _log_lines(self, dep: Deployment, build: bool) -> list[dict[str, Any]]:
        """The lines the platform itself writes while a deployment moves through its statuses (the emulated app
        writes none); each appears once the clock has reached it."""
        image = (dep.snapshot.get("source") or {}).get("image") or "the source"
        half = self.deploy_seconds / 2
        lines = ([(0.0, f"Pulling {image}"), (half * 0.9, "Build complete")] if build else
                 [(half, "Starting Container"), (self.deploy_seconds,
                  "Container failed to start" if dep.outcome != "SUCCESS" else "Container is healthy")])
        now = self.clock.now()
        return [{"timestamp": now_iso(dep.createdTs + at), "message": text,
                 "attributes": [{"key": "level", "value": "error" if "failed" in text else "info"}]}
                for at, text in lines if dep.createdTs + at <= now]


def _page_logs(lines: list[dict[str, Any]], limit: int | None, text: str | None) -> list[dict[str, Any]]:
    """Railway's log arguments: an empty filter matches every line; limit defaults to 100 and is capped at 5000
    (the most recent lines are kept). The filter here is a plain substring (Railway's query syntax is not
    modelled)."""
    matching = [line for line in lines if not text or text.lower() in line["message"].lower()]
    count = min(100 if limit is None else limit, 5000)
    return matching[-count:] if count > 0 else []


def _manifest(source: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    region, replicas = settings.get("region") or "us-west2", settings.get("numReplicas") or 1
    deploy = {k: settings.get(k) for k in ("startCommand", "preDeployCommand", "healthcheckPath",
                                           "healthcheckTimeout", "numReplicas", "region", "restartPolicyType",
                                           "restartPolicyMaxRetries", "cronSchedule", "sleepApplication",
                                           "overlapSeconds", "drainingSeconds")}
    deploy["multiRegionConfig"] = {region: {"numReplicas": replicas}}
    build = {k: settings.get(k) for k in ("builder", "buildCommand", "dockerfilePath", "watchPatterns")}
    return {"source": {k: v for k, v in source.items() if v is not None}, "build": build, "deploy": deploy}
