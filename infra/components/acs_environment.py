"""One ACS environment on Railway, built from a validated `EnvironmentConfig`."""
from __future__ import annotations

import pulumi
from pulumi import ComponentResource, Output, ResourceOptions, StackReference

from infra.config import EnvironmentConfig, PostgresDatabase as PostgresConfig, ServiceConfig, SqliteDatabase
from infra.config import ConfigError, app_repo, is_app_image
from infra.providers import (BackupSchedule, CustomDomain, Environment, PostgresDatabase, Project, RailwayDomain,
                             Service, ServiceLimits, ServiceSettings)
from infra.ownership import stack_owner
from infra.railway.facts import DOMAIN_SUFFIX
from infra.providers.fork import ForkedEnvironment
from infra.providers.fork_shape import ForkShape
from infra.providers.identity import StackIdentity
from infra.providers.notification_rule import NotificationRule
from infra.providers.release import Release
from infra.versions import Request

ALERT_EVENTS = ["Deployment.failed", "Deployment.crashed", "Monitor.triggered", "VolumeAlert.triggered"]

POSTGRES_SERVICE = "Postgres"


def database_variables(cfg: EnvironmentConfig) -> dict[str, str]:
    """How the app reaches its database: a Railway reference to Postgres, or a local SQLite file with seed data."""
    if isinstance(cfg.database, SqliteDatabase):
        return {"DATABASE_KIND": "sqlite", "DATABASE_URL": f"file:{cfg.database.path}",
                "DATABASE_SEED": "true" if cfg.database.seed else "false"}
    return {"DATABASE_KIND": "postgres", "DATABASE_URL": "${{" + POSTGRES_SERVICE + ".DATABASE_URL}}"}


def settings_of(svc: ServiceConfig) -> dict[str, object]:
    return {
        "start_command": svc.start_command,
        "pre_deploy_command": [svc.pre_deploy_command] if svc.pre_deploy_command else None,
        "healthcheck_path": svc.healthcheck.path if svc.healthcheck else None,
        "healthcheck_timeout": svc.healthcheck.timeout_seconds if svc.healthcheck else None,
        "num_replicas": svc.replicas, "restart_policy_type": svc.restart_policy, "region": svc.region,
    }


def limits_of(svc: ServiceConfig) -> dict[str, object]:
    """Railway's stored units: memory in bytes (the config's MB, exactly), vCPUs as declared."""
    return {"memory_bytes": svc.memory * 1024 ** 2, "vcpus": svc.vcpu}


