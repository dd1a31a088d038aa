"""The models of one environment's configuration (`acs:environment`) and their validation: a bad value is
refused naming its key, its value and what is allowed (`parse_environment`)."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.config.images import check_image_ref
from infra.ownership import OWNER_VARIABLE
from infra.railway.facts import (DOMAIN_SUFFIX, ENVIRONMENT_NAME, POSTGRES_SERVICE, REFERENCE, REGIONS,
                                 RESTART_POLICIES, SUBDOMAIN, SUBDOMAIN_RULE, UUID, VARIABLE_NAME, parse_duration_ms)

SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Variable names that hold credentials: never plain config (Railway's own RAILWAY_TOKEN / RAILWAY_API_TOKEN too)
SECRET_LIKE = re.compile(r"(?:^|_)(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|SECRET_KEY|ACCESS_KEY)$",
                         re.IGNORECASE)
SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(MB|GB)\s*$", re.IGNORECASE)  # ASCII digits: \d takes any script's
HOBBY_MAX_MEMORY_MB = 8 * 1024
# Names the tool sets itself: a variable of the same name would pose as the ownership marker, or be overwritten
# silently by the component (its values win over the stack's variables, infra.components.acs_environment).
RESERVED_VARIABLES = {
    OWNER_VARIABLE: "acs-infra's ownership marker (infra.ownership)",
    "DATABASE_URL": "set from acs:environment.database (the Postgres reference or the SQLite file)",
    "DATABASE_KIND": "set from acs:environment.database.kind",
    "DATABASE_SEED": "set from acs:environment.database.seed",
    "PORT": "set from services[].port",
}
# Railway's schema documents no limit on a backup's name (volumeInstanceBackupCreate(name)): this bound is ours,
# long enough for any label a person or the release flow (pre-deploy-<time>) writes.
BACKUP_LABEL_MAX = 100
MAX_VOLUME_MB = 1024 * 1024


class ConfigError(ValueError):
    """A stack configuration that cannot be deployed; the message names each bad key and what is allowed."""


def parse_size_mb(value: Any) -> int:
    """'512MB' -> 512, '1GB' -> 1024, '0.5GB' -> 512. Units are required: a bare number is ambiguous."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} is not a size; write it with a unit, e.g. \"512MB\" or \"1GB\"")
    match = SIZE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size; write it as a number of MB or GB, e.g. \"512MB\" or \"1GB\"")
    number, unit = float(match.group(1)), match.group(2).upper()
    mb = number * (1024 if unit == "GB" else 1)
    if mb < 1:
        raise ValueError(f"{value!r} must be a positive whole number of MB (e.g. \"256MB\", \"1GB\")")
    if not mb.is_integer():  # 1 GB is 1,024 MB, as Railway counts memory: say what the value came to (adv24)
        raise ValueError(f"{value!r} is {mb:g} MB (1 GB = 1024 MB); it must be a whole number of MB, e.g. "
                         f"\"{int(mb)}MB\"")
    return int(mb)


SizeMB = Annotated[int, BeforeValidator(parse_size_mb)]


class Strict(BaseModel):
    # strict: YAML `true` is not 1 and 'yes' is not True (issue 14 item 11)
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, strict=True)


class Source(Strict):
    image: str | None = None
    repo: str | None = None
    branch: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "Source":
        if bool(self.image) == bool(self.repo):
            raise ValueError("give exactly one of image or repo")
        if self.repo and not re.fullmatch(r"[\w.-]+/[\w.-]+", self.repo):
            raise ValueError(f"repo {self.repo!r} must look like \"owner/name\"")
        if self.branch and not self.repo:
            raise ValueError("branch only applies to a repo source")
        return self

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        return v if v is None else check_image_ref(v)


class Healthcheck(Strict):
    path: str = "/health"
    timeout_seconds: int = Field(60, alias="timeoutSeconds", gt=0, le=3600)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"{v!r} must start with '/'")
        return v


