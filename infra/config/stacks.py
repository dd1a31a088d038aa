"""Stack files and stack names: reading `Pulumi.<stack>.yaml`, a PR preview's configuration (derived from dev),
and the checks on names, secrets and subdomains made before a stack is created."""
from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Any

import yaml

from infra.config.models import ConfigError, EnvironmentConfig, parse_environment
from infra.config.stack_file import read_stack_file, read_yaml
from infra.railway.facts import PR_NUMBER, PR_RULE, PR_STACK, PR_SUBDOMAIN, STACK_NAME


def load_stack_file(stack: str, root: Path | None = None) -> dict[str, Any]:
    root = root or Path.cwd()  # the Pulumi project directory the program runs in
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise ConfigError(f"no stack file {path.name}")
    return read_stack_file(path)


def pr_config(stack: str, root: Path | None = None) -> EnvironmentConfig:
    """A PR preview's configuration: the dev stack's, with the PR overrides (256MB, sqlite with seed data,
    acs-pr-<N>, ephemeral, in the dev stack's project). Never derived from prod."""
    match = PR_STACK.match(stack)
    if not match:
        raise ConfigError(f"{stack!r} is not a PR stack name (pr-<number>)")
    number = match.group(1)
    raw = dict(load_stack_file("dev", root).get("acs:environment") or {})
    app = app_repo([((s or {}).get("source") or {}).get("image") for s in raw.get("services") or []])
    raw.update({
        "name": stack, "stage": "pr", "ephemeral": True, "protect": False, "project": {"stack": "dev"},
        "alerts": None,
        "database": {"kind": "sqlite", "seed": True},
        "domain": {"subdomain": f"acs-pr-{number}"},
        "variables": {**(raw.get("variables") or {}), "NODE_ENV": "development", "LOG_LEVEL": "debug",
                      "PR_NUMBER": number},
        "services": [_preview_service(s, app, number) for s in raw.get("services") or []],
    })
    return parse_environment(raw)


def image_repo(image: str) -> str:
    """The repository of an image reference (`repo:tag`, `repo@sha256:...` or a bare `repo`)."""
    image = image.split("@", 1)[0]
    return image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image


def app_repo(images: list[str | None]) -> str | None:
    """The app's image repository: the one of the first image-sourced service (the release's, `Release`)."""
    return next((image_repo(i) for i in images if isinstance(i, str) and i), None)


def is_app_image(image: str | None, app: str | None) -> bool:
    """Whether a service with this declared image runs the app (a release's or a PR's image is the app's): a
    service with an image of another repository (a worker's own) keeps its own (adv15 B8)."""
    return isinstance(image, str) and bool(image) and image_repo(image) == app


def _preview_service(s: dict[str, Any], app: str | None, number: str) -> dict[str, Any]:
    """A preview's size for every service; the PR's image and the migrate+seed command only for the app's
    services (every service when the app is built from a repo: no image names it)."""
    image = (s.get("source") or {}).get("image")
    preview = {**s, "memory": "256MB", "replicas": 1}
    if is_app_image(image, app):
        return {**preview, "source": {"image": f"{app}:pr-{number}"}, **SEED}
    return preview if app else {**preview, **SEED}


SEED = {"preDeployCommand": "npm run migrate && npm run db:seed"}


def guard_stack(stack: str, cfg: EnvironmentConfig) -> None:
    """A stack named pr-* never targets prod (or another stack's environment)."""
    if PR_STACK.match(stack):
        if cfg.stage != "pr" or cfg.name != stack:
            raise ConfigError(f"stack {stack!r} is a PR stack and may only manage the ephemeral environment {stack!r}"
                              f" (its config targets {cfg.name!r}, stage {cfg.stage!r})")
        if cfg.project.stack == "prod" or cfg.project.stack and cfg.project.stack.startswith("prod"):
            raise ConfigError(f"stack {stack!r} is a PR stack and may never use the prod stack's project")
    elif cfg.stage == "pr" or (stack in ("dev", "prod") and cfg.stage != stack):
        # dev and prod stacks carry their own stage's rules (protection, alerts, sizes); previews are pr-<N>
        allowed = repr(stack) if stack in ("dev", "prod") else "'dev' or 'prod'"
        raise ConfigError(f"invalid stack configuration:\n  acs:environment.stage: {cfg.stage!r} does not fit stack "
                          f"{stack!r} (allowed: {allowed}; 'pr' is only for stacks named pr-<N>)")
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
    if not re.fullmatch(PR_NUMBER, text.strip()):
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


KNOWN_KEYS = {"environment", "railwayToken", "railwayApiUrl"}  # the `acs:` keys besides the declared secrets


def check_known_keys(secrets: list[str], present: set[str]) -> None:
    """Unknown `acs:` keys are typos."""
    unknown = sorted(present - KNOWN_KEYS - set(secrets))
    if unknown:
        raise ConfigError("invalid stack configuration:\n" + "\n".join(
            f"  acs:{k}: unknown key (allowed: {', '.join(sorted(KNOWN_KEYS))} and the secrets listed in "
            f"acs:environment.secrets)" for k in unknown))


