"""Railway-provided domain (`*.up.railway.app`) with a chosen subdomain.

Railway generates a name on create; the chosen one is set with `serviceDomainUpdate` (as the Terraform
provider does). If the chosen name is refused, the generated domain is removed again: a failed create leaves
nothing behind."""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers import snapshot
from infra.providers.base import (CheckFailure, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult,
                                  client, create_once, ignore_missing)
from infra.railway.facts import DOMAIN_SUFFIX as SUFFIX, SUBDOMAIN, SUBDOMAIN_RULE



def subdomain_failure(kind: str, key: str, value: Any) -> CheckFailure | None:
    if value is None or SUBDOMAIN.match(str(value)):
        return None
    return CheckFailure(key, f"{kind}: subdomain {value!r} must be {SUBDOMAIN_RULE}")


def _domains(props: dict[str, Any]) -> dict[str, Any]:
    return client().query("DomainsRead", projectId=props["project_id"], environmentId=props["environment_id"],
                          serviceId=props["service_id"])["domains"]


class RailwayDomainProvider(RailwayProvider):
    kind = "railway domain"
    fields = (Field("project_id", replaces=True), Field("environment_id", replaces=True),
              Field("service_id", replaces=True), Field("subdomain"), Field("target_port"))
    required = ("project_id", "environment_id", "service_id")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        failure = subdomain_failure(self.kind, "subdomain", news.get("subdomain"))
        if failure:
            yield failure
        port = news.get("target_port")
        if port is not None and not (1 <= int(port) <= 65535):
            yield CheckFailure("target_port", f"{self.kind}: target_port {port} must be between 1 and 65535")

    def _rename(self, id_: str, props: dict[str, Any]) -> None:
        client().mutate("ServiceDomainUpdate", input={
            "serviceDomainId": id_, "environmentId": props["environment_id"], "serviceId": props["service_id"],
            "domain": f"{props['subdomain']}.{SUFFIX}", "targetPort": props.get("target_port")})

    def create(self, props: dict[str, Any]) -> CreateResult:
        payload = {"environmentId": props["environment_id"], "serviceId": props["service_id"],
                   "targetPort": props.get("target_port")}

        def find() -> dict[str, Any] | None:
            found = _domains(props)["serviceDomains"]
            return found[0] if found else None

        dom = create_once(lambda: client().mutate("ServiceDomainCreate", idempotent=False,
                                                  input=payload)["serviceDomainCreate"], find)
        domain = dom["domain"]
        if props.get("subdomain") and not domain.startswith(props["subdomain"] + "."):
            try:
                self._rename(dom["id"], props)
            except Exception:
                ignore_missing(lambda: client().mutate("ServiceDomainDelete", id=dom["id"]))
                raise
            domain = f"{props['subdomain']}.{SUFFIX}"
        return CreateResult(dom["id"], {**self.inputs_of(props), "domain": domain, "url": f"https://{domain}"})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:
            inst = snapshot.instance(props["environment_id"], props["service_id"])
            dom = next((d for d in (inst["domains"]["serviceDomains"] if inst else []) if d["id"] == id_), None)
            if dom is None:
                return None
            sub = dom["domain"].removesuffix("." + SUFFIX)
            return {"domain": dom["domain"], "url": f"https://{dom['domain']}", "target_port": dom["targetPort"],
                    "subdomain": sub if props.get("subdomain") is not None else None}
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        sub = news.get("subdomain") or olds.get("domain", "").removesuffix("." + SUFFIX)
        self._rename(id_, {**news, "subdomain": sub})
        domain = f"{sub}.{SUFFIX}"
        return UpdateResult({**self.inputs_of(news), "domain": domain, "url": f"https://{domain}"})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: client().mutate("ServiceDomainDelete", id=id_))


class RailwayDomain(Resource):
    domain: Output[str]
    url: Output[str]

    def __init__(self, resource_name: str, *, project_id: Input[str], environment_id: Input[str],
                 service_id: Input[str], subdomain: Input[str] | None = None, target_port: Input[int] | None = None,
                 opts: ResourceOptions | None = None) -> None:
        super().__init__(RailwayDomainProvider(), resource_name, {
            "project_id": project_id, "environment_id": environment_id, "service_id": service_id,
            "subdomain": subdomain, "target_port": target_port, "domain": None, "url": None}, opts)
