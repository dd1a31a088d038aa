"""The emulator's state and behaviour: everything Railway would store, and the rules it applies.

Resolvers call these methods; nothing here knows about GraphQL or HTTP. Every public method runs under the
backend's lock (the HTTP server is threaded), and raises `errors.RailwayError` with Railway's own messages.
"""
from __future__ import annotations

import json
import re
import secrets
import sqlite3
import string
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from railway_emulator.clock import SystemClock
from railway_emulator.errors import BadRequest, NotAuthorized, NotFound

UNSET: Any = object()  # an input field that was absent (as opposed to an explicit null, which unsets)

DOMAIN_SUFFIX = "up.railway.app"
HOBBY_MAX_MEMORY_GB = 8.0
HOBBY_MAX_VCPUS = 8.0
DEFAULT_VOLUME_MB = 5000  # Hobby default volume size
POSTGRES_MOUNT = "/var/lib/postgresql/data"
BACKUP_CRON = {"DAILY": "0 3 * * *", "WEEKLY": "0 4 * * 0", "MONTHLY": "0 5 1 * *"}
BACKUP_RETENTION = {"DAILY": 6 * 86400, "WEEKLY": 30 * 86400, "MONTHLY": 90 * 86400}


def new_id() -> str:
    return str(uuid.uuid4())


def now_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), timezone.utc).isoformat().replace("+00:00", "Z")


def generate_secret(length: int = 32, alphabet: str = string.ascii_letters) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class Project:
    id: str
    name: str
    workspaceId: str
    description: str | None = None
    isPublic: bool = False
    prDeploys: bool = False
    baseEnvironmentId: str | None = None
    focusedPrEnvironments: bool = False
    botPrEnvironments: bool = False
    primaryEnvironmentId: str | None = None
    createdAt: str = field(default_factory=now_iso)
    updatedAt: str = field(default_factory=now_iso)
    deletedAt: str | None = None


@dataclass
class Environment:
    id: str
    name: str
    projectId: str
    isEphemeral: bool = False
    sourceEnvironmentId: str | None = None
    createdAt: str = field(default_factory=now_iso)
    updatedAt: str = field(default_factory=now_iso)
    deletedAt: str | None = None


@dataclass
class Service:
    id: str
    name: str
    projectId: str
    icon: str | None = None
    templateId: str | None = None
    createdAt: str = field(default_factory=now_iso)
    updatedAt: str = field(default_factory=now_iso)
    deletedAt: str | None = None


# Settings of a service instance with Railway's defaults; `serviceInstanceUpdate` writes these.
INSTANCE_DEFAULTS: dict[str, Any] = {
    "startCommand": None, "buildCommand": None, "preDeployCommand": None, "rootDirectory": None,
    "healthcheckPath": None, "healthcheckTimeout": None, "numReplicas": 1, "region": "us-west2",
    "restartPolicyType": "ON_FAILURE", "restartPolicyMaxRetries": 10, "cronSchedule": None,
    "sleepApplication": False, "builder": "RAILPACK", "watchPatterns": [], "railwayConfigFile": None,
    "dockerfilePath": None, "overlapSeconds": None, "drainingSeconds": None,
}
NON_NULL_SETTINGS = {"restartPolicyType", "restartPolicyMaxRetries", "builder", "watchPatterns"}


@dataclass
class ServiceInstance:
    id: str
    serviceId: str
    environmentId: str
    settings: dict[str, Any] = field(default_factory=lambda: dict(INSTANCE_DEFAULTS))
    source: dict[str, Any] | None = None  # {"image": ..., "repo": ...}
    limitOverride: dict[str, float] | None = None  # {"memoryGB": ..., "vCPUs": ...}
    createdAt: str = field(default_factory=now_iso)
    updatedAt: str = field(default_factory=now_iso)


@dataclass
class Volume:
    id: str
    name: str
    projectId: str
    createdAt: str = field(default_factory=now_iso)


@dataclass
class VolumeInstance:
    id: str
    volumeId: str
    environmentId: str
    mountPath: str
    serviceId: str | None = None
    sizeMB: int = DEFAULT_VOLUME_MB
    region: str = "us-west2"
    state: str = "READY"
    backupKinds: list[str] = field(default_factory=list)
    sized: bool = False  # the first explicit size of a new volume is free; after that it only grows
    createdAt: str = field(default_factory=now_iso)


@dataclass
class Backup:
    id: str
    volumeInstanceId: str
    name: str | None
    usedMB: int
    volumeInstanceSizeMB: int
    scheduleId: str | None = None
    locked: bool = False
    createdAt: str = field(default_factory=now_iso)
    expiresAt: str | None = None


@dataclass
class ServiceDomain:
    """A Railway-provided `*.up.railway.app` domain of a service in one environment."""

    id: str
    domain: str
    serviceId: str
    environmentId: str
    projectId: str
    targetPort: int | None = None
    createdAt: str = field(default_factory=now_iso)
    updatedAt: str = field(default_factory=now_iso)


@dataclass
class CustomDomain(ServiceDomain):
    """A domain the user owns; same shape, its DNS status is computed (custom_domain_status)."""


@dataclass
class Deployment:
    id: str
    serviceId: str
    environmentId: str
    projectId: str
    createdTs: float
    snapshot: dict[str, Any]  # settings + source + rendered variable names at deploy time
    outcome: str = "SUCCESS"  # where the status ends: SUCCESS, FAILED or CRASHED
    stopped: bool = False
    removed: bool = False
    rolledBackFrom: str | None = None


@dataclass
class Behaviour:
    """How a service's app behaves once deployed; tests set it through the admin endpoint."""

    healthy: bool = True
    deployOutcome: str = "SUCCESS"  # FAILED makes new deployments fail (e.g. a failing migration)
    errorRate: float = 0.001        # share of HTTP answers that are 5xx
    latencyMs: float = 120.0        # p95 response time
    memoryPeak: float = 0.45        # share of the memory limit reached after `creepSeconds`
    cpu: float = 0.2                # share of the vCPU limit in use
    creepSeconds: float = 300.0


@dataclass
class NotificationRule:
    id: str
    workspaceId: str
    projectId: str | None
    eventTypes: list[str]
    severities: list[str]
    channels: list[dict[str, Any]]
    ephemeralEnvironments: bool | None = None
    createdAt: str = field(default_factory=now_iso)
    updatedAt: str = field(default_factory=now_iso)


TABLES: dict[str, type] = {
    "projects": Project, "environments": Environment, "services": Service, "instances": ServiceInstance,
    "volumes": Volume, "volume_instances": VolumeInstance, "backups": Backup, "service_domains": ServiceDomain,
    "custom_domains": CustomDomain, "deployments": Deployment, "behaviours": Behaviour,
    "notification_rules": NotificationRule,
}

REF = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
SECRET_FN = re.compile(r"secret\(\s*(\d+)\s*(?:,\s*[\"']([^\"']*)[\"'])?\s*\)")


