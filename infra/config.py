"""The configuration of one ACS environment, read from stack config and validated before anything is declared.

Stack config (`Pulumi.<stack>.yaml`) holds a structured `acs:environment` object and one secret per name listed
in `secrets` (`pulumi config set --secret acs:JWT_SECRET ...`). A PR stack `pr-<N>` has no file of its own:
its configuration is the dev stack's with the PR overrides of `pr_config`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

PR_STACK = re.compile(r"^pr-([1-9]\d{0,6})$")  # the one rule for PR numbers: 1..9999999, no leading zero
PR_RULE = "a PR number from 1 to 9999999 without leading zeros"
STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
REFERENCE = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")  # Railway's ${{VAR}}, ${{shared.VAR}}, ${{Service.VAR}}
POSTGRES_SERVICE = "Postgres"  # the database service's name (infra.components)
SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(MB|GB)\s*$", re.IGNORECASE)
HOBBY_MAX_MEMORY_MB = 8 * 1024
MAX_VOLUME_MB = 1024 * 1024


class ConfigError(ValueError):
    """A stack configuration that cannot be deployed; the message names each bad key and what is allowed."""


def parse_size_mb(value: Any) -> int:
    """'512MB' -> 512, '1GB' -> 1024, '0.5GB' -> 512. Units are required: a bare number is ambiguous."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} is not a size; write it with a unit, e.g. \"512MB\" or \"1GB\"")
    match = SIZE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size; write it with a unit, e.g. \"512MB\" or \"1GB\"")
    number, unit = float(match.group(1)), match.group(2).upper()
    mb = number * (1024 if unit == "GB" else 1)
    if mb <= 0 or not mb.is_integer():
        raise ValueError(f"{value!r} must be a positive whole number of MB (e.g. \"256MB\", \"1GB\")")
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
    restart_policy: Literal["ON_FAILURE", "ALWAYS", "NEVER"] = Field("ON_FAILURE", alias="restartPolicy")
    region: Literal["us-west2", "us-east4-eqdc4a", "europe-west4-drams3a", "asia-southeast1-eqsg3a"] | None = None
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

    @field_validator("volume_size")
    @classmethod
    def _size(cls, v: int) -> int:
        if v > MAX_VOLUME_MB:
            raise ValueError(f"{v}MB is larger than 1TB, Railway's largest volume")
        return v


def parse_percent(value: Any) -> float:
    """'1%' -> 0.01. The unit is required."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", str(value)) if isinstance(value, str) else None
    if not match or not 0 < float(match.group(1)) <= 100:
        raise ValueError(f"{value!r} is not a percentage between 0 and 100; write it like \"1%\" or \"90%\"")
    return float(match.group(1)) / 100


def parse_duration_ms(value: Any) -> float:
    """'2s' -> 2000, '500ms' -> 500, '30m' -> 1800000. The unit is required."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*", str(value)) if isinstance(value, str) else None
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a duration; write it like \"500ms\", \"2s\" or \"30m\"")
    return float(match.group(1)) * {"ms": 1, "s": 1000, "m": 60000}[match.group(2)]


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
            raise ValueError(f"{v!r} is not a valid subdomain: 1-63 lowercase letters, digits or '-', "
                             "not starting or ending with '-'")
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
        if not ENV_NAME.match(v):
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
        if self.alerts and self.stage == "dev" and set(self.alerts.severities) - {"INFO", "NOTICE"}:
            raise ValueError("dev alerts are informational only: severities INFO or NOTICE")
        clash = set(self.secrets) & (set(self.variables) | {k for s in self.services for k in s.variables})
        if clash:
            raise ValueError(f"{sorted(clash)} are secrets and must not also be plain variables")
        self._check_references()
        return self

    def _check_references(self) -> None:
        """`${{Other.VAR}}` naming an undeclared service renders empty on Railway: refuse it instead."""
        declared = [s.name for s in self.services] + ([POSTGRES_SERVICE] if self.database.kind == "postgres" else [])
        scopes = [("variables", self.variables)] + [(f"services[{i}].variables", s.variables)
                                                   for i, s in enumerate(self.services)]
        for where, variables in scopes:
            for name, value in variables.items():
                for ref in REFERENCE.findall(value):
                    service = ref.rpartition(".")[0]
                    if service and service != "shared" and service not in declared:
                        raise ValueError(
                            f"@{where}.{name}: ${{{{{ref}}}}} names service {service!r}, which this environment does "
                            f"not declare (declared: {', '.join(declared)}; also allowed: ${{{{shared.NAME}}}}, "
                            f"${{{{NAME}}}} of the same service, Railway's RAILWAY_* names)")

    @property
    def public_service(self) -> ServiceConfig:
        return next(s for s in self.services if s.public)

    @property
    def url(self) -> str:
        return f"https://{self.domain.subdomain}.up.railway.app"


