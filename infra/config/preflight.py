"""The checks made before a stack is created or updated: the stack file, the token, the token's validity."""
from __future__ import annotations

import os
from pathlib import Path

from infra.config.models import ConfigError, EnvironmentConfig, parse_environment
from infra.config.stack_file import read_stack_document
from infra.config.stacks import (
    check_ciphertexts, check_known_keys, check_preview_file, check_secret_storage, check_secrets_set,
    check_stack_name, check_unique_subdomain, guard_stack, load_stack_file, pr_config,
)
from infra.railway.facts import PR_STACK


def check_token(config_keys: set[str]) -> None:
    """Without a token every resource would fail on its own, after the stack exists: stop before."""
    if not (os.environ.get("RAILWAY_API_TOKEN") or os.environ.get("RAILWAY_TOKEN") or "railwayToken" in config_keys):
        raise ConfigError("no Railway token: set RAILWAY_API_TOKEN (account/workspace) or RAILWAY_TOKEN (project), "
                          "or the stack config: pulumi config set --secret acs:railwayToken <token>")


def verify_token() -> tuple[int | None, int | None, float | None] | None:
    """One cheap read with the environment's token, so a wrong or revoked one stops before a stack is created
    (a token from the encrypted stack config cannot be read before the stack exists: the program reports it).
    A workspace token may not call `me` (Railway docs), so account/workspace tokens list one project; a project
    token reads its own scope (`projectToken`). Raises the client's NotAuthorizedError. Returns the token's
    hourly budget as the answer's headers tell it (limit, remaining, seconds to reset); None without a token."""
    from infra.railway.client import client_from_env  # the API client is only needed here, not by the program
    from infra.railway.errors import NotAuthorizedError

    if not (os.environ.get("RAILWAY_API_TOKEN") or os.environ.get("RAILWAY_TOKEN")):
        return None
    name = "RAILWAY_API_TOKEN" if os.environ.get("RAILWAY_API_TOKEN") else "RAILWAY_TOKEN"
    with client_from_env() as client:
        try:
            client.query("TokenProjects" if name == "RAILWAY_API_TOKEN" else "ProjectTokenScope")
        except NotAuthorizedError as exc:
            raise NotAuthorizedError(f"Railway refused the token in {name} ({exc.message}): is it wrong, "
                                     "revoked or for another workspace?", exc.operation) from None
        return client.budget()


def require_stack_file(stack: str, root: Path) -> None:
    """A stack other than a PR preview is declared by its file. Without it an engine run of the stack (even a
    preview) writes a new `Pulumi.<stack>.yaml` holding only a fresh encryptionsalt into the clone (B9)."""
    if not PR_STACK.match(stack) and not (root / f"Pulumi.{stack}.yaml").exists():
        raise ConfigError(f"no stack file Pulumi.{stack}.yaml in {root}: a stack needs its acs:environment "
                          "(start from a copy of Pulumi.dev.yaml)")


def check_config(stack: str, root: Path, *, secrets_needed: bool = True) -> EnvironmentConfig:
    """The stack's declared configuration, validated: a bad value is named (key, value, what is allowed) before
    any engine run or API call, by every command that reads the stack file (`destroy` needs no secret set)."""
    check_stack_name(stack)
    if PR_STACK.match(stack):
        return pr_config(stack, root)
    require_stack_file(stack, root)
    doc, config = read_stack_document(root / f"Pulumi.{stack}.yaml")  # one read for the values and the ciphertexts
    cfg = parse_environment(config.get("acs:environment"))
    present = {k[4:] for k in config if k.startswith("acs:")}
    encrypted = {k[4:] for k, v in config.items() if k.startswith("acs:") and isinstance(v, dict) and "secure" in v}
    check_known_keys(cfg.secrets, present)  # the program's own checks, before any call (adv22 and adv23 B2)
    check_secret_storage([*cfg.secrets, "railwayToken"], present, encrypted)
    check_ciphertexts(stack, doc, config)
    if secrets_needed:
        check_secrets_set(cfg.secrets, present, stack)
    return cfg


def preflight(stack: str, root: Path) -> EnvironmentConfig:
    """Everything the stack files decide, checked before a stack is created: no empty stack is left behind."""
    cfg = check_config(stack, root)
    if PR_STACK.match(stack):
        check_preview_file(stack, root, cfg.secrets)
    guard_stack(stack, cfg)
    check_unique_subdomain(stack, cfg, root)
    own = load_stack_file(stack, root) if (root / f"Pulumi.{stack}.yaml").exists() else {}
    check_token({k[4:] for k in own if k.startswith("acs:")})
    return cfg
