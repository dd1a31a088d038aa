"""Custom domain on a service, with the DNS records Railway asks for and their status."""
from __future__ import annotations

import re
from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers import snapshot
from infra.providers.base import (CheckFailure, CreateResult, Field, RailwayProvider, ReadResult, UpdateResult,
                                  client, create_once, ignore_missing)
from infra.providers.domain import SUFFIX, _domains

HOSTNAME = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _outs(d: dict[str, Any]) -> dict[str, Any]:
    status = d.get("status") or {}
    return {"target_port": d.get("targetPort"), "verified": bool(status.get("verified")),
            "certificate_status": status.get("certificateStatus"),
            "dns_records": [{"type": r["recordType"].removeprefix("DNS_RECORD_TYPE_"), "name": r["fqdn"],
                             "value": r["requiredValue"], "status": r["status"].removeprefix("DNS_RECORD_STATUS_")}
                            for r in status.get("dnsRecords") or []]}


class CustomDomainProvider(RailwayProvider):
    kind = "railway custom domain"
    fields = (Field("project_id", replaces=True), Field("environment_id", replaces=True),
              Field("service_id", replaces=True), Field("domain", replaces=True), Field("target_port"))
    required = ("project_id", "environment_id", "service_id", "domain")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        domain = str(news.get("domain") or "")
        if domain and (not HOSTNAME.match(domain) or domain.endswith(SUFFIX)):
            yield CheckFailure("domain", f"{self.kind}: {domain!r} must be a lowercase hostname you own "
                                         f"(not under {SUFFIX})")

    def create(self, props: dict[str, Any]) -> CreateResult:
        payload = {"projectId": props["project_id"], "environmentId": props["environment_id"],
                   "serviceId": props["service_id"], "domain": props["domain"], "targetPort": props.get("target_port")}
        d = create_once(
            lambda: client().mutate("CustomDomainCreate", idempotent=False, input=payload)["customDomainCreate"],
            lambda: next((x for x in _domains(props)["customDomains"] if x["domain"] == props["domain"]), None))
        return CreateResult(d["id"], {**self.inputs_of(props), **_outs(d)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:
            inst = snapshot.instance(props["environment_id"], props["service_id"])
            d = next((x for x in (inst["domains"]["customDomains"] if inst else []) if x["id"] == id_), None)
            return d and {"domain": d["domain"], **_outs(d)}
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client().mutate("CustomDomainUpdate", id=id_, environmentId=news["environment_id"],
                        targetPort=news.get("target_port"))
        keep = {k: olds.get(k) for k in ("verified", "certificate_status", "dns_records")}
        return UpdateResult({**self.inputs_of(news), **keep})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: client().mutate("CustomDomainDelete", id=id_))


class CustomDomain(Resource):
    dns_records: Output[list[dict[str, str]]]
    verified: Output[bool]

    def __init__(self, resource_name: str, *, project_id: Input[str], environment_id: Input[str],
                 service_id: Input[str], domain: Input[str], target_port: Input[int] | None = None,
                 opts: ResourceOptions | None = None) -> None:
        super().__init__(CustomDomainProvider(), resource_name, {
            "project_id": project_id, "environment_id": environment_id, "service_id": service_id, "domain": domain,
            "target_port": target_port, "dns_records": None, "verified": None, "certificate_status": None}, opts)