@dataclass
class Token:
    """An API token: an account token (Bearer) or a project token (Project-Access-Token)."""

    value: str
    workspaceId: str
    projectId: str | None = None
    environmentId: str | None = None
    id: str = field(default_factory=new_id)
    name: str = "emulator"
    createdAt: str = field(default_factory=now_iso)

    @property
    def is_project_token(self) -> bool:
        return self.projectId is not None


class Backend:
    """All of Railway the emulator models, behind one lock, optionally persisted to a SQLite file."""

    def __init__(self, state_path: str | None = None, deploy_seconds: float = 0.3) -> None:
        self.lock = threading.RLock()
        self.state_path = state_path
        self.deploy_seconds = deploy_seconds
        self.workspace_id = "4f2c1f0e-0000-4000-8000-000000000001"
        self.tables: dict[str, dict[str, Any]] = {name: {} for name in TABLES}
        self.variables: dict[str, dict[str, str]] = {}  # "env|service-or-shared" -> {name: value}
        self.sealed: dict[str, set[str]] = {}
        self.workflows: dict[str, dict[str, Any]] = {}
        self.project_tokens: dict[str, Token] = {}
        if state_path:
            self._load()

    # ---- persistence -------------------------------------------------------------------------------
    def _load(self) -> None:
        with sqlite3.connect(self.state_path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
            row = db.execute("SELECT doc FROM state WHERE id = 1").fetchone()
        if not row:
            return
        doc = json.loads(row[0])
        for name, cls in TABLES.items():
            self.tables[name] = {k: cls(**v) for k, v in doc["tables"].get(name, {}).items()}
        self.variables = doc["variables"]
        self.sealed = {k: set(v) for k, v in doc["sealed"].items()}
        self.workflows = doc["workflows"]
        self.project_tokens = {k: Token(**v) for k, v in doc["project_tokens"].items()}

    def save(self) -> None:
        if not self.state_path:
            return
        doc = {
            "tables": {n: {k: asdict(v) for k, v in t.items()} for n, t in self.tables.items()},
            "variables": self.variables, "sealed": {k: sorted(v) for k, v in self.sealed.items()},
            "workflows": self.workflows, "project_tokens": {k: asdict(v) for k, v in self.project_tokens.items()},
        }
        with sqlite3.connect(self.state_path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
            db.execute("INSERT OR REPLACE INTO state (id, doc) VALUES (1, ?)", (json.dumps(doc),))

    def reset(self) -> None:
        with self.lock:
            self.tables = {name: {} for name in TABLES}
            self.variables, self.sealed, self.workflows, self.project_tokens = {}, {}, {}, {}
            self.save()

    # ---- lookups with access checks ----------------------------------------------------------------
    def _get(self, table: str, id_: str, kind: str) -> Any:
        obj = self.tables[table].get(id_)
        if obj is None or getattr(obj, "deletedAt", None):
            raise NotFound(kind)
        return obj

    def check_project(self, tok: Token, project_id: str) -> None:
        project = self.tables["projects"].get(project_id)
        if tok.is_project_token:
            if project_id != tok.projectId:
                raise NotAuthorized()
        elif project is not None and project.workspaceId != tok.workspaceId:
            raise NotAuthorized()

    def check_env_scope(self, tok: Token, env_ids: list[str]) -> None:
        """A project token reaches its own environment only (Railway's schema: a project token "has access to a
        specific environment"): a write that would touch another environment is refused."""
        if tok.is_project_token and any(e != tok.environmentId for e in env_ids):
            raise NotAuthorized()

    def _in_token_env(self, tok: Token, env_ids: list[str]) -> None:
        """A project-level object (service, volume) is visible to a project token through its environment only."""
        if tok.is_project_token and tok.environmentId not in set(env_ids):
            raise NotAuthorized()

    def check_environment(self, tok: Token, env: Environment) -> None:
        self.check_project(tok, env.projectId)
        if tok.is_project_token and env.id != tok.environmentId:
            raise NotAuthorized()

    def project(self, tok: Token, project_id: str) -> Project:
        self.check_project(tok, project_id)
        return self._get("projects", project_id, "Project")

    def environment(self, tok: Token, env_id: str) -> Environment:
        env = self.tables["environments"].get(env_id)
        if env is not None:
            self.check_environment(tok, env)
        return self._get("environments", env_id, "Environment")

    def service(self, tok: Token, service_id: str) -> Service:
        svc = self.tables["services"].get(service_id)
        if svc is not None:
            self.check_project(tok, svc.projectId)
            self._in_token_env(tok, self._service_envs(service_id))
        return self._get("services", service_id, "Service")

    def _service_envs(self, service_id: str) -> list[str]:
        return [i.environmentId for i in self.tables["instances"].values() if i.serviceId == service_id]

    def instance(self, tok: Token, env_id: str, service_id: str) -> ServiceInstance:
        env, svc = self.environment(tok, env_id), self.service(tok, service_id)
        if env.projectId != svc.projectId:
            raise NotFound("ServiceInstance")
        for inst in self.tables["instances"].values():
            if inst.environmentId == env_id and inst.serviceId == service_id:
                return inst
        raise NotFound("ServiceInstance")

    def volume(self, tok: Token, volume_id: str) -> Volume:
        vol = self.tables["volumes"].get(volume_id)
        if vol is not None:
            self.check_project(tok, vol.projectId)
            self._in_token_env(tok, [vi.environmentId for vi in self.volume_instances_of(volume_id=volume_id)])
        return self._get("volumes", volume_id, "Volume")

    def volume_instance(self, tok: Token, vi_id: str) -> VolumeInstance:
        vi = self.tables["volume_instances"].get(vi_id)
        if vi is None:
            raise NotFound("VolumeInstance")
        self.environment(tok, vi.environmentId)
        return vi

    def deployment(self, tok: Token, dep_id: str) -> Deployment:
        dep = self.tables["deployments"].get(dep_id)
        if dep is None or dep.removed:
            raise NotFound("Deployment")
        self.environment(tok, dep.environmentId)
        return dep

    def projects(self, tok: Token) -> list[Project]:
        return [p for p in self.tables["projects"].values() if not p.deletedAt
                and (p.id == tok.projectId if tok.is_project_token else p.workspaceId == tok.workspaceId)]

    def environments(self, tok: Token, project_id: str, is_ephemeral: bool | None = None) -> list[Environment]:
        self.project(tok, project_id)
        envs = [e for e in self.tables["environments"].values() if e.projectId == project_id and not e.deletedAt]
        if tok.is_project_token:
            envs = [e for e in envs if e.id == tok.environmentId]
        return [e for e in envs if is_ephemeral is None or e.isEphemeral == is_ephemeral]

    def services_of(self, project_id: str) -> list[Service]:
        return [s for s in self.tables["services"].values() if s.projectId == project_id and not s.deletedAt]

    def instances_of_env(self, env_id: str) -> list[ServiceInstance]:
        return [i for i in self.tables["instances"].values() if i.environmentId == env_id]

    def volumes_of(self, project_id: str) -> list[Volume]:
        return [v for v in self.tables["volumes"].values() if v.projectId == project_id]

    def volume_instances_of(self, *, env_id: str | None = None, volume_id: str | None = None) -> list[VolumeInstance]:
        return [vi for vi in self.tables["volume_instances"].values()
                if (env_id is None or vi.environmentId == env_id) and (volume_id is None or vi.volumeId == volume_id)]

    # ---- project tokens ----------------------------------------------------------------------------
    def project_token_create(self, tok: Token, inp: dict[str, Any]) -> str:
        """A token for one environment of a project; only an account/workspace token may make one."""
        if tok.is_project_token:
            raise NotAuthorized()
        self.project(tok, inp["projectId"])
        env = self.tables["environments"].get(inp["environmentId"])
        if env is None or env.deletedAt or env.projectId != inp["projectId"]:
            raise NotFound("Environment")
        value = "rpt_" + secrets.token_hex(16)
        self.project_tokens[value] = Token(value, tok.workspaceId, env.projectId, env.id, name=inp["name"])
        return value

    def project_tokens_of(self, tok: Token, project_id: str) -> list[Token]:
        if tok.is_project_token:
            raise NotAuthorized()
        self.project(tok, project_id)
        return [t for t in self.project_tokens.values() if t.projectId == project_id]

    def project_token_delete(self, tok: Token, token_id: str) -> bool:
        found = next((t for t in self.project_tokens.values() if t.id == token_id), None)
        if tok.is_project_token:
            raise NotAuthorized()
        if found is None:
            raise NotFound("Project token")
        self.check_project(tok, found.projectId or "")
        del self.project_tokens[found.value]
        return True

    # ---- projects ----------------------------------------------------------------------------------
    def project_create(self, tok: Token, inp: dict[str, Any]) -> Project:
        if tok.is_project_token:
            raise NotAuthorized()
        ws = inp.get("workspaceId") or tok.workspaceId
        if ws != tok.workspaceId:
            raise NotAuthorized()
        project = Project(id=new_id(), name=inp.get("name") or _generated_name(), workspaceId=ws,
                          description=inp.get("description"), isPublic=bool(inp.get("isPublic")),
                          prDeploys=bool(inp.get("prDeploys")))
        self.tables["projects"][project.id] = project
        env = Environment(id=new_id(), name=inp.get("defaultEnvironmentName") or "production", projectId=project.id)
        self.tables["environments"][env.id] = env
        project.primaryEnvironmentId = project.baseEnvironmentId = env.id
        return project

    def project_update(self, tok: Token, project_id: str, inp: dict[str, Any]) -> Project:
        project = self.project(tok, project_id)
        for key in ("name", "description", "isPublic", "prDeploys", "baseEnvironmentId", "focusedPrEnvironments",
                    "botPrEnvironments"):
            if key in inp:
                if key == "name" and not inp[key]:
                    raise BadRequest("Project name cannot be empty")
                setattr(project, key, inp[key])
        project.updatedAt = now_iso()
        return project

    def project_delete(self, tok: Token, project_id: str) -> bool:
        if tok.is_project_token:
            raise NotAuthorized()
        self.project(tok, project_id)
        for env in self.environments(tok, project_id):
            self._environment_purge(env.id)
        for table in ("services", "volumes"):
            for obj in [o for o in self.tables[table].values() if o.projectId == project_id]:
                del self.tables[table][obj.id]
        del self.tables["projects"][project_id]
        return True

    # ---- environments ------------------------------------------------------------------------------
    def environment_create(self, tok: Token, inp: dict[str, Any]) -> Environment:
        if tok.is_project_token:
            raise NotAuthorized()
        project = self.project(tok, inp["projectId"])
        name = inp["name"].strip()
        if not name:
            raise BadRequest("Environment name cannot be empty")
        if any(e.name == name for e in self.environments(tok, project.id)):
            raise BadRequest(f"Environment with name {name} already exists")
        env = Environment(id=new_id(), name=name, projectId=project.id, isEphemeral=bool(inp.get("ephemeral")),
                          sourceEnvironmentId=inp.get("sourceEnvironmentId"))
        source = self.environment(tok, env.sourceEnvironmentId) if env.sourceEnvironmentId else None
        if source is not None and source.projectId != project.id:
            raise NotFound("Environment")
        self.tables["environments"][env.id] = env
        if source is not None:
            self._copy_environment(source, env, deploy=not inp.get("skipInitialDeploys"))
        return env

    def _copy_environment(self, source: Environment, env: Environment, deploy: bool) -> None:
        """Duplicates services' instances, volumes and variables; sealed variables stay behind (Railway docs)."""
        for inst in self.instances_of_env(source.id):
            copy = ServiceInstance(id=new_id(), serviceId=inst.serviceId, environmentId=env.id,
                                   settings=json.loads(json.dumps(inst.settings)), source=dict(inst.source or {}) or None,
                                   limitOverride=dict(inst.limitOverride) if inst.limitOverride else None)
            self.tables["instances"][copy.id] = copy
        for vi in self.volume_instances_of(env_id=source.id):
            self._add_volume_instance(vi.volumeId, env.id, vi.mountPath, vi.serviceId, vi.sizeMB)
        for key, values in list(self.variables.items()):
            env_id, scope = key.split("|", 1)
            if env_id == source.id:
                sealed = self.sealed.get(key, set())
                self.variables[f"{env.id}|{scope}"] = {k: v for k, v in values.items() if k not in sealed}
        if deploy:
            for inst in self.instances_of_env(env.id):
                if inst.source:
                    self._deploy(inst)

    def environment_rename(self, tok: Token, env_id: str, name: str) -> Environment:
        env = self.environment(tok, env_id)
        if any(e.name == name and e.id != env_id for e in self.environments(tok, env.projectId)):
            raise BadRequest(f"Environment with name {name} already exists")
        env.name, env.updatedAt = name, now_iso()
        return env

    def environment_delete(self, tok: Token, env_id: str) -> bool:
        if tok.is_project_token:
            raise NotAuthorized()
        env = self.environment(tok, env_id)
        if len(self.environments(tok, env.projectId)) == 1:
            raise BadRequest("Cannot delete the last environment of a project")
        self._environment_purge(env_id)
        return True

    def _environment_purge(self, env_id: str) -> None:
        for table in ("instances", "service_domains", "custom_domains", "deployments"):
            for key in [k for k, o in self.tables[table].items() if o.environmentId == env_id]:
                del self.tables[table][key]
        for vi in self.volume_instances_of(env_id=env_id):
            self._drop_volume_instance(vi.id)
        for key in [k for k in self.variables if k.startswith(env_id + "|")]:
            self.variables.pop(key)
            self.sealed.pop(key, None)
        self.tables["environments"].pop(env_id, None)

    # ---- services ----------------------------------------------------------------------------------
    def service_create(self, tok: Token, inp: dict[str, Any]) -> Service:
        project = self.project(tok, inp["projectId"])
        name = inp.get("name") or _generated_name()
        source = _source(inp.get("source"))
        env_id = inp.get("environmentId")
        if tok.is_project_token and not env_id:
            raise NotAuthorized()
        envs = self._service_scope(tok, project.id, env_id)
        # Names are unique within an environment; a fork may hold a service named like one of its source's.
        if any(name in self._service_names_in(env.id) for env in envs):
            raise BadRequest(f"Service with name {name} already exists")
        svc = Service(id=new_id(), name=name, projectId=project.id, icon=inp.get("icon"),
                      templateId=inp.get("templateId"))
        self.tables["services"][svc.id] = svc
        for env in envs:
            inst = ServiceInstance(id=new_id(), serviceId=svc.id, environmentId=env.id, source=source)
            self.tables["instances"][inst.id] = inst
            if inp.get("variables"):
                self._upsert_variables(env.id, svc.id, inp["variables"], replace=False)
            if source:
                self._deploy(inst)
        return svc

    def service_update(self, tok: Token, service_id: str, inp: dict[str, Any]) -> Service:
        svc = self.service(tok, service_id)
        self.check_env_scope(tok, self._service_envs(service_id))  # a rename shows in every environment
        if "name" in inp and inp["name"]:
            envs = [i.environmentId for i in self.tables["instances"].values() if i.serviceId == svc.id]
            if any(inp["name"] in self._service_names_in(e, besides=svc.id) for e in envs):
                raise BadRequest(f"Service with name {inp['name']} already exists")
            svc.name = inp["name"]
        if "icon" in inp:
            svc.icon = inp["icon"]
        svc.updatedAt = now_iso()
        return svc

    def service_connect(self, tok: Token, service_id: str, inp: dict[str, Any]) -> Service:
        svc = self.service(tok, service_id)
        self.check_env_scope(tok, self._service_envs(service_id))
        for inst in [i for i in self.tables["instances"].values() if i.serviceId == service_id]:
            inst.source = _source(inp)
            self._deploy(inst)
        return svc

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

    def service_delete(self, tok: Token, service_id: str, env_id: str | None) -> bool:
        """With environmentId: the instances in that fork only, or in every non-fork environment (forks keep
        theirs); the service itself goes when no instance is left (assumed). Without: the whole service."""
        svc = self.service(tok, service_id)
        if env_id:
            for env in self._service_scope(tok, svc.projectId, env_id):
                self._purge_service_in_env(service_id, env.id)
            if not any(i.serviceId == svc.id for i in self.tables["instances"].values()):
                del self.tables["services"][svc.id]
            return True
        if tok.is_project_token:
            raise NotAuthorized()
        for inst in [i for i in self.tables["instances"].values() if i.serviceId == svc.id]:
            self._purge_service_in_env(svc.id, inst.environmentId)
        del self.tables["services"][svc.id]
        return True

    def _service_names_in(self, env_id: str, besides: str | None = None) -> set[str]:
        return {self.tables["services"][i.serviceId].name for i in self.instances_of_env(env_id)
                if i.serviceId != besides}

    def _purge_service_in_env(self, service_id: str, env_id: str) -> None:
        for table in ("instances", "service_domains", "custom_domains", "deployments"):
            for key in [k for k, o in self.tables[table].items()
                        if o.serviceId == service_id and o.environmentId == env_id]:
                del self.tables[table][key]
        for vi in self.volume_instances_of(env_id=env_id):
            if vi.serviceId == service_id:
                vi.serviceId = None
        self.variables.pop(f"{env_id}|{service_id}", None)

    def instance_update(self, tok: Token, service_id: str, env_id: str | None, inp: dict[str, Any]) -> bool:
        targets = ([self.instance(tok, env_id, service_id)] if env_id else
                   [i for i in self.tables["instances"].values() if i.serviceId == self.service(tok, service_id).id])
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

    def limits_update(self, tok: Token, inp: dict[str, Any]) -> bool:
        inst = self.instance(tok, inp["environmentId"], inp["serviceId"])
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

    # ---- variables ---------------------------------------------------------------------------------
    @staticmethod
    def _var_key(env_id: str, service_id: str | None) -> str:
        return f"{env_id}|{service_id or 'shared'}"

    def _upsert_variables(self, env_id: str, service_id: str | None, values: dict[str, Any], replace: bool) -> None:
        for name, value in values.items():
            if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name):
                raise BadRequest(f"Invalid variable name: {name}")
            if value is None:
                raise BadRequest(f"Variable {name} must have a value")
        key = self._var_key(env_id, service_id)
        current = {} if replace else dict(self.variables.get(key, {}))
        current.update({k: _expand_generators(str(v)) for k, v in values.items()})
        self.variables[key] = current

    def _scope_check(self, tok: Token, project_id: str, env_id: str, service_id: str | None) -> Environment:
        env = self.environment(tok, env_id)
        if env.projectId != project_id:
            raise NotFound("Environment")
        if service_id:
            self.instance(tok, env_id, service_id)
        return env

    def variable_upsert(self, tok: Token, inp: dict[str, Any]) -> bool:
        self._scope_check(tok, inp["projectId"], inp["environmentId"], inp.get("serviceId"))
        self._upsert_variables(inp["environmentId"], inp.get("serviceId"), {inp["name"]: inp["value"]}, replace=False)
        self._after_variable_change(inp, inp.get("skipDeploys"))
        return True

    def variable_collection_upsert(self, tok: Token, inp: dict[str, Any]) -> bool:
        self._scope_check(tok, inp["projectId"], inp["environmentId"], inp.get("serviceId"))
        self._upsert_variables(inp["environmentId"], inp.get("serviceId"), inp["variables"] or {},
                               replace=bool(inp.get("replace")))
        self._after_variable_change(inp, inp.get("skipDeploys"))
        return True

    def variable_delete(self, tok: Token, inp: dict[str, Any]) -> bool:
        self._scope_check(tok, inp["projectId"], inp["environmentId"], inp.get("serviceId"))
        values = self.variables.get(self._var_key(inp["environmentId"], inp.get("serviceId")), {})
        if inp["name"] not in values:
            raise NotFound("Variable")
        del values[inp["name"]]
        self._after_variable_change(inp, False)
        return True

    def _after_variable_change(self, inp: dict[str, Any], skip_deploys: bool | None) -> None:
        """Variable changes redeploy the affected services (all of the environment for shared ones)."""
        if skip_deploys:
            return
        for inst in self.instances_of_env(inp["environmentId"]):
            if inst.source and (not inp.get("serviceId") or inst.serviceId == inp["serviceId"]):
                self._deploy(inst)

    def variables_of(self, tok: Token, project_id: str, env_id: str, service_id: str | None,
                     unrendered: bool) -> dict[str, str]:
        env = self._scope_check(tok, project_id, env_id, service_id)
        key = self._var_key(env_id, service_id)
        raw = {k: v for k, v in self.variables.get(key, {}).items() if k not in self.sealed.get(key, set())}
        if unrendered:
            return raw
        provided = self._provided_variables(env, service_id)
        return {**provided, **{k: self._render(v, env, service_id) for k, v in raw.items()}}

    def _provided_variables(self, env: Environment, service_id: str | None) -> dict[str, str]:
        project = self.tables["projects"][env.projectId]
        out = {"RAILWAY_PROJECT_ID": project.id, "RAILWAY_PROJECT_NAME": project.name,
               "RAILWAY_ENVIRONMENT_ID": env.id, "RAILWAY_ENVIRONMENT_NAME": env.name,
               "RAILWAY_ENVIRONMENT": env.name}
        if not service_id:
            return out
        svc = self.tables["services"][service_id]
        out.update({"RAILWAY_SERVICE_ID": svc.id, "RAILWAY_SERVICE_NAME": svc.name,
                    "RAILWAY_PRIVATE_DOMAIN": f"{_slug(svc.name)}.railway.internal"})
        domains = [d.domain for d in self.tables["service_domains"].values()
                   if d.serviceId == service_id and d.environmentId == env.id]
        if domains:
            out["RAILWAY_PUBLIC_DOMAIN"] = domains[0]
        for vi in self.volume_instances_of(env_id=env.id):
            if vi.serviceId == service_id:
                out["RAILWAY_VOLUME_NAME"] = self.tables["volumes"][vi.volumeId].name
                out["RAILWAY_VOLUME_MOUNT_PATH"] = vi.mountPath
        return out

    def _render(self, value: str, env: Environment, service_id: str | None, depth: int = 0) -> str:
        """Resolves `${{VAR}}`, `${{shared.VAR}}` and `${{Service.VAR}}`; unknown references render empty."""
        if depth > 8:
            return value

        def lookup(match: re.Match[str]) -> str:
            ref = match.group(1)
            scope_name, _, var = ref.rpartition(".")
            if not scope_name:
                target = service_id
            elif scope_name == "shared":
                target = None
            else:
                target = next((s.id for s in self.services_of(env.projectId) if s.name == scope_name), "")
                if not target:
                    return ""
            values = {**self._provided_variables(env, target),
                      **self.variables.get(self._var_key(env.id, target), {})}
            if var not in values and target == service_id:
                values.update(self.variables.get(self._var_key(env.id, None), {}))
            return self._render(values.get(var, ""), env, target, depth + 1)

        return REF.sub(lookup, value)

    # ---- volumes and backups -----------------------------------------------------------------------
    def volume_create(self, tok: Token, inp: dict[str, Any]) -> Volume:
        project = self.project(tok, inp["projectId"])
        mount = inp["mountPath"]
        if not mount.startswith("/"):
            raise BadRequest("Mount path must be an absolute path")
        env_id, service_id = inp.get("environmentId"), inp.get("serviceId")
        if service_id:
            self.service(tok, service_id)
        if env_id:
            env = self.environment(tok, env_id)
            if service_id:
                inst = self.instance(tok, env.id, service_id)
                if (inst.settings.get("numReplicas") or 1) > 1:
                    raise BadRequest("Volumes cannot be attached to services with multiple replicas")
                if any(vi.serviceId == service_id for vi in self.volume_instances_of(env_id=env.id)):
                    raise BadRequest("Service already has a volume attached")
        vol = Volume(id=new_id(), name=_generated_name(), projectId=project.id)
        self.tables["volumes"][vol.id] = vol
        # An absent environmentId (or null) creates no instance, as users of the real API found (TF #61).
        if env_id:
            self._add_volume_instance(vol.id, env_id, mount, service_id, DEFAULT_VOLUME_MB, inp.get("region"))
        return vol

    def _add_volume_instance(self, volume_id: str, env_id: str, mount: str, service_id: str | None,
                             size_mb: int, region: str | None = None) -> VolumeInstance:
        vi = VolumeInstance(id=new_id(), volumeId=volume_id, environmentId=env_id, mountPath=mount,
                            serviceId=service_id, sizeMB=size_mb, region=region or "us-west2")
        self.tables["volume_instances"][vi.id] = vi
        return vi

    def _drop_volume_instance(self, vi_id: str) -> None:
        self.tables["volume_instances"].pop(vi_id, None)
        for key in [k for k, b in self.tables["backups"].items() if b.volumeInstanceId == vi_id]:
            del self.tables["backups"][key]

    def volume_update(self, tok: Token, volume_id: str, inp: dict[str, Any]) -> Volume:
        vol = self.volume(tok, volume_id)
        self.check_env_scope(tok, [vi.environmentId for vi in self.volume_instances_of(volume_id=volume_id)])
        if inp.get("name"):
            vol.name = inp["name"]
        return vol

    def volume_instance_update(self, tok: Token, volume_id: str, env_id: str | None, inp: dict[str, Any]) -> bool:
        self.volume(tok, volume_id)
        self.check_env_scope(tok, [env_id] if env_id else
                             [vi.environmentId for vi in self.volume_instances_of(volume_id=volume_id)])
        for vi in self.volume_instances_of(volume_id=volume_id):
            if env_id and vi.environmentId != env_id:
                continue
            if "mountPath" in inp and inp["mountPath"]:
                vi.mountPath = inp["mountPath"]
            if "serviceId" in inp:  # null detaches
                vi.serviceId = inp["serviceId"]
            if inp.get("state"):
                vi.state = inp["state"]
        return True

    def volume_delete(self, tok: Token, volume_id: str) -> bool:
        self.volume(tok, volume_id)
        self.check_env_scope(tok, [vi.environmentId for vi in self.volume_instances_of(volume_id=volume_id)])
        for vi in self.volume_instances_of(volume_id=volume_id):
            self._drop_volume_instance(vi.id)
        del self.tables["volumes"][volume_id]
        return True

    def volume_resize(self, vi: VolumeInstance, size_mb: int) -> None:
        if size_mb <= 0:
            raise BadRequest("Volume size must be positive")
        if vi.sized and size_mb < vi.sizeMB:
            raise BadRequest("Volumes cannot be downsized")
        vi.sizeMB, vi.sized = size_mb, True

    def backup_create(self, tok: Token, vi_id: str, name: str | None, schedule_id: str | None = None) -> str:
        vi = self.volume_instance(tok, vi_id)
        backup = Backup(id=new_id(), volumeInstanceId=vi.id, name=name or now_iso()[:19], usedMB=min(vi.sizeMB, 120),
                        volumeInstanceSizeMB=vi.sizeMB, scheduleId=schedule_id)
        self.tables["backups"][backup.id] = backup
        return self._workflow("Complete")

    def backups_of(self, tok: Token, vi_id: str) -> list[Backup]:
        self.volume_instance(tok, vi_id)
        return sorted((b for b in self.tables["backups"].values() if b.volumeInstanceId == vi_id),
                      key=lambda b: b.createdAt, reverse=True)

    def backup_delete(self, tok: Token, vi_id: str, backup_id: str) -> str:
        if not any(b.id == backup_id for b in self.backups_of(tok, vi_id)):
            raise NotFound("Backup")
        del self.tables["backups"][backup_id]
        return self._workflow("Complete")

    def backup_lock(self, tok: Token, vi_id: str, backup_id: str) -> bool:
        backup = next((b for b in self.backups_of(tok, vi_id) if b.id == backup_id), None)
        if backup is None:
            raise NotFound("Backup")
        backup.locked, backup.expiresAt = True, None
        return True

    def backup_restore(self, tok: Token, vi_id: str, backup_id: str) -> str:
        backups = self.backups_of(tok, vi_id)
        target = next((b for b in backups if b.id == backup_id), None)
        if target is None:
            raise NotFound("Backup")
        for newer in [b for b in backups if b.createdAt > target.createdAt]:  # restore removes newer backups
            del self.tables["backups"][newer.id]
        return self._workflow("Complete")

    def backup_schedule_update(self, tok: Token, vi_id: str, kinds: list[str]) -> bool:
        vi = self.volume_instance(tok, vi_id)
        vi.backupKinds = sorted(set(kinds))
        return True

    def backup_schedules(self, tok: Token, vi_id: str) -> list[dict[str, Any]]:
        vi = self.volume_instance(tok, vi_id)
        return [{"id": f"{vi.id}-{k.lower()}", "name": k.capitalize(), "cron": BACKUP_CRON[k], "kind": k,
                 "retentionSeconds": BACKUP_RETENTION[k], "createdAt": vi.createdAt} for k in vi.backupKinds]

    def _workflow(self, status: str, error: str | None = None) -> str:
        wf = new_id()
        self.workflows[wf] = {"status": status, "error": error}
        return wf

    def workflow(self, wf_id: str) -> dict[str, Any]:
        return self.workflows.get(wf_id, {"status": "NotFound", "error": None})

    # ---- domains -----------------------------------------------------------------------------------
    def _domain_taken(self, domain: str) -> bool:
        return any(d.domain == domain for d in self.tables["service_domains"].values()) or \
            any(d.domain == domain for d in self.tables["custom_domains"].values())

    def service_domain_create(self, tok: Token, inp: dict[str, Any]) -> ServiceDomain:
        inst = self.instance(tok, inp["environmentId"], inp["serviceId"])
        svc = self.tables["services"][inst.serviceId]
        if any(d.serviceId == svc.id and d.environmentId == inst.environmentId
               for d in self.tables["service_domains"].values()):
            raise BadRequest("Service already has a Railway-provided domain")
        while True:
            domain = f"{_slug(svc.name)}-{secrets.token_hex(3)}.{DOMAIN_SUFFIX}"
            if not self._domain_taken(domain):
                break
        dom = ServiceDomain(id=new_id(), domain=domain, serviceId=svc.id, environmentId=inst.environmentId,
                            projectId=svc.projectId, targetPort=inp.get("targetPort"))
        self.tables["service_domains"][dom.id] = dom
        return dom

    def service_domain_update(self, tok: Token, inp: dict[str, Any]) -> bool:
        dom = self.tables["service_domains"].get(inp["serviceDomainId"])
        if dom is None:
            raise NotFound("Service domain")
        self.instance(tok, dom.environmentId, dom.serviceId)
        domain = inp["domain"].lower()
        if not domain.endswith("." + DOMAIN_SUFFIX) or not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
                                                                         domain[: -len(DOMAIN_SUFFIX) - 1]):
            raise BadRequest(f"Invalid domain: {inp['domain']}")
        if domain != dom.domain and self._domain_taken(domain):
            raise BadRequest("Domain is not available")
        dom.domain, dom.updatedAt = domain, now_iso()
        if "targetPort" in inp:
            dom.targetPort = inp["targetPort"]
        return True

    def domain_available(self, domain: str) -> dict[str, Any]:
        taken = self._domain_taken(domain.lower())
        return {"available": not taken, "message": "Domain is not available" if taken else ""}

    def service_domain_delete(self, tok: Token, dom_id: str) -> bool:
        dom = self.tables["service_domains"].get(dom_id)
        if dom is None:
            raise NotFound("Service domain")
        self.environment(tok, dom.environmentId)
        del self.tables["service_domains"][dom_id]
        return True

    def custom_domain_create(self, tok: Token, inp: dict[str, Any]) -> CustomDomain:
        self._scope_check(tok, inp["projectId"], inp["environmentId"], inp["serviceId"])
        domain = inp["domain"].lower()
        if not re.fullmatch(r"([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}", domain) or domain.endswith(DOMAIN_SUFFIX):
            raise BadRequest(f"Invalid domain: {inp['domain']}")
        if self._domain_taken(domain):
            raise BadRequest("Domain is not available")
        dom = CustomDomain(id=new_id(), domain=domain, serviceId=inp["serviceId"], environmentId=inp["environmentId"],
                           projectId=inp["projectId"], targetPort=inp.get("targetPort"))
        self.tables["custom_domains"][dom.id] = dom
        return dom

    def custom_domain(self, tok: Token, dom_id: str) -> CustomDomain:
        dom = self.tables["custom_domains"].get(dom_id)
        if dom is None:
            raise NotFound("Custom domain")
        self.environment(tok, dom.environmentId)
        return dom

    def custom_domain_update(self, tok: Token, dom_id: str, target_port: int | None) -> bool:
        self.custom_domain(tok, dom_id).targetPort = target_port
        return True

    def custom_domain_delete(self, tok: Token, dom_id: str) -> bool:
        self.custom_domain(tok, dom_id)
        del self.tables["custom_domains"][dom_id]
        return True

    def custom_domain_status(self, dom: CustomDomain) -> dict[str, Any]:
        """DNS is never set up for an emulated domain: records wait for an update, like a fresh real one."""
        host, _, zone = dom.domain.partition(".")
        target = next((d.domain for d in self.tables["service_domains"].values()
                       if d.serviceId == dom.serviceId and d.environmentId == dom.environmentId),
                      f"{secrets.token_hex(4)}.{DOMAIN_SUFFIX}")
        token = f"railway-verify={dom.id.replace('-', '')[:24]}"
        records = [
            {"hostlabel": host, "fqdn": dom.domain, "recordType": "DNS_RECORD_TYPE_CNAME", "requiredValue": target,
             "currentValue": "", "status": "DNS_RECORD_STATUS_REQUIRES_UPDATE", "zone": zone,
             "purpose": "DNS_RECORD_PURPOSE_TRAFFIC_ROUTE"},
            {"hostlabel": f"_railway-verify.{host}", "fqdn": f"_railway-verify.{dom.domain}",
             "recordType": "DNS_RECORD_TYPE_TXT", "requiredValue": token, "currentValue": "",
             "status": "DNS_RECORD_STATUS_REQUIRES_UPDATE", "zone": zone, "purpose": "DNS_RECORD_PURPOSE_VERIFICATION"},
        ]
        return {"dnsRecords": records, "verificationDnsHost": f"_railway-verify.{host}", "verificationToken": token,
                "verified": False, "certificateStatus": "CERTIFICATE_STATUS_TYPE_VALIDATING_OWNERSHIP",
                "certificateErrorMessage": None, "cdnProvider": "DETECTED_CDN_PROVIDER_UNSPECIFIED"}

    def domains_of(self, env_id: str, service_id: str) -> dict[str, list[Any]]:
        return {"serviceDomains": [d for d in self.tables["service_domains"].values()
                                   if d.environmentId == env_id and d.serviceId == service_id],
                "customDomains": [d for d in self.tables["custom_domains"].values()
                                  if d.environmentId == env_id and d.serviceId == service_id]}

    # ---- deployments -------------------------------------------------------------------------------
    # Deployment statuses are computed from the age of a deployment on this clock; EmulatorServer gives each
    # backend a movable one (tests advance it instead of sleeping).
    clock: SystemClock = SystemClock()

    def behaviour(self, service_id: str) -> Behaviour:
        return self.tables["behaviours"].setdefault(service_id, Behaviour())

    def _deploy(self, inst: ServiceInstance, snapshot: dict[str, Any] | None = None,
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

    def deployments_of(self, tok: Token, inp: dict[str, Any]) -> list[Deployment]:
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

    def deploy(self, tok: Token, service_id: str, env_id: str) -> Deployment:
        inst = self.instance(tok, env_id, service_id)
        if not inst.source:
            raise BadRequest("Service has no source to deploy")
        return self._deploy(inst)

    def redeploy(self, tok: Token, dep_id: str) -> Deployment:
        dep = self.deployment(tok, dep_id)
        inst = self.instance(tok, dep.environmentId, dep.serviceId)
        return self._deploy(inst)

    def rollback(self, tok: Token, dep_id: str) -> bool:
        dep = self.deployment(tok, dep_id)
        if not self.can_rollback(dep):
            raise BadRequest("Cannot rollback to this deployment")
        inst = self.instance(tok, dep.environmentId, dep.serviceId)
        self._deploy(inst, snapshot=dep.snapshot, rolled_back_from=dep.id)
        return True

    def deployment_stop(self, tok: Token, dep_id: str, remove: bool = False) -> bool:
        dep = self.deployment(tok, dep_id)
        dep.stopped = True
        dep.removed = dep.removed or remove
        return True

    # ---- templates (Postgres) ----------------------------------------------------------------------
    def template(self, code: str | None) -> dict[str, Any]:
        if code not in TEMPLATES:
            raise NotFound("Template")
        return {"id": TEMPLATES[code]["id"], "code": code, "name": TEMPLATES[code]["name"],
                "serializedConfig": TEMPLATES[code]["config"]}

    def template_deploy(self, tok: Token, inp: dict[str, Any]) -> dict[str, Any]:
        project_id, env_id = inp.get("projectId"), inp.get("environmentId")
        if not project_id or not env_id:
            raise BadRequest("projectId and environmentId are required")
        env = self.environment(tok, env_id)
        if env.projectId != project_id:
            raise NotFound("Environment")
        config = inp["serializedConfig"] or {}
        for spec in (config.get("services") or {}).values():
            svc = self.service_create(tok, {"projectId": project_id, "environmentId": env_id,
                                            "name": spec.get("name"), "source": spec.get("source"),
                                            "templateId": inp["templateId"],
                                            "variables": {k: (v or {}).get("defaultValue", "")
                                                          for k, v in (spec.get("variables") or {}).items()}})
            mount = (spec.get("volumeMounts") or {})
            for vm in mount.values():
                self.volume_create(tok, {"projectId": project_id, "environmentId": env_id, "serviceId": svc.id,
                                         "mountPath": vm["mountPath"]})
        return {"projectId": project_id, "workflowId": self._workflow("Complete")}

    # ---- environment config ------------------------------------------------------------------------
    def environment_config(self, env: Environment, decrypt: bool) -> dict[str, Any]:
        services: dict[str, Any] = {}
        for inst in self.instances_of_env(env.id):
            key = self._var_key(env.id, inst.serviceId)
            deploy = {k: v for k, v in inst.settings.items() if k not in ("buildCommand", "builder", "watchPatterns",
                                                                          "rootDirectory", "dockerfilePath")}
            if inst.limitOverride:
                deploy["limitOverride"] = self.limits_json(inst, merged=False)
            services[inst.serviceId] = {
                "source": inst.source or {},
                "build": {"builder": inst.settings["builder"], "buildCommand": inst.settings["buildCommand"]},
                "deploy": deploy,
                "variables": {k: {"value": v if decrypt else "*****", "isSealed": k in self.sealed.get(key, set())}
                              for k, v in self.variables.get(key, {}).items()},
                "networking": {
                    "serviceDomains": {d.domain: {"port": d.targetPort} for d in
                                       self.domains_of(env.id, inst.serviceId)["serviceDomains"]},
                    "customDomains": {d.domain: {"port": d.targetPort} for d in
                                      self.domains_of(env.id, inst.serviceId)["customDomains"]}},
                "volumeMounts": {vi.volumeId: {"mountPath": vi.mountPath} for vi in
                                 self.volume_instances_of(env_id=env.id) if vi.serviceId == inst.serviceId},
            }
        shared_key = self._var_key(env.id, None)
        return {"services": services,
                "sharedVariables": {k: {"value": v if decrypt else "*****"}
                                    for k, v in self.variables.get(shared_key, {}).items()},
                "volumes": {vi.volumeId: {"sizeMB": vi.sizeMB, "region": vi.region}
                            for vi in self.volume_instances_of(env_id=env.id)}}

    def config_etag(self, env: Environment) -> str:
        import hashlib
        return hashlib.sha256(json.dumps(self.environment_config(env, True), sort_keys=True, default=str)
                              .encode()).hexdigest()[:20]

    def environment_patch_commit(self, tok: Token, env_id: str, patch: dict[str, Any] | None) -> str:
        """Applies the parts of an EnvironmentConfig patch the emulator models; `null` for a key deletes it."""
        env = self.environment(tok, env_id)
        patch = patch or {}
        changed: list[ServiceInstance] = []
        for service_id, spec in (patch.get("services") or {}).items():
            if spec is None:  # this environment's instance only, never the service; an absent one is no change
                self._purge_service_in_env(service_id, env.id)
                continue
            inst = self.instance(tok, env.id, service_id)
            changed.append(inst)
            deploy = dict(spec.get("deploy") or {})
            limits = deploy.pop("limitOverride", UNSET)
            settings = {k: v for k, v in deploy.items() if k in INSTANCE_DEFAULTS}
            settings.update({k: v for k, v in (spec.get("build") or {}).items() if k in INSTANCE_DEFAULTS})
            if "source" in spec:
                settings["source"] = spec["source"]
            if settings:
                self.instance_update(tok, service_id, env.id, settings)
            if limits is not UNSET:
                containers = (limits or {}).get("containers") or {}
                self.limits_update(tok, {"environmentId": env.id, "serviceId": service_id,
                                         "memoryGB": containers["memoryBytes"] / 1024 ** 3
                                         if containers.get("memoryBytes") else None,
                                         "vCPUs": containers.get("cpu")})
            self._patch_variables(env.id, service_id, spec.get("variables"))
        self._patch_variables(env.id, None, patch.get("sharedVariables"))
        for volume_id, spec in (patch.get("volumes") or {}).items():
            vi = next((v for v in self.volume_instances_of(env_id=env.id) if v.volumeId == volume_id), None)
            if spec is None:  # this environment's volume instance only, never the volume
                if vi is not None:
                    self._drop_volume_instance(vi.id)
                continue
            if vi is None:
                raise NotFound("Volume")
            if "sizeMB" in spec:
                self.volume_resize(vi, int(spec["sizeMB"]))
        for inst in changed:  # committing deploys what the patch changed (cf. environmentPatchCommitStaged)
            if inst.source:
                self._deploy(inst)
        return self._workflow("Complete")

    def _patch_variables(self, env_id: str, service_id: str | None, spec: dict[str, Any] | None) -> None:
        if not spec:
            return
        key = self._var_key(env_id, service_id)
        current = self.variables.setdefault(key, {})
        for name, entry in spec.items():
            if entry is None:
                current.pop(name, None)
                continue
            current[name] = _expand_generators(str(entry.get("value", "")))
            if entry.get("isSealed"):
                self.sealed.setdefault(key, set()).add(name)

    # ---- notification rules and metrics ------------------------------------------------------------
    def _rule_scope(self, tok: Token, workspace_id: str, project_id: str | None) -> None:
        if tok.is_project_token or workspace_id != tok.workspaceId:
            raise NotAuthorized()
        if project_id:
            self.project(tok, project_id)

    @staticmethod
    def _channels(configs: list[Any], workspace_id: str) -> list[dict[str, Any]]:
        for config in configs:
            if not isinstance(config, dict) or config.get("type") not in ("webhook", "email", "slack"):
                raise BadRequest("Each channel config needs a type: webhook, email or slack")
        return [{"id": new_id(), "config": c, "workspaceId": workspace_id, "createdAt": now_iso(),
                 "updatedAt": now_iso()} for c in configs]

    def notification_rule_create(self, tok: Token, inp: dict[str, Any]) -> NotificationRule:
        self._rule_scope(tok, inp["workspaceId"], inp.get("projectId"))
        if not inp["eventTypes"]:
            raise BadRequest("A notification rule needs at least one event type")
        rule = NotificationRule(id=new_id(), workspaceId=inp["workspaceId"], projectId=inp.get("projectId"),
                                eventTypes=list(inp["eventTypes"]), severities=list(inp.get("severities") or []),
                                channels=self._channels(inp["channelConfigs"], inp["workspaceId"]),
                                ephemeralEnvironments=inp.get("ephemeralEnvironments"))
        self.tables["notification_rules"][rule.id] = rule
        return rule

    def notification_rule(self, tok: Token, rule_id: str) -> NotificationRule:
        rule = self.tables["notification_rules"].get(rule_id)
        if rule is None:
            raise NotFound("Notification rule")
        self._rule_scope(tok, rule.workspaceId, None)
        return rule

    def notification_rule_update(self, tok: Token, rule_id: str, inp: dict[str, Any]) -> NotificationRule:
        rule = self.notification_rule(tok, rule_id)
        for key in ("eventTypes", "severities", "ephemeralEnvironments"):
            if key in inp and inp[key] is not None:
                setattr(rule, key, inp[key])
        if inp.get("channelConfigs") is not None:
            rule.channels = self._channels(inp["channelConfigs"], rule.workspaceId)
        rule.updatedAt = now_iso()
        return rule

    def notification_rule_delete(self, tok: Token, rule_id: str) -> bool:
        self.notification_rule(tok, rule_id)
        del self.tables["notification_rules"][rule_id]
        return True

    def notification_rules(self, tok: Token, workspace_id: str, project_id: str | None) -> list[NotificationRule]:
        self._rule_scope(tok, workspace_id, project_id)
        return [r for r in self.tables["notification_rules"].values()
                if r.workspaceId == workspace_id and (project_id is None or r.projectId == project_id)]

    def metric_window(self, tok: Token, service_id: str, env_id: str) -> tuple[Deployment | None, ServiceInstance]:
        inst = self.instance(tok, env_id, service_id)
        return self.active_deployment(service_id, env_id), inst

    # ---- inventory (admin) -------------------------------------------------------------------------
    def inventory(self) -> dict[str, Any]:
        """Everything held, by kind, for tests that look for orphans and duplicates."""
        with self.lock:
            out: dict[str, Any] = {name: [asdict(o) for o in t.values()] for name, t in self.tables.items()
                                   if name != "behaviours"}
            out["variables"] = {k: sorted(v) for k, v in self.variables.items() if v}
            return out


TEMPLATES: dict[str, dict[str, Any]] = {
    "postgres": {
        "id": "a0e7d5e8-7bb8-4b8f-9a57-postgres0001",
        "name": "PostgreSQL",
        "config": {"services": {"postgres": {
            "name": "Postgres",
            "source": {"image": "ghcr.io/railwayapp-templates/postgres-ssl:16"},
            "volumeMounts": {"data": {"mountPath": POSTGRES_MOUNT}},
            "variables": {
                "PGDATA": {"defaultValue": f"{POSTGRES_MOUNT}/pgdata"},
                "PGHOST": {"defaultValue": "${{RAILWAY_PRIVATE_DOMAIN}}"},
                "PGPORT": {"defaultValue": "5432"},
                "PGUSER": {"defaultValue": "${{POSTGRES_USER}}"},
                "PGPASSWORD": {"defaultValue": "${{POSTGRES_PASSWORD}}"},
                "PGDATABASE": {"defaultValue": "${{POSTGRES_DB}}"},
                "POSTGRES_USER": {"defaultValue": "postgres"},
                "POSTGRES_DB": {"defaultValue": "railway"},
                "POSTGRES_PASSWORD": {"defaultValue": "${{ secret(32, \"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\") }}"},
                "DATABASE_URL": {"defaultValue": "postgresql://${{PGUSER}}:${{POSTGRES_PASSWORD}}@${{RAILWAY_PRIVATE_DOMAIN}}:5432/${{PGDATABASE}}"},
                "SSL_CERT_DAYS": {"defaultValue": "820"},
            },
        }}},
    },
}


def _expand_generators(value: str) -> str:
    """Template generators such as `${{ secret(32, "abc") }}` are evaluated once, when the value is stored."""
    def gen(match: re.Match[str]) -> str:
        fn = SECRET_FN.fullmatch(match.group(1).strip())
        if not fn:
            return match.group(0)
        return generate_secret(int(fn.group(1)), fn.group(2) or string.ascii_letters + string.digits)
    return REF.sub(gen, value)


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


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "service"


def _generated_name() -> str:
    adjectives = ["brave", "calm", "eager", "gentle", "lively", "proud", "quiet", "witty"]
    nouns = ["otter", "falcon", "maple", "comet", "harbor", "meadow", "summit", "river"]
    return f"{secrets.choice(adjectives)}-{secrets.choice(nouns)}-{secrets.token_hex(2)}"
