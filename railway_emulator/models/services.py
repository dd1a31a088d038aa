"""Services, their instances in each environment (settings, source, limits), and the regions they run in."""
from __future__ import annotations

from typing import Any

from railway_emulator.errors import BadRequest, NotAuthorized, NotFound
from railway_emulator.models.records import (HOBBY_MAX_MEMORY_GB, HOBBY_MAX_VCPUS, INSTANCE_DEFAULTS,
                                             NON_NULL_SETTINGS, Environment, Service, ServiceInstance, Token,
                                             VolumeInstance, generated_name, new_id, now_iso)
from railway_emulator.models.store import Store

REGIONS = (
    {"name": "us-west2", "region": "us-west2", "country": "US", "location": "California, USA"},
    {"name": "us-east4-eqdc4a", "region": "us-east4-eqdc4a", "country": "US", "location": "Virginia, USA"},
    {"name": "europe-west4-drams3a", "region": "europe-west4-drams3a", "country": "NL",
     "location": "Amsterdam, Netherlands"},
    {"name": "asia-southeast1-eqsg3a", "region": "asia-southeast1-eqsg3a", "country": "SG", "location": "Singapore"},
)


class ServicesBackend(Store):
    """serviceCreate/Update/Connect/Delete, serviceInstanceUpdate, serviceInstanceLimits*, regions."""

    def service_create(self, tok: Token, inp: dict[str, Any]) -> Service:
        project = self.project(tok, inp["projectId"])
        name = inp.get("name") or generated_name()
        source = _source(inp.get("source"))
        env_id = inp.get("environmentId")
        if tok.is_project_token and not env_id:
            raise NotAuthorized()
        envs = self._service_scope(tok, project.id, env_id)
        # Names are unique within an environment; a fork may hold a service named like one of its source's.
        if any(name in self._service_names_in(env.id) for env in envs):
            raise BadRequest(f"Service with name {name} already exists")
        svc = Service(id=new_id(), name=name, projectId=project.id, icon=inp.get("icon"),
                      templateId=inp.get("templateId"), createdAt=now_iso(self.clock.now()))
        self.tables["services"][svc.id] = svc
        for env in envs:
            inst = ServiceInstance(id=new_id(), serviceId=svc.id, environmentId=env.id, source=source,
                                   createdAt=svc.createdAt)
            self.tables["instances"][inst.id] = inst
            if inp.get("variables"):
                self.upsert_variables(env.id, svc.id, inp["variables"], replace=False)
            if source:
                self.deploy_instance(inst)
        return svc

    def service_update(self, tok: Token, id: str, inp: dict[str, Any]) -> Service:
        svc = self.service(tok, id)
        self.check_env_scope(tok, self.service_envs(id))  # a rename shows in every environment
        if "name" in inp and inp["name"]:
            envs = [i.environmentId for i in self.tables["instances"].values() if i.serviceId == svc.id]
            if any(inp["name"] in self._service_names_in(e, besides=svc.id) for e in envs):
                raise BadRequest(f"Service with name {inp['name']} already exists")
            svc.name = inp["name"]
        if "icon" in inp:
            svc.icon = inp["icon"]
        svc.updatedAt = now_iso()
        return svc

    def service_connect(self, tok: Token, id: str, inp: dict[str, Any]) -> Service:
        svc = self.service(tok, id)
        self.check_env_scope(tok, self.service_envs(id))
        for inst in self.instances_of_service(id):
            inst.source = _source(inp)
            self.deploy_instance(inst)
        return svc

    def service_disconnect(self, tok: Token, id: str) -> Service:
        return self.service_connect(tok, id, {})

    @staticmethod
    def is_fork(env: Environment) -> bool:
        """A fork is an environment made from a source environment (`environmentCreate(sourceEnvironmentId)`)."""
        return env.sourceEnvironmentId is not None

    def _service_scope(self, tok: Token, project_id: str, env_id: str | None) -> list[Environment]:
        """Where `serviceCreate` / `serviceDelete(environmentId)` act (their input descriptions): only in the given
        environment when it is a fork, otherwise in every environment of the project that is not a fork. An absent
        environmentId acts like a non-fork one (assumed: Railway documents only the two cases above)."""
        if env_id:
            env = self.environment(tok, env_id)
            if env.projectId != project_id:
                raise NotFound("Environment")
            if self.is_fork(env):
                return [env]
        return [e for e in self.environments(tok, project_id) if not self.is_fork(e)]

    def service_delete(self, tok: Token, id: str, environment_id: str | None = None) -> bool:
        """With environmentId: the instances in that fork only, or in every non-fork environment (forks keep
        theirs); the service itself goes when no instance is left (assumed). Without: the whole service."""
        svc = self.service(tok, id)
        if environment_id:
            for env in self._service_scope(tok, svc.projectId, environment_id):
                self.purge_service_in_env(id, env.id)
            if not any(i.serviceId == svc.id for i in self.tables["instances"].values()):
                del self.tables["services"][svc.id]
            return True
        if tok.is_project_token:
            raise NotAuthorized()
        for inst in [i for i in self.tables["instances"].values() if i.serviceId == svc.id]:
            self.purge_service_in_env(svc.id, inst.environmentId)
        del self.tables["services"][svc.id]
        return True

    def _service_names_in(self, env_id: str, besides: str | None = None) -> set[str]:
        return {self.tables["services"][i.serviceId].name for i in self.instances_of_env(env_id)
                if i.serviceId != besides}

    def purge_service_in_env(self, service_id: str, env_id: str) -> None:
        for table in ("instances", "service_domains", "custom_domains", "deployments", "tcp_proxies"):
            for key in [k for k, o in self.tables[table].items()
                        if o.serviceId == service_id and o.environmentId == env_id]:
                del self.tables[table][key]
        for vi in self.volume_instances_of(env_id=env_id):
            if vi.serviceId == service_id:
                vi.serviceId = None
        self.variable_sets.pop(f"{env_id}|{service_id}", None)

    def service_instance_update(self, tok: Token, service_id: str, inp: dict[str, Any],
                                environment_id: str | None = None) -> bool:
        """With environmentId: the instance of that fork only, or of every environment that is not a fork (the
        argument's description); without: every instance of the service (assumed, as for serviceDelete)."""
        svc = self.service(tok, service_id)
        if environment_id:
            self.service_instance(tok, environment_id, service_id)
            envs = {e.id for e in self._service_scope(tok, svc.projectId, environment_id)}
            targets = [i for i in self.instances_of_service(svc.id) if i.environmentId in envs]
        else:
            targets = self.instances_of_service(svc.id)
        self.check_env_scope(tok, [i.environmentId for i in targets])
        for inst in targets:
            new = dict(inst.settings)
            for key, value in inp.items():
                if key == "source":
                    inst.source = _source(value)
                elif key in INSTANCE_DEFAULTS:
                    # null unsets: back to Railway's default (non-null fields) or to nothing
                    new[key] = INSTANCE_DEFAULTS[key] if value is None and key in NON_NULL_SETTINGS else value
            _validate_settings(new, self.volume_instances_of(env_id=inst.environmentId), inst.serviceId)
            inst.settings, inst.updatedAt = new, now_iso()
        return True

    def service_instance_limits_update(self, tok: Token, inp: dict[str, Any]) -> bool:
        inst = self.service_instance(tok, inp["environmentId"], inp["serviceId"])
        limits = dict(inst.limitOverride or {})
        for key, ceiling in (("memoryGB", HOBBY_MAX_MEMORY_GB), ("vCPUs", HOBBY_MAX_VCPUS)):
            if key not in inp:
                continue
            value = inp[key]
            if value is None:
                limits.pop(key, None)
                continue
            if value <= 0 or value > ceiling:
                raise BadRequest(f"{key} must be greater than 0 and at most {ceiling:g} on your plan")
            limits[key] = float(value)
        inst.limitOverride = limits or None
        return True

    @staticmethod
    def limits_json(inst: ServiceInstance, merged: bool) -> dict[str, Any] | None:
        over = inst.limitOverride or {}
        if not merged and not over:
            return None
        mem = over.get("memoryGB", HOBBY_MAX_MEMORY_GB if merged else None)
        cpu = over.get("vCPUs", HOBBY_MAX_VCPUS if merged else None)
        containers: dict[str, Any] = {}
        if cpu is not None:
            containers["cpu"] = cpu
        if mem is not None:
            containers["memoryBytes"] = int(round(mem * 1024 ** 3))
        return {"containers": containers}

    def service_instance_limits(self, tok: Token, environment_id: str, service_id: str) -> dict[str, Any] | None:
        """The limits in force: the override where set, the plan's ceiling otherwise."""
        return self.limits_json(self.service_instance(tok, environment_id, service_id), merged=True)

    def service_instance_limit_override(self, tok: Token, environment_id: str,
                                        service_id: str) -> dict[str, Any] | None:
        return self.limits_json(self.service_instance(tok, environment_id, service_id), merged=False)

    def regions(self, tok: Token, project_id: str | None = None) -> list[dict[str, Any]]:
        return [dict(r) for r in REGIONS]

    def instance_setting(self, inst: ServiceInstance, name: str) -> Any:
        return inst.settings.get(name, INSTANCE_DEFAULTS.get(name))

    def healthcheck_path(self, service_id: str, env_id: str) -> str:
        """Where the app front answers health checks: the instance's healthcheckPath, else `/`."""
        inst = next((i for i in self.instances_of_env(env_id) if i.serviceId == service_id), None)
        return (inst.settings.get("healthcheckPath") if inst else None) or "/"


def _source(inp: dict[str, Any] | None) -> dict[str, Any] | None:
    if not inp:
        return None
    image, repo = inp.get("image"), inp.get("repo")
    if image and repo:
        raise BadRequest("A service source can be an image or a repo, not both")
    if repo is not None and len(repo.split("/")) != 2:
        raise BadRequest(f"Invalid repo: {repo}")
    out = {"image": image, "repo": repo}
    if inp.get("branch"):
        out["branch"] = inp["branch"]
    return out if (image or repo) else None


def _validate_settings(settings: dict[str, Any], volume_instances: list[VolumeInstance], service_id: str) -> None:
    replicas = settings.get("numReplicas") or 1
    if replicas < 1:
        raise BadRequest("numReplicas must be at least 1")
    if settings.get("healthcheckTimeout") is not None and settings["healthcheckTimeout"] <= 0:
        raise BadRequest("healthcheckTimeout must be greater than 0")
    if settings.get("cronSchedule") and replicas > 1:
        raise BadRequest("Cron services can only have one replica")
    if replicas > 1 and any(vi.serviceId == service_id for vi in volume_instances):
        raise BadRequest("Services with a volume cannot have multiple replicas")
