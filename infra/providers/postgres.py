"""PostgreSQL as Railway makes it on the image path: a service running the Postgres image with its variables,
and a volume at the data directory. The password is generated here, once, and kept secret; `database_url`
is exposed as a secret output for other services (they can also reference `${{Postgres.DATABASE_URL}}`)."""
from __future__ import annotations

import secrets
import string
from typing import Any

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.ownership import NotOwnedError
from infra.providers import secret_prints, snapshot
from infra.providers.base import (CheckResult, CreateResult, Field, RailwayProvider, ReadResult,
                                  UpdateResult, client, create_once, ignore_missing, undo_on_failure)
from infra.providers.volume import create_volume, resize, volume_failures

MOUNT_PATH = "/var/lib/postgresql/data"
PG_USER, PG_DB = "postgres", "railway"


def postgres_variables(password: str) -> dict[str, str]:
    """The variables Railway's Postgres carries (references resolve inside Railway)."""
    return {
        "POSTGRES_USER": PG_USER, "POSTGRES_DB": PG_DB, "POSTGRES_PASSWORD": password,
        "PGDATA": f"{MOUNT_PATH}/pgdata", "PGHOST": "${{RAILWAY_PRIVATE_DOMAIN}}", "PGPORT": "5432",
        "PGUSER": "${{POSTGRES_USER}}", "PGPASSWORD": "${{POSTGRES_PASSWORD}}", "PGDATABASE": "${{POSTGRES_DB}}",
        "DATABASE_URL": "postgresql://${{PGUSER}}:${{POSTGRES_PASSWORD}}@${{RAILWAY_PRIVATE_DOMAIN}}:5432/${{PGDATABASE}}",
    }


def database_url(service_name: str, password: str) -> str:
    host = f"{service_name.lower()}.railway.internal"
    return f"postgresql://{PG_USER}:{password}@{host}:5432/{PG_DB}"


