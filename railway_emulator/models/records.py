"""What the emulator stores: one dataclass per kind of Railway object, the token, and Railway's constants.

Plain data with no behaviour beyond defaults; the backends in this package own the rules.
"""
from __future__ import annotations

import re
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from railway_emulator.clock import current_time

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
    return datetime.fromtimestamp(ts if ts is not None else current_time(), timezone.utc).isoformat().replace("+00:00", "Z")


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


@dataclass
class TcpProxy:
    """A TCP proxy: a public `host:proxyPort` forwarding to `applicationPort` of a service instance."""

    id: str
    serviceId: str
    environmentId: str
    applicationPort: int
    proxyPort: int
    domain: str
    createdAt: str = field(default_factory=now_iso)
    updatedAt: str = field(default_factory=now_iso)
    deletedAt: str | None = None
    syncStatus: str = "ACTIVE"


@dataclass
class SshPublicKey:
    """An SSH public key, owned by the user (userId) or by a workspace (workspaceId)."""

    id: str
    name: str
    publicKey: str
    fingerprint: str
    userId: str | None
    workspaceId: str | None


@dataclass
class StagedPatch:
    """An environment's staged (not yet committed) EnvironmentConfig patch."""

    id: str
    environmentId: str
    patch: dict[str, Any]
    status: str = "STAGED"
    createdAt: str = field(default_factory=now_iso)
    updatedAt: str = field(default_factory=now_iso)


TABLES: dict[str, type] = {
    "projects": Project, "environments": Environment, "services": Service, "instances": ServiceInstance,
    "volumes": Volume, "volume_instances": VolumeInstance, "backups": Backup, "service_domains": ServiceDomain,
    "custom_domains": CustomDomain, "deployments": Deployment, "behaviours": Behaviour,
    "notification_rules": NotificationRule, "tcp_proxies": TcpProxy, "ssh_keys": SshPublicKey,
    "staged_patches": StagedPatch,
}

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


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "service"


def generated_name() -> str:
    adjectives = ["brave", "calm", "eager", "gentle", "lively", "proud", "quiet", "witty"]
    nouns = ["otter", "falcon", "maple", "comet", "harbor", "meadow", "summit", "river"]
    return f"{secrets.choice(adjectives)}-{secrets.choice(nouns)}-{secrets.token_hex(2)}"
