"""Domains: Railway-provided `*.up.railway.app` service domains, custom domains with their DNS status, and TCP
proxies (a public host and port in front of a service instance)."""
from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from railway_emulator.errors import BadRequest, NotFound
from railway_emulator.models.records import (DOMAIN_SUFFIX, CustomDomain, ServiceDomain, TcpProxy, Token, new_id,
                                             now_iso, slug)
from railway_emulator.models.store import Store


TCP_PROXY_HOST = "emulator.proxy.rlwy.net"


class DomainsBackend(Store):
    """serviceDomainCreate/Update/Delete, customDomain*, domains, *DomainAvailable, tcpProxy*."""

    def _domain_taken(self, domain: str) -> bool:
        return any(d.domain == domain for d in self.tables["service_domains"].values()) or \
            any(d.domain == domain for d in self.tables["custom_domains"].values())

    def service_domain_create(self, tok: Token, inp: dict[str, Any]) -> ServiceDomain:
        inst = self.service_instance(tok, inp["environmentId"], inp["serviceId"])
        svc = self.tables["services"][inst.serviceId]
        if any(d.serviceId == svc.id and d.environmentId == inst.environmentId
               for d in self.tables["service_domains"].values()):
            raise BadRequest("Service already has a Railway-provided domain")
        while True:
            domain = f"{slug(svc.name)}-{secrets.token_hex(3)}.{DOMAIN_SUFFIX}"
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
        self.service_instance(tok, dom.environmentId, dom.serviceId)
        domain = self._free_service_domain(inp["domain"], dom.domain)
        dom.domain, dom.updatedAt = domain, now_iso()
        if "targetPort" in inp:
            dom.targetPort = inp["targetPort"]
        return True

    def _free_service_domain(self, requested: str, current: str | None = None) -> str:
        domain = requested.lower()
        if not domain.endswith("." + DOMAIN_SUFFIX) or not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
                                                                         domain[: -len(DOMAIN_SUFFIX) - 1]):
            raise BadRequest(f"Invalid domain: {requested}")
        if domain != current and self._domain_taken(domain):
            raise BadRequest("Domain is not available")
        return domain

    def patch_service_domains(self, env_id: str, service_id: str, spec: dict[str, Any]) -> None:
        """An EnvironmentConfig patch's `networking.serviceDomains` (`{<domain>: {port}}`, the Railway CLI's
        structs): a new name makes the instance's Railway domain with that name (renaming the one it has: an
        instance holds one), a known one takes the port, `null` removes it. Assumed, as Railway documents the
        shape only: the name is checked like `serviceDomainUpdate`'s."""
        for name, entry in spec.items():
            mine = next((d for d in self.tables["service_domains"].values()
                         if d.environmentId == env_id and d.serviceId == service_id), None)
            if entry is None:
                if mine is not None and mine.domain == name.lower():
                    del self.tables["service_domains"][mine.id]
                continue
            domain = self._free_service_domain(name, mine.domain if mine else None)
            if mine is None:
                svc = self.tables["services"][service_id]
                mine = ServiceDomain(id=new_id(), domain=domain, serviceId=service_id, environmentId=env_id,
                                     projectId=svc.projectId, targetPort=None)
                self.tables["service_domains"][mine.id] = mine
            mine.domain, mine.updatedAt = domain, now_iso()
            if "port" in (entry or {}):
                mine.targetPort = entry["port"]

    def _domain_available(self, domain: str) -> dict[str, Any]:
        taken = self._domain_taken(domain.lower())
        return {"available": not taken, "message": "Domain is not available" if taken else ""}

    def service_domain_available(self, tok: Token, domain: str) -> dict[str, Any]:
        return self._domain_available(domain)

    def custom_domain_available(self, tok: Token, domain: str) -> dict[str, Any]:
        return self._domain_available(domain)

    def service_domain_delete(self, tok: Token, id: str) -> bool:
        dom = self.tables["service_domains"].get(id)
        if dom is None:
            raise NotFound("Service domain")
        self.environment(tok, dom.environmentId)
        del self.tables["service_domains"][id]
        return True

    def custom_domain_create(self, tok: Token, inp: dict[str, Any]) -> CustomDomain:
        self.scope_check(tok, inp["projectId"], inp["environmentId"], inp["serviceId"])
        domain = inp["domain"].lower()
        if not re.fullmatch(r"([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}", domain) or domain.endswith(DOMAIN_SUFFIX):
            raise BadRequest(f"Invalid domain: {inp['domain']}")
        if self._domain_taken(domain):
            raise BadRequest("Domain is not available")
        dom = CustomDomain(id=new_id(), domain=domain, serviceId=inp["serviceId"], environmentId=inp["environmentId"],
                           projectId=inp["projectId"], targetPort=inp.get("targetPort"))
        self.tables["custom_domains"][dom.id] = dom
        return dom

    def custom_domain(self, tok: Token, id: str, project_id: str | None = None) -> CustomDomain:
        dom = self.tables["custom_domains"].get(id)
        if dom is None:
            raise NotFound("Custom domain")
        self.environment(tok, dom.environmentId)
        return dom

    def custom_domain_update(self, tok: Token, id: str, environment_id: str, target_port: int | None = None) -> bool:
        self.custom_domain(tok, id).targetPort = target_port
        return True

    def custom_domain_issue_certificate(self, tok: Token, id: str) -> bool:
        return bool(self.custom_domain(tok, id))

    def custom_domain_delete(self, tok: Token, id: str) -> bool:
        self.custom_domain(tok, id)
        del self.tables["custom_domains"][id]
        return True

    def custom_domain_status(self, dom: CustomDomain) -> dict[str, Any]:
        """DNS is never set up for an emulated domain: records wait for an update, like a fresh real one."""
        host, _, zone = dom.domain.partition(".")
        # The CNAME target is fixed for the domain's life: derived from its id, the same on every read.
        target = f"{hashlib.sha256(dom.id.encode()).hexdigest()[:8]}.{DOMAIN_SUFFIX}"
        token = f"railway-verify={dom.id.replace('-', '')[:24]}"
        records = [
            {"hostlabel": host, "fqdn": dom.domain, "recordType": "DNS_RECORD_TYPE_CNAME", "requiredValue": target,
             "currentValue": "", "status": "DNS_RECORD_STATUS_REQUIRES_UPDATE", "zone": zone,
             "purpose": "DNS_RECORD_PURPOSE_TRAFFIC_ROUTE"},
            {"hostlabel": f"_railway-verify.{host}", "fqdn": f"_railway-verify.{dom.domain}",
             "recordType": "DNS_RECORD_TYPE_TXT", "requiredValue": token, "currentValue": "",
             "status": "DNS_RECORD_STATUS_REQUIRES_UPDATE", "zone": zone,
             "purpose": "DNS_RECORD_PURPOSE_UNSPECIFIED"},  # DNSRecordPurpose has no value for ownership TXT records
        ]
        return {"dnsRecords": records, "verificationDnsHost": f"_railway-verify.{host}", "verificationToken": token,
                "verified": False, "certificateStatus": "CERTIFICATE_STATUS_TYPE_VALIDATING_OWNERSHIP",
                "certificateErrorMessage": None, "cdnProvider": "DETECTED_CDN_PROVIDER_UNSPECIFIED",
                # no certificate is issued before ownership is validated, so none to show and no error yet
                "certificates": [], "certificateStatusDetailed": None, "certificateErrorType": None,
                "certificateRetryable": None}

    def domains(self, tok: Token, project_id: str, environment_id: str, service_id: str) -> dict[str, list[Any]]:
        return self.domains_of(self.scope_check(tok, project_id, environment_id, service_id).id, service_id)

    def domain_for_host(self, host: str) -> ServiceDomain | None:
        """The service or custom domain answering for a Host header (the app front)."""
        return next((d for t in ("service_domains", "custom_domains") for d in self.tables[t].values()
                     if d.domain == host), None)

    def domains_of(self, env_id: str, service_id: str) -> dict[str, list[Any]]:
        return {"serviceDomains": [d for d in self.tables["service_domains"].values()
                                   if d.environmentId == env_id and d.serviceId == service_id],
                "customDomains": [d for d in self.tables["custom_domains"].values()
                                  if d.environmentId == env_id and d.serviceId == service_id]}

    # ---- TCP proxies -------------------------------------------------------------------------------------
    def tcp_proxies(self, tok: Token, environment_id: str, service_id: str) -> list[TcpProxy]:
        self.service_instance(tok, environment_id, service_id)
        return [p for p in self.tables["tcp_proxies"].values()
                if p.environmentId == environment_id and p.serviceId == service_id]

    def tcp_proxy_create(self, tok: Token, inp: dict[str, Any]) -> TcpProxy:
        """A public `proxy host:port` for the instance's applicationPort (assumed: the host is shared by all
        proxies and each gets its own port, as Railway's `*.proxy.rlwy.net:<port>` addresses look)."""
        self.service_instance(tok, inp["environmentId"], inp["serviceId"])
        if not 1 <= inp["applicationPort"] <= 65535:
            raise BadRequest("applicationPort must be between 1 and 65535")
        taken = {p.proxyPort for p in self.tables["tcp_proxies"].values()}
        port = next(p for p in iter(lambda: 10000 + secrets.randbelow(50000), None) if p not in taken)
        proxy = TcpProxy(id=new_id(), serviceId=inp["serviceId"], environmentId=inp["environmentId"],
                         applicationPort=inp["applicationPort"], proxyPort=port, domain=TCP_PROXY_HOST)
        self.tables["tcp_proxies"][proxy.id] = proxy
        return proxy

    def tcp_proxy_delete(self, tok: Token, id: str) -> bool:
        proxy = self.tables["tcp_proxies"].get(id)
        if proxy is None:
            raise NotFound("TCP proxy")
        self.service_instance(tok, proxy.environmentId, proxy.serviceId)
        del self.tables["tcp_proxies"][id]
        return True
