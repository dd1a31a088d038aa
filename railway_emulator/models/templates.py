"""Templates: the Postgres template, deployed as a service with a volume (the only one the emulator models)."""
from __future__ import annotations

from typing import Any

from railway_emulator.errors import BadRequest, NotFound
from railway_emulator.models.records import POSTGRES_MOUNT, Token
from railway_emulator.models.store import Store

TEMPLATES: dict[str, dict[str, Any]] = {
    "postgres": {
        "id": "a0e7d5e8-7bb8-4b8f-9a57-postgres0001",
        "name": "PostgreSQL",
        "description": "A PostgreSQL database with a volume",
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


class TemplatesBackend(Store):
    """template, templateDeployV2."""

    def template(self, tok: Token, code: str | None = None, id: str | None = None,
                 **_unmodelled: Any) -> dict[str, Any]:
        """A template by code or id; only Postgres exists (lookups by GitHub owner and repo find nothing)."""
        code = next((c for c, spec in TEMPLATES.items() if c == code or (id and spec["id"] == id)), None)
        if code is None:
            raise NotFound("Template")
        spec = TEMPLATES[code]
        return {"id": spec["id"], "code": code, "name": spec["name"], "serializedConfig": spec["config"],
                "description": spec["description"], "image": spec["config"]["services"]["postgres"]["source"]["image"],
                "category": "Storage", "readme": None, "demoProjectId": None, "status": "PUBLISHED", "workspaceId": None}

    def template_deploy_v2(self, tok: Token, inp: dict[str, Any]) -> dict[str, Any]:
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
        return {"projectId": project_id, "workflowId": self.workflow_create("Complete")}
