"""Projects, their environments (with forks) and project tokens."""
from __future__ import annotations

import json
import secrets
from typing import Any

from railway_emulator.errors import BadRequest, NotAuthorized, NotFound
from railway_emulator.models.records import Environment, Project, ServiceInstance, Token, generated_name, new_id, now_iso
from railway_emulator.models.store import Store


class ProjectsBackend(Store):
    """projectCreate/Update/Delete, projectScheduleDelete, environmentCreate/Rename/Delete, projectToken*."""

    def project_token(self, tok: Token) -> Token:
        """The project token making the request."""
        if not tok.is_project_token:
            raise NotFound("Project token")
        return tok

    def token_by_value(self, value: str) -> Token | None:
        return self.tokens_by_value.get(value)

    def project_token_create(self, tok: Token, inp: dict[str, Any]) -> str:
        """A token for one environment of a project; only an account/workspace token may make one."""
        if tok.is_project_token:
            raise NotAuthorized()
        self.project(tok, inp["projectId"])
        env = self.tables["environments"].get(inp["environmentId"])
        if env is None or env.deletedAt or env.projectId != inp["projectId"]:
            raise NotFound("Environment")
        value = "rpt_" + secrets.token_hex(16)
        self.tokens_by_value[value] = Token(value, tok.workspaceId, env.projectId, env.id, name=inp["name"])
        return value

    def project_tokens(self, tok: Token, project_id: str) -> list[Token]:
        if tok.is_project_token:
            raise NotAuthorized()
        self.project(tok, project_id)
        return [t for t in self.tokens_by_value.values() if t.projectId == project_id]

    def project_token_delete(self, tok: Token, id: str) -> bool:
        found = next((t for t in self.tokens_by_value.values() if t.id == id), None)
        if tok.is_project_token:
            raise NotAuthorized()
        if found is None:
            raise NotFound("Project token")
        self.check_project(tok, found.projectId or "")
        del self.tokens_by_value[found.value]
        return True

    def project_create(self, tok: Token, inp: dict[str, Any]) -> Project:
        if tok.is_project_token:
            raise NotAuthorized()
        ws = inp.get("workspaceId") or tok.workspaceId
        if ws != tok.workspaceId:
            raise NotAuthorized()
        project = Project(id=new_id(), name=inp.get("name") or generated_name(), workspaceId=ws,
                          description=inp.get("description"), isPublic=bool(inp.get("isPublic")),
                          prDeploys=bool(inp.get("prDeploys")))
        self.tables["projects"][project.id] = project
        env = Environment(id=new_id(), name=inp.get("defaultEnvironmentName") or "production", projectId=project.id)
        self.tables["environments"][env.id] = env
        project.primaryEnvironmentId = project.baseEnvironmentId = env.id
        return project

    def project_update(self, tok: Token, id: str, inp: dict[str, Any]) -> Project:
        """Project-wide settings (name, description, base environment...) reach beyond one environment, so an
        environment-scoped project token may not change them (as projectDelete, environmentCreate)."""
        if tok.is_project_token:
            raise NotAuthorized()
        project = self.project(tok, id)
        for key in ("name", "description", "isPublic", "prDeploys", "baseEnvironmentId", "focusedPrEnvironments",
                    "botPrEnvironments"):
            if key in inp:
                if key == "name" and not inp[key]:
                    raise BadRequest("Project name cannot be empty")
                setattr(project, key, inp[key])
        project.updatedAt = now_iso()
        return project

    def project_delete(self, tok: Token, id: str) -> bool:
        if tok.is_project_token:
            raise NotAuthorized()
        self.project(tok, id)
        for env in self.environments(tok, id):
            self._environment_purge(env.id)
        for table in ("services", "volumes"):
            for obj in [o for o in self.tables[table].values() if o.projectId == id]:
                del self.tables[table][obj.id]
        del self.tables["projects"][id]
        return True

    def project_schedule_delete(self, tok: Token, id: str) -> bool:
        """Deletes a project after a 48-hour grace period: it is gone from every read at once (deletedAt set) but
        its data is kept; the emulator never reaches the end of the grace period (assumed: no purge)."""
        if tok.is_project_token:
            raise NotAuthorized()
        project = self.project(tok, id)
        project.deletedAt = project.updatedAt = now_iso()
        return True

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
                          sourceEnvironmentId=inp.get("sourceEnvironmentId"), createdAt=now_iso(self.clock.now()))
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
            self.add_volume_instance(vi.volumeId, env.id, vi.mountPath, vi.serviceId, vi.sizeMB)
        for key, values in list(self.variable_sets.items()):
            env_id, scope = key.split("|", 1)
            if env_id == source.id:
                sealed = self.sealed.get(key, set())
                self.variable_sets[f"{env.id}|{scope}"] = {k: v for k, v in values.items() if k not in sealed}
        if deploy:
            for inst in self.instances_of_env(env.id):
                if inst.source:
                    self.deploy_instance(inst)

    def environment_rename(self, tok: Token, id: str, inp: dict[str, Any]) -> Environment:
        env, name = self.environment(tok, id), inp["name"]
        if any(e.name == name and e.id != id for e in self.environments(tok, env.projectId)):
            raise BadRequest(f"Environment with name {name} already exists")
        env.name, env.updatedAt = name, now_iso()
        return env

    def environment_delete(self, tok: Token, id: str) -> bool:
        if tok.is_project_token:
            raise NotAuthorized()
        env = self.environment(tok, id)
        if len(self.environments(tok, env.projectId)) == 1:
            raise BadRequest("Cannot delete the last environment of a project")
        self._environment_purge(id)
        return True

    def _environment_purge(self, env_id: str) -> None:
        for table in ("instances", "service_domains", "custom_domains", "deployments", "tcp_proxies",
                      "staged_patches"):
            for key in [k for k, o in self.tables[table].items() if o.environmentId == env_id]:
                del self.tables[table][key]
        for vi in self.volume_instances_of(env_id=env_id):
            self.drop_volume_instance(vi.id)
        for key in [k for k in self.variable_sets if k.startswith(env_id + "|")]:
            self.variable_sets.pop(key)
            self.sealed.pop(key, None)
        self.tables["environments"].pop(env_id, None)