class ServiceConfig(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    source: Source
    memory: SizeMB
    vcpu: float = Field(1.0, gt=0, le=8)
    replicas: int = Field(1, ge=1, le=50)
    start_command: str | None = Field(None, alias="startCommand", pattern=r"\S")
    pre_deploy_command: str | None = Field(None, alias="preDeployCommand", pattern=r"\S")
    healthcheck: Healthcheck | None = None
    restart_policy: Literal[RESTART_POLICIES] = Field("ON_FAILURE", alias="restartPolicy")  # type: ignore[valid-type]
    region: Literal[REGIONS] | None = None  # type: ignore[valid-type]
    port: int = Field(3000, ge=1, le=65535)
    public: bool = True
    variables: dict[str, str] = {}

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: int) -> int:
        if not 128 <= v <= HOBBY_MAX_MEMORY_MB:
            raise ValueError(f"{v}MB is outside 128MB..8GB (Hobby plan ceiling per replica)")
        return v

    @field_validator("variables")
    @classmethod
    def _variables(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_variables(v)


class SqliteDatabase(Strict):
    kind: Literal["sqlite"]
    path: str = "/tmp/acs.sqlite"
    seed: bool = True


class PostgresDatabase(Strict):
    kind: Literal["postgres"]
    volume_size: SizeMB = Field(alias="volumeSize")
    backups: list[Literal["DAILY", "WEEKLY", "MONTHLY"]] = []
    image: str = "postgres:16"

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return check_image_ref(v)

    @field_validator("volume_size")
    @classmethod
    def _size(cls, v: int) -> int:
        if v > MAX_VOLUME_MB:
            raise ValueError(f"{v}MB is larger than 1TB, Railway's largest volume")
        return v


def parse_percent(value: Any) -> float:
    """'1%' -> 0.01. The unit is required."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*", str(value)) if isinstance(value, str) else None
    if not match or not 0 < float(match.group(1)) <= 100:
        raise ValueError(f"{value!r} is not a percentage between 0 and 100; write it like \"1%\" or \"90%\"")
    return float(match.group(1)) / 100


Percent = Annotated[float, BeforeValidator(parse_percent)]
DurationMs = Annotated[float, BeforeValidator(parse_duration_ms)]


class Channel(Strict):
    webhook: str | None = None
    email: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "Channel":
        if bool(self.webhook) == bool(self.email):
            raise ValueError("a channel is either {webhook: https://...} or {email: someone@example.com}")
        if self.webhook and not self.webhook.startswith("https://"):
            raise ValueError(f"webhook {self.webhook!r} must be an https:// URL")
        if self.email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", self.email):
            raise ValueError(f"email {self.email!r} is not an e-mail address")
        return self

    def as_railway(self) -> dict[str, str]:
        return {"type": "webhook", "url": self.webhook} if self.webhook else {"type": "email", "address": self.email}


class Alerts(Strict):
    """Alert policy: thresholds the monitored rollout enforces, and where Railway sends notifications."""

    severities: list[Literal["INFO", "NOTICE", "WARNING", "CRITICAL"]] = Field(min_length=1)
    error_rate: Percent = Field(0.01, alias="errorRate")
    response_time: DurationMs = Field(2000, alias="responseTime")
    memory: Percent = 0.9
    cpu: Percent = 0.9
    channels: list[Channel] = Field(min_length=1)
    monitor_window: DurationMs = Field(1800000, alias="monitorWindow")


class Domain(Strict):
    subdomain: str
    custom_domains: list[str] = Field([], alias="customDomains")

    @field_validator("subdomain")
    @classmethod
    def _subdomain(cls, v: str) -> str:
        if not SUBDOMAIN.match(v):
            raise ValueError(f"{v!r} is not a valid subdomain: {SUBDOMAIN_RULE}")
        return v


class ProjectRef(Strict):
    """Which Railway project holds the environment: create one by name, adopt one by id, or use another
    stack's project (a StackReference to its `projectId` output)."""

    name: str | None = None
    id: str | None = None
    stack: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "ProjectRef":
        given = [k for k in ("name", "id", "stack") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of name (create), id (adopt) or stack (use that stack's project)")
        if self.id and not UUID.match(self.id):
            raise ValueError(f"id {self.id!r} must be a Railway project id (a UUID)")
        return self


class EnvironmentConfig(Strict):
    name: str
    stage: Literal["pr", "dev", "prod"]
    project: ProjectRef
    ephemeral: bool = False
    services: list[ServiceConfig] = Field(min_length=1)
    database: SqliteDatabase | PostgresDatabase = Field(discriminator="kind")
    domain: Domain
    variables: dict[str, str] = {}
    secrets: list[str] = []
    protect: bool = False
    alerts: Alerts | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not ENVIRONMENT_NAME.match(v):
            raise ValueError(f"{v!r} must be lowercase letters, digits and '-'")
        return v

    @field_validator("variables")
    @classmethod
    def _variables(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_variables(v)

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if not SECRET_NAME.match(s)]
        if bad:
            raise ValueError(f"secret names {bad} must be UPPER_SNAKE_CASE")
        reserved = [s for s in v if s in RESERVED_VARIABLES]
        if reserved:
            raise ValueError(_reserved(reserved[0]))
        return v

    @model_validator(mode="after")
    def _rules(self) -> "EnvironmentConfig":
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"service names must be unique, got {names}")
        if sum(s.public for s in self.services) != 1:
            raise ValueError("exactly one service must be public (it gets the domain)")
        if self.stage == "pr":
            if not self.ephemeral or not isinstance(self.database, SqliteDatabase):
                raise ValueError("a PR environment is ephemeral and uses the sqlite database")
            if self.protect:
                raise ValueError("a PR environment cannot be protected")
        if self.stage == "prod" and (self.ephemeral or not isinstance(self.database, PostgresDatabase)):
            raise ValueError("prod is persistent and uses postgres")
        if self.alerts and self.stage == "pr":
            raise ValueError("PR previews raise no alerts: remove alerts")
        if self.alerts and not self.project.name:
            raise ValueError("alerts: notification rules are project-wide; set them on the stack that creates the "
                             "project (project.name), not on one given by project.id or project.stack")
        if self.alerts and self.stage == "dev" and set(self.alerts.severities) - {"INFO", "NOTICE"}:
            raise ValueError("dev alerts are informational only: severities INFO or NOTICE")
        clash = set(self.secrets) & (set(self.variables) | {k for s in self.services for k in s.variables})
        if clash:
            raise ValueError(f"{sorted(clash)} are secrets and must not also be plain variables")
        self._check_references()
        return self

    def _check_references(self) -> None:
        """`${{Other.VAR}}` naming an undeclared service renders empty on Railway: refuse it instead."""
        scopes = [("variables", self.variables)] + [(f"services[{i}].variables", s.variables)
                                                   for i, s in enumerate(self.services)]
        for where, variables in scopes:
            for name, value in variables.items():
                for ref in REFERENCE.findall(value):
                    service = self.undeclared_service(ref)
                    if service:
                        raise ValueError(f"@{where}.{name}: ${{{{{ref}}}}} names service {service!r}, which "
                                         f"{self.allowed_references}")

    @property
    def referable_services(self) -> list[str]:
        return [s.name for s in self.services] + ([POSTGRES_SERVICE] if self.database.kind == "postgres" else [])

    @property
    def allowed_references(self) -> str:
        return (f"this environment does not declare (declared: {', '.join(self.referable_services)}; also allowed: "
                f"${{{{shared.NAME}}}}, ${{{{NAME}}}} of the same service, Railway's RAILWAY_* names)")

    def undeclared_service(self, ref: str) -> str | None:
        """The service a reference's body (`Other.VAR`) names when this environment does not declare it."""
        service = ref.rpartition(".")[0]
        return service if service and service != "shared" and service not in self.referable_services else None

    @property
    def public_service(self) -> ServiceConfig:
        return next(s for s in self.services if s.public)

    @property
    def url(self) -> str:
        return f"https://{self.domain.subdomain}.{DOMAIN_SUFFIX}"


def check_secret_references(cfg: EnvironmentConfig, values: dict[str, str]) -> None:
    """The rule of `_check_references` for the stack's secrets (decrypted, so checked where they are known: the
    program, before any resource is declared). The message names the key and the service, never the value."""
    for name, value in values.items():
        service = next(filter(None, (cfg.undeclared_service(ref) for ref in REFERENCE.findall(value or ""))), None)
        if service:
            raise ConfigError(f"acs:{name}: the secret's value references service {service!r} (value not shown), "
                              f"which {cfg.allowed_references}; Railway would render it empty")


def _check_variables(v: dict[str, str]) -> dict[str, str]:
    bad = [k for k in v if not VARIABLE_NAME.match(k)]
    if bad:
        raise ValueError(f"variable names {bad} must match {VARIABLE_NAME.pattern}")
    reserved = [k for k in v if k in RESERVED_VARIABLES]
    if reserved:
        raise ValueError(f"@{reserved[0]}: {_reserved(reserved[0])}")
    empty = [k for k, val in v.items() if val in (None, "")]
    if empty:
        raise ValueError(f"variables {empty} have empty values")
    # a credential's name with a literal value sits in clear in the stack file (a pure ${{...}} reference holds none)
    plain = [k for k, val in v.items() if SECRET_LIKE.search(k) and REFERENCE.sub("", str(val)).strip()]
    if plain:
        raise ValueError(f"@{plain[0]}: a secret's name (…_TOKEN, …_SECRET, …_PASSWORD, …_API_KEY, …) must not "
                         "be a plain variable: list it in acs:environment.secrets and set it encrypted "
                         f"with: pulumi config set --secret acs:{plain[0]} <value>")
    return {k: str(val) for k, val in v.items()}


def _reserved(name: str) -> str:
    return (f"{name} is a reserved name: {RESERVED_VARIABLES[name]}; reserved: "
            f"{', '.join(RESERVED_VARIABLES)}")


def check_backup_label(label: str) -> str:
    """A backup's name, as given on the command line (`backup --label`): printable, 1 to BACKUP_LABEL_MAX
    characters."""
    if not label.strip() or len(label) > BACKUP_LABEL_MAX or not label.isprintable():
        raise ConfigError(f"--label: a backup label is 1 to {BACKUP_LABEL_MAX} printable characters on one line "
                          f"(got {len(label)} characters)")
    return label


def _format(error: ValidationError, root: str) -> str:
    lines = []
    for err in error.errors():
        path = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]
                              if p not in ("sqlite", "postgres"))
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        message = err["msg"].removeprefix("Value error, ")
        if message.startswith("@"):  # a model rule naming the key below it: "@services[0].variables.X: ..."
            sub, message = message[1:].split(": ", 1)
            path += "." + sub
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "literal_error":
            message = f"must be {err['ctx']['expected']}"
        elif err["type"] == "union_tag_invalid":
            message = "database kind must be 'sqlite' or 'postgres'"
        lines.append(f"  {path}: {message}{shown}")
    return "invalid stack configuration:\n" + "\n".join(lines)


def parse_environment(raw: Any, key: str = "acs:environment") -> EnvironmentConfig:
    """Validates the raw config object; raises ConfigError naming each bad key, its value and what is allowed."""
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid stack configuration:\n  {key}: missing (set it in Pulumi.<stack>.yaml)")
    try:
        return EnvironmentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format(exc, key)) from None
