"""Variables: service and shared variables per environment, sealing, references and Railway-provided ones."""
from __future__ import annotations

import re
import string
from typing import Any

from railway_emulator.errors import BadRequest, NotFound
from railway_emulator.models.records import Environment, Token, generate_secret, slug
from railway_emulator.models.store import Store

REF = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
SECRET_FN = re.compile(r"secret\(\s*(\d+)\s*(?:,\s*[\"']([^\"']*)[\"'])?\s*\)")


class VariablesBackend(Store):
    """variableUpsert, variableCollectionUpsert, variableDelete, variables, variablesForServiceDeployment."""

    @staticmethod
    def var_key(env_id: str, service_id: str | None) -> str:
        return f"{env_id}|{service_id or 'shared'}"

    def upsert_variables(self, env_id: str, service_id: str | None, values: dict[str, Any], replace: bool) -> None:
        for name, value in values.items():
            if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name):
                raise BadRequest(f"Invalid variable name: {name}")
            if value is None:
                raise BadRequest(f"Variable {name} must have a value")
        key = self.var_key(env_id, service_id)
        current = {} if replace else dict(self.variable_sets.get(key, {}))
        current.update({k: expand_generators(str(v)) for k, v in values.items()})
        self.variable_sets[key] = current

    def variable_upsert(self, tok: Token, inp: dict[str, Any]) -> bool:
        self.scope_check(tok, inp["projectId"], inp["environmentId"], inp.get("serviceId"))
        self.upsert_variables(inp["environmentId"], inp.get("serviceId"), {inp["name"]: inp["value"]}, replace=False)
        self._after_variable_change(inp, inp.get("skipDeploys"))
        return True

    def variable_collection_upsert(self, tok: Token, inp: dict[str, Any]) -> bool:
        self.scope_check(tok, inp["projectId"], inp["environmentId"], inp.get("serviceId"))
        self.upsert_variables(inp["environmentId"], inp.get("serviceId"), inp["variables"] or {},
                               replace=bool(inp.get("replace")))
        self._after_variable_change(inp, inp.get("skipDeploys"))
        return True

    def variable_delete(self, tok: Token, inp: dict[str, Any]) -> bool:
        self.scope_check(tok, inp["projectId"], inp["environmentId"], inp.get("serviceId"))
        values = self.variable_sets.get(self.var_key(inp["environmentId"], inp.get("serviceId")), {})
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
                self.deploy_instance(inst)

    def variables(self, tok: Token, project_id: str, environment_id: str, service_id: str | None = None,
                  unrendered: bool | None = None) -> dict[str, str]:
        env = self.scope_check(tok, project_id, environment_id, service_id)
        key = self.var_key(environment_id, service_id)
        raw = {k: v for k, v in self.variable_sets.get(key, {}).items() if k not in self.sealed.get(key, set())}
        if unrendered:
            return raw
        provided = self._provided_variables(env, service_id)
        return {**provided, **{k: self._render(v, env, service_id) for k, v in raw.items()}}

    def variables_for_service_deployment(self, tok: Token, project_id: str, environment_id: str,
                                         service_id: str) -> dict[str, str]:
        return self.variables(tok, project_id, environment_id, service_id)

    def _provided_variables(self, env: Environment, service_id: str | None) -> dict[str, str]:
        project = self.tables["projects"][env.projectId]
        out = {"RAILWAY_PROJECT_ID": project.id, "RAILWAY_PROJECT_NAME": project.name,
               "RAILWAY_ENVIRONMENT_ID": env.id, "RAILWAY_ENVIRONMENT_NAME": env.name,
               "RAILWAY_ENVIRONMENT": env.name}
        if not service_id:
            return out
        svc = self.tables["services"][service_id]
        out.update({"RAILWAY_SERVICE_ID": svc.id, "RAILWAY_SERVICE_NAME": svc.name,
                    "RAILWAY_PRIVATE_DOMAIN": f"{slug(svc.name)}.railway.internal"})
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
                      **self.variable_sets.get(self.var_key(env.id, target), {})}
            if var not in values and target == service_id:
                values.update(self.variable_sets.get(self.var_key(env.id, None), {}))
            return self._render(values.get(var, ""), env, target, depth + 1)

        return REF.sub(lookup, value)


def expand_generators(value: str) -> str:
    """Template generators such as `${{ secret(32, "abc") }}` are evaluated once, when the value is stored."""
    def gen(match: re.Match[str]) -> str:
        fn = SECRET_FN.fullmatch(match.group(1).strip())
        if not fn:
            return match.group(0)
        return generate_secret(int(fn.group(1)), fn.group(2) or string.ascii_letters + string.digits)
    return REF.sub(gen, value)