class AcsEnvironment(ComponentResource):
    """Project (or an existing one), environment, database, services with settings, limits, variables and
    secrets, and the public domain."""

    def __init__(self, name: str, cfg: EnvironmentConfig, secrets: dict[str, Output[str]],
                 opts: ResourceOptions | None = None, release: Request | None = None) -> None:
        super().__init__("acs:railway:Environment", name, None, opts)
        self.cfg = cfg
        child = ResourceOptions(parent=self)
        data = ResourceOptions(parent=self, protect=cfg.protect)
        # First: every marker this stack writes carries the identity its state holds (see infra.ownership).
        base = stack_owner()
        self.owner: Output[str] = StackIdentity(f"{name}-identity", opts=child).key.apply(
            lambda key: f"{base}#{key}")
        self.release = self._release(name, release or Request(name), child)
        if cfg.stage == "pr":
            self._preview(name, secrets, child)
            return
        self.project_id, self.environment_id, scope = self._place(name, child, data)
        if cfg.alerts:  # only with project.name (infra.config refuses alerts on a project it does not make)
            NotificationRule(f"{name}-alerts", workspace_id=scope.workspace_id, project_id=self.project_id,
                             event_types=ALERT_EVENTS, severities=list(cfg.alerts.severities),
                             channels=[c.as_railway() for c in cfg.alerts.channels],
                             ephemeral_environments=False, opts=child)
        in_env = ResourceOptions(parent=self, deleted_with=scope)  # gone with the environment: no delete call

        self.database_url: Output[str] | None = None
        self.volume_instance_id: Output[str] | None = None  # what backups target: a stack output, read by ops
        if isinstance(cfg.database, PostgresConfig):
            pg = PostgresDatabase(f"{name}-postgres", project_id=self.project_id, environment_id=self.environment_id,
                                  name=POSTGRES_SERVICE, image=cfg.database.image,
                                  volume_size_mb=cfg.database.volume_size, opts=data)
            self.database_url, self.volume_instance_id = pg.database_url, pg.volume_instance_id
            if cfg.database.backups:
                BackupSchedule(f"{name}-backups", volume_instance_id=pg.volume_instance_id,
                               kinds=list(cfg.database.backups), opts=ResourceOptions(parent=self, protect=cfg.protect,
                                                                                      deleted_with=pg))
        self.service_ids: dict[str, Output[str]] = {}
        self.url: Output[str] = Output.from_input(cfg.url)
        for svc in cfg.services:
            self._service(name, svc, secrets, child, in_env)
        self.register_outputs({"url": self.url, "environment_id": self.environment_id,
                               "project_id": self.project_id, "service_ids": self.service_ids})

    def _place(self, name: str, child: ResourceOptions,
               data: ResourceOptions) -> tuple[Output[str], Output[str], pulumi.Resource]:
        """The project and environment: a new project whose default environment is ours, or a new
        environment in an existing project (adopted by id, or another stack's)."""
        ref = self.cfg.project
        if ref.name:
            project = Project(f"{name}-project", name=ref.name, default_environment_name=self.cfg.name,
                              owner=self.owner, opts=data)
            return project.id, project.default_environment_id.apply(lambda v: v or ""), project
        project_id = Output.from_input(ref.id) if ref.id else \
            StackReference(f"{name}-project-of-{ref.stack}", f"organization/{pulumi.get_project()}/{ref.stack}",
                           opts=child).require_output("projectId")
        env = Environment(f"{name}-environment", project_id=project_id, name=self.cfg.name,
                          ephemeral=self.cfg.ephemeral, owner=self.owner, opts=data)
        return project_id, env.id, env

    def _preview(self, name: str, secrets: dict[str, Output[str]], child: ResourceOptions) -> None:
        """A PR preview the way Railway makes them: a fork of the project stack's environment (same services, no
        new service anywhere else), given the PR's shape in one patch, plus its own domain. Removing the fork
        removes only the fork's instances."""
        ref = self.cfg.project.stack
        if not ref:
            raise ConfigError("acs:environment.project: a PR preview is a fork of another stack's environment; "
                              "set project.stack (e.g. dev)")
        source = StackReference(f"{name}-project-of-{ref}", f"organization/{pulumi.get_project()}/{ref}", opts=child)
        self.project_id = source.require_output("projectId")
        fork = ForkedEnvironment(f"{name}-environment", project_id=self.project_id, name=self.cfg.name,
                                 source_environment_id=source.require_output("environmentId"), owner=self.owner,
                                 services=[svc.name for svc in self.cfg.services], opts=child)
        self.environment_id = fork.id
        in_env = ResourceOptions(parent=self, deleted_with=fork)  # gone with the fork: no delete call
        shape = ForkShape(f"{name}-shape", environment_id=fork.id, copied=fork.copied,
                          services={svc.name: self._shape_of(svc) for svc in self.cfg.services},
                          secret_variables=secrets or None, owner=self.owner, opts=in_env)
        self.database_url = self.volume_instance_id = None  # a preview uses sqlite: no volume
        self.service_ids = {svc.name: shape.service_ids.apply(lambda ids, n=svc.name: ids[n])
                            for svc in self.cfg.services}
        # the public service's Railway domain is named in the shape's patch (no create + rename of its own)
        self.url = shape.id.apply(lambda _: self.cfg.url)
        self.register_outputs({"url": self.url, "environment_id": self.environment_id,
                               "project_id": self.project_id, "service_ids": self.service_ids})

    def _plain_variables(self, svc: ServiceConfig) -> dict[str, str]:
        return {**self.cfg.variables, **svc.variables, **database_variables(self.cfg), "PORT": str(svc.port)}

    def _shape_of(self, svc: ServiceConfig) -> dict[str, object]:
        """One service of a fork's shape: what `_service` declares as separate resources, in one document."""
        shape = {"image": self._image(svc), "repo": svc.source.repo, "branch": svc.source.branch,
                 "settings": {k: v for k, v in settings_of(svc).items() if v is not None},
                 **limits_of(svc), "variables": self._plain_variables(svc)}
        if svc.public:
            shape.update(domain=f"{self.cfg.domain.subdomain}.{DOMAIN_SUFFIX}", port=svc.port)
        return shape

    def _image(self, svc: ServiceConfig) -> Output[str] | str | None:
        """The app's services (their image is of the app's repository) run the release's pinned image; a service
        with an image of its own (a worker's) keeps it (adv15 B8)."""
        app = app_repo([s.source.image for s in self.cfg.services])
        return self.release.image if self.release and is_app_image(svc.source.image, app) else svc.source.image

    def _release(self, name: str, req: Request, child: ResourceOptions) -> Release | None:
        """The app's version: one image for the app's image-sourced services (repo-built ones have none)."""
        declared = next((s.source.image for s in self.cfg.services if s.source.image), None)
        if declared is None:
            return None
        return Release(f"{name}-release", declared_image=declared, image=req.image, commit=req.commit,
                       record=req.record, opts=child)

    def _service(self, name: str, svc: ServiceConfig, secrets: dict[str, Output[str]], child: ResourceOptions,
                 in_env: ResourceOptions) -> None:
        plain = self._plain_variables(svc)
        service = Service(f"{name}-{svc.name}", project_id=self.project_id, environment_id=self.environment_id,
                          name=svc.name, image=self._image(svc),
                          repo=svc.source.repo, branch=svc.source.branch,
                          variables=plain, secret_variables=secrets or None, opts=child)
        self.service_ids[svc.name] = service.id
        sid = ResourceOptions.merge(in_env, ResourceOptions(depends_on=[service]))
        ServiceSettings(f"{name}-{svc.name}-settings", service_id=service.id, environment_id=self.environment_id,
                        opts=sid, **settings_of(svc))
        ServiceLimits(f"{name}-{svc.name}-limits", service_id=service.id, environment_id=self.environment_id,
                      opts=sid, **limits_of(svc))
        if svc.public:
            domain = RailwayDomain(f"{name}-{svc.name}-domain", project_id=self.project_id,
                                   environment_id=self.environment_id, service_id=service.id,
                                   subdomain=self.cfg.domain.subdomain, target_port=svc.port, opts=sid)
            self.url = domain.url
            for i, host in enumerate(self.cfg.domain.custom_domains):
                CustomDomain(f"{name}-{svc.name}-custom-{i}", project_id=self.project_id,
                             environment_id=self.environment_id, service_id=service.id, domain=host,
                             target_port=svc.port, opts=sid)
