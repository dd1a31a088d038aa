"""An environment's whole configuration as one document (Environment.config) and patches committed to it."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from railway_emulator.errors import BadRequest, NotFound
from railway_emulator.models.records import (INSTANCE_DEFAULTS, UNSET, Environment, ServiceInstance, StagedPatch, Token,
                                             new_id, now_iso)
from railway_emulator.models.store import Store
from railway_emulator.models.variables import expand_generators


class EnvironmentConfigBackend(Store):
    """Environment.config / configEtag, environmentPatchCommit, environmentStageChanges and its commit."""

    def environment_config(self, env: Environment, decrypt: bool) -> dict[str, Any]:
        services: dict[str, Any] = {}
        for inst in self.instances_of_env(env.id):
            key = self.var_key(env.id, inst.serviceId)
            deploy = {k: v for k, v in inst.settings.items() if k not in ("buildCommand", "builder", "watchPatterns",
                                                                          "rootDirectory", "dockerfilePath")}
            if inst.limitOverride:
                deploy["limitOverride"] = self.limits_json(inst, merged=False)
            services[inst.serviceId] = {
                "source": inst.source or {},
                "build": {"builder": inst.settings["builder"], "buildCommand": inst.settings["buildCommand"]},
                "deploy": deploy,
                "variables": {k: {"value": v if decrypt else "*****", "isSealed": k in self.sealed.get(key, set())}
                              for k, v in self.variable_sets.get(key, {}).items()},
                "networking": {
                    "serviceDomains": {d.domain: {"port": d.targetPort} for d in
                                       self.domains_of(env.id, inst.serviceId)["serviceDomains"]},
                    "customDomains": {d.domain: {"port": d.targetPort} for d in
                                      self.domains_of(env.id, inst.serviceId)["customDomains"]}},
                "volumeMounts": {vi.volumeId: {"mountPath": vi.mountPath} for vi in
                                 self.volume_instances_of(env_id=env.id) if vi.serviceId == inst.serviceId},
            }
        shared_key = self.var_key(env.id, None)
        return {"services": services,
                "sharedVariables": {k: {"value": v if decrypt else "*****"}
                                    for k, v in self.variable_sets.get(shared_key, {}).items()},
                "volumes": {vi.volumeId: {"sizeMB": vi.sizeMB, "region": vi.region}
                            for vi in self.volume_instances_of(env_id=env.id)}}

    def config_etag(self, env: Environment) -> str:
        return hashlib.sha256(json.dumps(self.environment_config(env, True), sort_keys=True, default=str)
                              .encode()).hexdigest()[:20]

    def environment_patch_commit(self, tok: Token, environment_id: str, patch: dict[str, Any] | None = None,
                                 commit_message: str | None = None) -> str:
        """Applies the parts of an EnvironmentConfig patch the emulator models; `null` for a key deletes it."""
        return self._apply_patch(tok, self.environment(tok, environment_id), patch or {}, skip_deploys=False)

    # ---- staged changes ------------------------------------------------------------------------------------
    def environment_staged_changes(self, tok: Token, environment_id: str) -> StagedPatch:
        """The environment's staged patch; an environment with nothing staged has an empty one (assumed: the field
        is non-null and Railway does not say what it holds before anything is staged)."""
        env = self.environment(tok, environment_id)
        staged = next((p for p in self.tables["staged_patches"].values() if p.environmentId == env.id), None)
        if staged is None:
            staged = StagedPatch(id=new_id(), environmentId=env.id, patch={})
            self.tables["staged_patches"][staged.id] = staged
        return staged

    def environment_stage_changes(self, tok: Token, environment_id: str, inp: dict[str, Any],
                                  merge: bool | None = None) -> StagedPatch:
        """Sets the staged patch, or with `merge` merges the input into what is staged (a key's `null` is kept:
        it deletes that key when committed). Nothing changes in the environment until the commit."""
        staged = self.environment_staged_changes(tok, environment_id)
        staged.patch = _merged(staged.patch, inp or {}) if merge else json.loads(json.dumps(inp or {}))
        staged.updatedAt = now_iso()
        return staged

    def environment_patch_commit_staged(self, tok: Token, environment_id: str, commit_message: str | None = None,
                                        skip_deploys: bool | None = None) -> str:
        """Commits the staged patch; `skipDeploys` leaves the affected services undeployed. The staged patch is
        then gone (the next read starts empty)."""
        env = self.environment(tok, environment_id)
        staged = self.environment_staged_changes(tok, env.id)
        if not staged.patch:
            raise BadRequest("No staged changes to commit")  # assumed message
        workflow = self._apply_patch(tok, env, staged.patch, skip_deploys=bool(skip_deploys))
        del self.tables["staged_patches"][staged.id]
        return workflow

    def staged_patch_view(self, staged: StagedPatch, decrypt: bool) -> dict[str, Any]:
        """EnvironmentPatch.patch: variable values are masked unless decryptVariables, as in Environment.config."""
        view = json.loads(json.dumps(staged.patch))
        if not decrypt:
            scopes = [*(s.get("variables") for s in (view.get("services") or {}).values() if s),
                      view.get("sharedVariables")]
            for variables in filter(None, scopes):
                for entry in filter(None, variables.values()):
                    if "value" in entry:
                        entry["value"] = "*****"
        return view

    def _apply_patch(self, tok: Token, env: Environment, patch: dict[str, Any], skip_deploys: bool) -> str:
        changed: list[ServiceInstance] = []
        for service_id, spec in (patch.get("services") or {}).items():
            if spec is None:  # this environment's instance only, never the service; an absent one is no change
                self.purge_service_in_env(service_id, env.id)
                continue
            inst = self.service_instance(tok, env.id, service_id)
            changed.append(inst)
            deploy = dict(spec.get("deploy") or {})
            limits = deploy.pop("limitOverride", UNSET)
            settings = {k: v for k, v in deploy.items() if k in INSTANCE_DEFAULTS}
            settings.update({k: v for k, v in (spec.get("build") or {}).items() if k in INSTANCE_DEFAULTS})
            if "source" in spec:
                settings["source"] = spec["source"]
            if settings:
                self.service_instance_update(tok, service_id, settings, env.id)
            if limits is not UNSET:
                containers = (limits or {}).get("containers") or {}
                self.service_instance_limits_update(tok, {"environmentId": env.id, "serviceId": service_id,
                                         "memoryGB": containers["memoryBytes"] / 1024 ** 3
                                         if containers.get("memoryBytes") else None,
                                         "vCPUs": containers.get("cpu")})
            self._patch_variables(env.id, service_id, spec.get("variables"))
            self.patch_service_domains(env.id, service_id, (spec.get("networking") or {}).get("serviceDomains") or {})
        self._patch_variables(env.id, None, patch.get("sharedVariables"))
        for volume_id, spec in (patch.get("volumes") or {}).items():
            vi = next((v for v in self.volume_instances_of(env_id=env.id) if v.volumeId == volume_id), None)
            if spec is None:  # this environment's volume instance only, never the volume
                if vi is not None:
                    self.drop_volume_instance(vi.id)
                continue
            if vi is None:
                raise NotFound("Volume")
            if "sizeMB" in spec:
                self.volume_resize(vi, int(spec["sizeMB"]))
        for inst in [] if skip_deploys else changed:  # committing deploys what the patch changed
            if inst.source:
                self.deploy_instance(inst)
        return self.workflow_create("Complete")

    def _patch_variables(self, env_id: str, service_id: str | None, spec: dict[str, Any] | None) -> None:
        if not spec:
            return
        key = self.var_key(env_id, service_id)
        current = self.variable_sets.setdefault(key, {})
        for name, entry in spec.items():
            if entry is None:
                current.pop(name, None)
                continue
            current[name] = expand_generators(str(entry.get("value", "")))
            if entry.get("isSealed"):
                self.sealed.setdefault(key, set()).add(name)


def _merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of EnvironmentConfig patches: objects merge key by key, anything else (null too) replaces."""
    out = json.loads(json.dumps(base))
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = json.loads(json.dumps(value))
    return out