def _check_variables(v: dict[str, str]) -> dict[str, str]:
    bad = [k for k in v if not VAR_NAME.match(k)]
    if bad:
        raise ValueError(f"variable names {bad} must match {VAR_NAME.pattern}")
    empty = [k for k, val in v.items() if val in (None, "")]
    if empty:
        raise ValueError(f"variables {empty} have empty values")
    return {k: str(val) for k, val in v.items()}


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
            message = f"database kind must be 'sqlite' or 'postgres'"
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


def load_stack_file(stack: str, root: Path | None = None) -> dict[str, Any]:
    root = root or Path.cwd()  # the Pulumi project directory the program runs in
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise ConfigError(f"no stack file {path.name}")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:  # a user's typo: one line naming file and line, never a parser traceback
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path.name}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    config = doc.get("config") if isinstance(doc, dict) else None
    return config if isinstance(config, dict) else {}


def pr_config(stack: str, root: Path | None = None) -> EnvironmentConfig:
    """A PR preview's configuration: the dev stack's, with the PR overrides (256MB, sqlite with seed data,
    acs-pr-<N>, ephemeral, in the dev stack's project). Never derived from prod."""
    match = PR_STACK.match(stack)
    if not match:
        raise ConfigError(f"{stack!r} is not a PR stack name (pr-<number>)")
    number = match.group(1)
    raw = dict(load_stack_file("dev", root).get("acs:environment") or {})
    raw.update({
        "name": stack, "stage": "pr", "ephemeral": True, "protect": False, "project": {"stack": "dev"},
        "alerts": None,
        "database": {"kind": "sqlite", "seed": True},
        "domain": {"subdomain": f"acs-pr-{number}"},
        "variables": {**(raw.get("variables") or {}), "NODE_ENV": "development", "LOG_LEVEL": "debug",
                      "PR_NUMBER": number},
        "services": [{**s, "memory": "256MB", "replicas": 1,
                      "source": {"image": f"{_image_repo(s)}:pr-{number}"} if (s.get("source") or {}).get("image")
                      else s.get("source"),
                      "preDeployCommand": "npm run migrate && npm run db:seed"}
                     for s in raw.get("services") or []],
    })
    return parse_environment(raw)


def _image_repo(service: dict[str, Any]) -> str:
    image = service["source"]["image"]
    return image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image


def guard_stack(stack: str, cfg: EnvironmentConfig) -> None:
    """A stack named pr-* never targets prod (or another stack's environment)."""
    if PR_STACK.match(stack):
        if cfg.stage != "pr" or cfg.name != stack:
            raise ConfigError(f"stack {stack!r} is a PR stack and may only manage the ephemeral environment {stack!r}"
                              f" (its config targets {cfg.name!r}, stage {cfg.stage!r})")
        if cfg.project.stack == "prod" or cfg.project.stack and cfg.project.stack.startswith("prod"):
            raise ConfigError(f"stack {stack!r} is a PR stack and may never use the prod stack's project")
    elif cfg.stage == "pr":
        raise ConfigError(f"stage 'pr' is only for stacks named pr-<number>, not {stack!r}")
    elif cfg.project.stack:
        # Railway makes a service created in a non-fork environment in every non-fork environment of the
        # project (ServiceCreateInput.environmentId): a second persistent environment would share dev's services.
        raise ConfigError(f"acs:environment.project.stack: stack {stack!r} may not use stack "
                          f"{cfg.project.stack!r}'s project; only PR previews (pr-<N>, forks of dev) share a project. "
                          "Allowed: project.name (a project of its own) or project.id (adopt one by id)")


# ---- checks on names and files, before a stack is created (issue 14 items 7, 9, 10, 11) ----------------------
def check_stack_name(stack: str) -> None:
    if stack.startswith("pr-") or stack == "pr":
        if not PR_STACK.match(stack):
            raise ConfigError(f"stack {stack!r}: a PR stack is named pr-<N>, N {PR_RULE}")
    elif not STACK_NAME.match(stack):
        raise ConfigError(f"stack {stack!r}: a stack name is 1-63 lowercase letters, digits, '-' or '_', "
                          "starting with a letter or digit")


def parse_pr_number(text: str, what: str = "PR number") -> int:
    """The one rule for PR numbers, for every command: 1..9999999 written without leading zeros."""
    if not re.fullmatch(r"[1-9]\d{0,6}", text.strip()):
        raise ConfigError(f"{what}: {text!r} is not {PR_RULE}")
    return int(text)