class PostgresProvider(RailwayProvider):
    kind = "railway postgres"
    fields = (Field("project_id", replaces=True), Field("environment_id", replaces=True),
              Field("name", default="Postgres"), Field("image", default="postgres:16"), Field("volume_size_mb"))
    required = ("project_id", "environment_id")

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)
        result.failures.extend(volume_failures(self.kind, {"size_mb": olds.get("volume_size_mb")},
                                               {"size_mb": news.get("volume_size_mb")}))
        return result

    def create(self, props: dict[str, Any]) -> CreateResult:
        password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
        payload = {"projectId": props["project_id"], "environmentId": props["environment_id"],
                   "name": props["name"], "source": {"image": props["image"]},
                   "variables": postgres_variables(password)}

        def find() -> dict[str, Any] | None:
            env = client().query("ServiceFindInEnvironment", environmentId=props["environment_id"])["environment"]
            node = next((e["node"] for e in env["serviceInstances"]["edges"]
                         if e["node"]["serviceName"] == props["name"]), None)
            return node and {"id": node["serviceId"], "createdAt": node["createdAt"]}

        svc = create_once(lambda: client().mutate("ServiceCreate", idempotent=False, input=payload)["serviceCreate"],
                          find)
        adopted = svc.get("id") and "name" not in svc  # after a lost answer or a killed run: found by name
        if adopted:  # its password is Railway's
            password = self._state(svc["id"], props)["password"]
        # a volume someone else attached to the service stops the create: the service stays, never taking it along
        with undo_on_failure(lambda: client().mutate("ServiceDelete", id=svc["id"]), keep=(NotOwnedError,)):
            ids = create_volume(props["project_id"], props["environment_id"], svc["id"], MOUNT_PATH,
                                props.get("volume_size_mb"), svc.get("createdAt") if adopted else None,
                                check_found=True)
        return CreateResult(svc["id"], {**self.inputs_of(props), "service_id": svc["id"], **ids, "password": password,
                                        "database_url": database_url(props["name"], password)})

    @staticmethod
    def _state(id_: str, props: dict[str, Any]) -> dict[str, Any]:
        data = client().query("PostgresState", serviceId=id_, projectId=props["project_id"],
                              environmentId=props["environment_id"])
        vi = next((e["node"] for e in data["environment"]["volumeInstances"]["edges"]
                   if e["node"]["serviceId"] == id_), None)
        password = data["variables"].get("POSTGRES_PASSWORD", "")
        return {"name": data["service"]["name"], "image": (data["serviceInstance"]["source"] or {}).get("image"),
                "volume_size_mb": vi["sizeMB"] if vi else None, "volume_id": vi and vi["volumeId"],
                "volume_instance_id": vi and vi["id"], "password": password,
                "database_url": database_url(data["service"]["name"], password)}

    @staticmethod
    def _snapshot_state(id_: str, props: dict[str, Any]) -> dict[str, Any] | None:
        """What `_state` reads, from the run's snapshot of the environment."""
        env = props["environment_id"]
        inst = snapshot.instance(env, id_)
        if inst is None:
            return None
        vi = next((v for v in snapshot.volume_instances(env) or [] if v["serviceId"] == id_), None)
        password = (snapshot.variables(env, id_) or {}).get("POSTGRES_PASSWORD", "")
        return {"name": inst["serviceName"], "image": (inst["source"] or {}).get("image"),
                "volume_size_mb": vi["sizeMB"] if vi else None, "volume_id": vi and vi["volumeId"],
                "volume_instance_id": vi and vi["id"], "password": password,
                "database_url": database_url(inst["serviceName"], password)}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:
            state = self._snapshot_state(id_, props)
            if state is None:
                return None
            if props.get("volume_size_mb") is None:
                state["volume_size_mb"] = None  # size not managed: Railway's default is not drift
            if props.get("password"):  # under drift's key: its variables against the ones it made (names only)
                live = snapshot.variables(props["environment_id"], id_) or {}
                found = secret_prints.changes(postgres_variables(props["password"]), live)
                if found is not None:
                    state[secret_prints.CHANGES] = found
            return state
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if olds.get("name") != news["name"]:
            client().mutate("ServiceUpdate", id=id_, input={"name": news["name"]})
        if olds.get("image") != news["image"]:
            client().mutate("ServiceInstanceUpdate", serviceId=id_, environmentId=news["environment_id"],
                            input={"source": {"image": news["image"]}})
        if news.get("volume_size_mb") and news["volume_size_mb"] != olds.get("volume_size_mb"):
            resize(news["environment_id"], olds["volume_id"], int(news["volume_size_mb"]))
        keep = {k: olds.get(k) for k in ("service_id", "volume_id", "volume_instance_id", "password")}
        return UpdateResult({**self.inputs_of(news), **keep,
                             "database_url": database_url(news["name"], olds.get("password") or "")})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: client().mutate("ServiceDelete", id=id_))
        if props.get("volume_id"):
            ignore_missing(lambda: client().mutate("VolumeDelete", volumeId=props["volume_id"]))


class PostgresDatabase(Resource):
    """A PostgreSQL service with its data volume. Protect it (`protect=True`) where data must never be lost."""

    service_id: Output[str]
    volume_id: Output[str]
    volume_instance_id: Output[str]
    database_url: Output[str]
    password: Output[str]

    def __init__(self, resource_name: str, *, project_id: Input[str], environment_id: Input[str],
                 name: Input[str] = "Postgres", image: Input[str] = "postgres:16",
                 volume_size_mb: Input[int] | None = None, opts: ResourceOptions | None = None) -> None:
        opts = ResourceOptions.merge(opts, ResourceOptions(additional_secret_outputs=["password", "database_url"]))
        super().__init__(PostgresProvider(), resource_name, {
            "project_id": project_id, "environment_id": environment_id, "name": name, "image": image,
            "volume_size_mb": volume_size_mb, "service_id": None, "volume_id": None, "volume_instance_id": None,
            "password": None, "database_url": None}, opts)