def check_secret_storage(names: list[str], present: set[str], secret_keys: set[str]) -> None:
    """A declared secret set without `--secret` sits in clear in the stack file: refused (value never shown)."""
    plain = [n for n in names if n in present and n not in secret_keys]
    if plain:
        raise ConfigError("invalid stack configuration:\n" + "\n".join(
            f"  acs:{n}: is a secret but stored as plain text; set it encrypted with: "
            f"pulumi config set --secret acs:{n} <value>" for n in plain))


# Pulumi's passphrase provider writes a secret as v1:<nonce>:<ciphertext>, both padded base64: a 12-byte AES-GCM
# nonce and at least the 16-byte tag. A `secure:` value of another shape failed only at the engine's decryption,
# after the calls a command made first, as "bad value" without its key (adv26 N7); so did a short nonce or missing
# padding (adv27 B11). Other providers (KMS, Vault) write other shapes: not checked.
PASSPHRASE_CIPHERTEXT = re.compile(r"^v1:([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$")


def _is_ciphertext(value: Any) -> bool:
    found = PASSPHRASE_CIPHERTEXT.match(value) if isinstance(value, str) else None
    try:
        return bool(found) and len(base64.b64decode(found.group(1), validate=True)) == 12 \
            and len(base64.b64decode(found.group(2), validate=True)) >= 16
    except binascii.Error:  # Go's StdEncoding wants the padding too
        return False


def check_ciphertexts(stack: str, doc: dict[str, Any], config: dict[str, Any]) -> None:
    """Each `secure:` value of the stack file (`doc`, its `config`) is one its passphrase provider wrote; else
    named, never shown. `{secure: ..., other: ...}` is a plain object to Pulumi, its secret stored as plain text
    (adv27 B10): named too."""
    if not str(doc.get("secretsprovider") or "passphrase").startswith("passphrase"):
        return
    said = {key: "holds keys beside `secure`, so Pulumi reads it as plain text" if len(value) > 1 else
            "its secure value is not one Pulumi encrypted"
            for key, value in config.items() if isinstance(value, dict) and "secure" in value
            and (len(value) > 1 or not _is_ciphertext(value["secure"]))}
    if said:
        raise ConfigError("invalid stack configuration:\n" + "\n".join(
            f"  {key}: {why}; set it again with: pulumi config set --secret {key} <value> --stack {stack}"
            for key, why in said.items()))


def check_secrets_set(names: list[str], present: set[str], stack: str) -> None:
    """Every secret acs:environment.secrets lists is set; else each one is named with the command that sets it."""
    missing = [s for s in names if s not in present]
    if missing:
        raise ConfigError("invalid stack configuration:\n" + "\n".join(
            f"  acs:{s}: missing secret (set it with: pulumi config set --secret acs:{s} <value> --stack {stack}; "
            "it is listed in acs:environment.secrets)" for s in missing))


def check_unique_subdomain(stack: str, cfg: EnvironmentConfig, root: Path) -> None:
    """Two stacks on one subdomain would fight over one address (Railway's domains are global)."""
    key, mine = "acs:environment.domain.subdomain", cfg.domain.subdomain
    if not PR_STACK.match(stack) and PR_SUBDOMAIN.match(mine):
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


def check_preview_file(stack: str, root: Path, secret_names: list[str]) -> None:
    """A PR preview's stack file holds only the secrets the tool generated for it (issue 14, report 2, B4): a copy
    of another stack's file (its acs:environment, its encryption salt and so its ciphertexts) would put that
    stack's secrets into the preview. Refused before any API call, naming the key and the file."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        return
    allowed = {f"acs:{name}" for name in secret_names}
    foreign = sorted(k for k in load_stack_file(stack, root) if k not in allowed)
    if foreign:
        raise ConfigError(f"{path.name}: {', '.join(foreign)}: a PR preview's stack file holds only the secrets "
                          f"`acs-infra pr up` generates for it ({', '.join(sorted(allowed))}); its configuration is "
                          f"dev's, never read from this file. Is it a copy of another stack's file? Delete "
                          f"{path.name}: the next `pr up` generates it")
    salt = _salt(path)
    for other in sorted(root.glob("Pulumi.*.yaml")):
        if salt and other != path and _salt(other) == salt:
            raise ConfigError(f"{path.name}: encryptionsalt is the one of {other.name}: a preview's file is "
                              f"generated with a salt of its own, so it can hold no ciphertext of another stack. "
                              f"Delete {path.name}: the next `pr up` generates it")


def _salt(path: Path) -> str | None:
    try:
        doc = read_yaml(path.read_text())
    except (OSError, ValueError, yaml.YAMLError):  # not UTF-8 (a ValueError) or not YAML: no salt to compare
        return None
    salt = doc.get("encryptionsalt") if isinstance(doc, dict) else None
    return salt if isinstance(salt, str) else None