def parse_pr_numbers(text: str, what: str) -> set[int]:
    """'1,2, 3' -> {1, 2, 3}; empty entries are skipped. An empty list is refused: a script whose PR listing
    failed would otherwise declare every PR closed; "no PR is open" is said as `none`."""
    if text.strip().lower() == "none":
        return set()
    numbers = {parse_pr_number(part, what) for part in text.split(",") if part.strip()}
    if not numbers:
        raise ConfigError(f"{what}: {text!r} names no PR; give the open PR numbers (e.g. {what} 1,2), or "
                          f"{what} none when no PR is open")
    return numbers


def check_secret_storage(names: list[str], present: set[str], secret_keys: set[str]) -> None:
    """A declared secret set without `--secret` sits in clear in the stack file: refused (value never shown)."""
    plain = [n for n in names if n in present and n not in secret_keys]
    if plain:
        raise ConfigError("invalid stack configuration:\n" + "\n".join(
            f"  acs:{n}: is a secret but stored as plain text; set it encrypted with: "
            f"pulumi config set --secret acs:{n} <value>" for n in plain))


def check_unique_subdomain(stack: str, cfg: EnvironmentConfig, root: Path) -> None:
    """Two stacks on one subdomain would fight over one address (Railway's domains are global)."""
    key, mine = "acs:environment.domain.subdomain", cfg.domain.subdomain
    if not PR_STACK.match(stack) and re.fullmatch(r"acs-pr-\d+", mine):
        raise ConfigError(f"invalid stack configuration:\n  {key}: {mine!r} is reserved for PR previews (acs-pr-<N>)")
    for path in sorted(root.glob("Pulumi.*.yaml")):
        other = path.name[len("Pulumi."):-len(".yaml")]
        if other == stack or (PR_STACK.match(stack) and other == "dev"):
            continue
        try:
            domain = (load_stack_file(other, root).get("acs:environment") or {}).get("domain") or {}
        except (yaml.YAMLError, AttributeError):
            continue  # reported when that stack is used
        if isinstance(domain, dict) and domain.get("subdomain") == mine:
            raise ConfigError(f"invalid stack configuration:\n  {key}: {mine!r} is already the subdomain of "
                              f"stack {other!r} ({path.name}); choose another")


def check_token(config_keys: set[str]) -> None:
    """Without a token every resource would fail on its own, after the stack exists: stop before."""
    if not (os.environ.get("RAILWAY_API_TOKEN") or os.environ.get("RAILWAY_TOKEN") or "railwayToken" in config_keys):
        raise ConfigError("no Railway token: set RAILWAY_API_TOKEN (account/workspace) or RAILWAY_TOKEN (project), "
                          "or the stack config: pulumi config set --secret acs:railwayToken <token>")


def verify_token() -> None:
    """One cheap read with the environment's token, so a wrong or revoked one stops before a stack is created
    (a token from the encrypted stack config cannot be read before the stack exists: the program reports it).
    A workspace token may not call `me` (Railway docs), so account/workspace tokens list one project; a project
    token reads its own scope (`projectToken`). Raises the client's NotAuthorizedError."""
    from infra.railway.client import client_from_env  # the API client is only needed here, not by the program
    from infra.railway.errors import NotAuthorizedError

    if not (os.environ.get("RAILWAY_API_TOKEN") or os.environ.get("RAILWAY_TOKEN")):
        return
    name = "RAILWAY_API_TOKEN" if os.environ.get("RAILWAY_API_TOKEN") else "RAILWAY_TOKEN"
    with client_from_env() as client:
        try:
            client.query("TokenProjects" if name == "RAILWAY_API_TOKEN" else "ProjectTokenScope")
        except NotAuthorizedError as exc:
            raise NotAuthorizedError(f"Railway refused the token in {name} ({exc.message}): is it wrong, "
                                     "revoked or for another workspace?", exc.operation) from None


def preflight(stack: str, root: Path) -> EnvironmentConfig:
    """Everything the stack files decide, checked before a stack is created: no empty stack is left behind."""
    check_stack_name(stack)
    if PR_STACK.match(stack):
        cfg = pr_config(stack, root)
    else:
        if not (root / f"Pulumi.{stack}.yaml").exists():
            raise ConfigError(f"no stack file Pulumi.{stack}.yaml in {root}: a stack needs its acs:environment "
                              "(start from a copy of Pulumi.dev.yaml)")
        config = load_stack_file(stack, root)
        cfg = parse_environment(config.get("acs:environment"))
        present = {k[4:] for k in config if k.startswith("acs:")}
        encrypted = {k[4:] for k, v in config.items() if k.startswith("acs:") and isinstance(v, dict) and "secure" in v}
        check_secret_storage([*cfg.secrets, "railwayToken"], present, encrypted)
    guard_stack(stack, cfg)
    check_unique_subdomain(stack, cfg, root)
    own = load_stack_file(stack, root) if (root / f"Pulumi.{stack}.yaml").exists() else {}
    check_token({k[4:] for k in own if k.startswith("acs:")})
    return cfg
