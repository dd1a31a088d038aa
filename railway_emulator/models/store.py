"""The store every area backend shares: tables, persistence, reset, and lookups with Railway's access checks.

The composed `Backend` (see `__init__`) inherits this once; each area mixin reads and writes the tables through it.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict
from typing import Any

from railway_emulator.clock import SystemClock
from railway_emulator.errors import NotAuthorized, NotFound
from railway_emulator.models.records import (TABLES, Deployment, Environment, Project, Service, ServiceInstance,
                                             Token, Volume, VolumeInstance, new_id)


DEFAULT_WORKSPACE_ID = "4f2c1f0e-0000-4000-8000-000000000001"


class Store:
    """All of Railway the emulator models, behind one lock, optionally persisted to a SQLite file."""

    # Deployment statuses, metric windows and every record's createdAt/updatedAt move with this clock
    # (records are stamped through clock.CURRENT, which the server sets per connection); EmulatorServer gives each
    # backend a movable one (tests advance it instead of sleeping).
    clock: SystemClock = SystemClock()

    def __init__(self, state_path: str | None = None, deploy_seconds: float = 0.3,
                 workspace_id: str | None = None) -> None:
        self.lock = threading.RLock()
        self.state_path = state_path
        self.deploy_seconds = deploy_seconds
        # the one workspace of the emulator's user; chosen to replay a world recorded with real ids
        self.workspace_id = workspace_id or DEFAULT_WORKSPACE_ID
        self.tables: dict[str, dict[str, Any]] = {name: {} for name in TABLES}
        self.variable_sets: dict[str, dict[str, str]] = {}  # "env|service-or-shared" -> {name: value}
        self.sealed: dict[str, set[str]] = {}
        self.workflows: dict[str, dict[str, Any]] = {}
        self.tokens_by_value: dict[str, Token] = {}
        if state_path:
            self._load()

    def _load(self) -> None:
        with sqlite3.connect(self.state_path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
            row = db.execute("SELECT doc FROM state WHERE id = 1").fetchone()
        if not row:
            return
        doc = json.loads(row[0])
        for name, cls in TABLES.items():
            self.tables[name] = {k: cls(**v) for k, v in doc["tables"].get(name, {}).items()}
        self.variable_sets = doc["variables"]
        self.sealed = {k: set(v) for k, v in doc["sealed"].items()}
        self.workflows = doc["workflows"]
        self.tokens_by_value = {k: Token(**v) for k, v in doc["project_tokens"].items()}

    def save(self) -> None:
        if not self.state_path:
            return
        doc = {
            "tables": {n: {k: asdict(v) for k, v in t.items()} for n, t in self.tables.items()},
            "variables": self.variable_sets, "sealed": {k: sorted(v) for k, v in self.sealed.items()},
            "workflows": self.workflows, "project_tokens": {k: asdict(v) for k, v in self.tokens_by_value.items()},
        }
        with sqlite3.connect(self.state_path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
            db.execute("INSERT OR REPLACE INTO state (id, doc) VALUES (1, ?)", (json.dumps(doc),))

    def reset(self) -> None:
        with self.lock:
            self.tables = {name: {} for name in TABLES}
            self.variable_sets, self.sealed, self.workflows, self.tokens_by_value = {}, {}, {}, {}
            self.save()

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

    def project(self, tok: Token, id: str) -> Project:
        self.check_project(tok, id)
        return self._get("projects", id, "Project")

    def environment(self, tok: Token, id: str, project_id: str | None = None) -> Environment:
        env = self.tables["environments"].get(id)
        if env is not None:
            self.check_environment(tok, env)
        return self._get("environments", id, "Environment")

    def service(self, tok: Token, id: str) -> Service:
        svc = self.tables["services"].get(id)
        if svc is not None:
            self.check_project(tok, svc.projectId)
            self._in_token_env(tok, self.service_envs(id))
        return self._get("services", id, "Service")

    def service_envs(self, service_id: str) -> list[str]:
        return [i.environmentId for i in self.tables["instances"].values() if i.serviceId == service_id]

    def service_instance(self, tok: Token, environment_id: str, service_id: str) -> ServiceInstance:
        env, svc = self.environment(tok, environment_id), self.service(tok, service_id)
        if env.projectId != svc.projectId:
            raise NotFound("ServiceInstance")
        for inst in self.tables["instances"].values():
            if inst.environmentId == environment_id and inst.serviceId == service_id:
                return inst
        raise NotFound("ServiceInstance")

    def volume(self, tok: Token, volume_id: str) -> Volume:
        vol = self.tables["volumes"].get(volume_id)
        if vol is not None:
            self.check_project(tok, vol.projectId)
            self._in_token_env(tok, [vi.environmentId for vi in self.volume_instances_of(volume_id=volume_id)])
        return self._get("volumes", volume_id, "Volume")

    def volume_instance(self, tok: Token, id: str) -> VolumeInstance:
        vi = self.tables["volume_instances"].get(id)
        if vi is None:
            raise NotFound("VolumeInstance")
        self.environment(tok, vi.environmentId)
        return vi

    def deployment(self, tok: Token, id: str) -> Deployment:
        dep = self.tables["deployments"].get(id)
        if dep is None or dep.removed:
            raise NotFound("Deployment")
        self.environment(tok, dep.environmentId)
        return dep

    def scope_check(self, tok: Token, project_id: str, env_id: str, service_id: str | None) -> Environment:
        """The environment, checked to be of the project (and to hold the service, when one is named)."""
        env = self.environment(tok, env_id)
        if env.projectId != project_id:
            raise NotFound("Environment")
        if service_id:
            self.service_instance(tok, env_id, service_id)
        return env

    def projects(self, tok: Token, **_unmodelled: Any) -> list[Project]:
        """The token's projects (includeDeleted, orderBy, userId, workspaceId are not modelled)."""
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

    def workflow_create(self, status: str, error: str | None = None) -> str:
        wf = new_id()
        self.workflows[wf] = {"status": status, "error": error}
        return wf

    def workflow_status(self, tok: Token, workflow_id: str) -> dict[str, Any]:
        return self.workflows.get(workflow_id, {"status": "NotFound", "error": None})

    # ---- reads for object fields (resolvers never touch the tables) ------------------------------------
    def source_environment(self, env: Environment) -> Environment | None:
        return self.tables["environments"].get(env.sourceEnvironmentId or "")

    def instances_of_service(self, service_id: str) -> list[ServiceInstance]:
        return [i for i in self.tables["instances"].values() if i.serviceId == service_id]

    def project_of(self, obj: Service | Token) -> Project:
        return self.tables["projects"][obj.projectId]

    def environment_of(self, obj: Token) -> Environment:
        return self.tables["environments"][obj.environmentId]

    def service_of(self, obj: ServiceInstance) -> Service:
        return self.tables["services"][obj.serviceId]

    def volume_of(self, vi: VolumeInstance) -> Volume:
        return self.tables["volumes"][vi.volumeId]

    def inventory(self) -> dict[str, Any]:
        """Everything held, by kind, for tests that look for orphans and duplicates."""
        with self.lock:
            out: dict[str, Any] = {name: [asdict(o) for o in t.values()] for name, t in self.tables.items()
                                   if name != "behaviours"}
            out["variables"] = {k: sorted(v) for k, v in self.variable_sets.items() if v}
            return out

