"""Stack config -> validated model -> component. Everything here runs before any resource is declared, so a
bad configuration fails without a single API call."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pulumi

from infra import versions
from infra.components import AcsEnvironment
from infra.config import (PR_STACK, EnvironmentConfig, check_known_keys, check_secret_references, check_secret_storage,
                          check_secrets_set, check_stack_name, check_token, check_unique_subdomain, guard_stack,
                          parse_environment, pr_config)

def load_config(stack: str, config: pulumi.Config) -> EnvironmentConfig:
    check_stack_name(stack)
    if PR_STACK.match(stack):
        cfg = pr_config(stack)
    else:
        cfg = parse_environment(config.get_object("environment"))
    guard_stack(stack, cfg)
    check_unique_subdomain(stack, cfg, Path.cwd())
    return cfg


def check_keys(cfg: EnvironmentConfig, present: set[str]) -> None:
    """Unknown `acs:` keys are typos; missing secrets are listed together."""
    check_known_keys(cfg.secrets, present)
    check_secret_storage([*cfg.secrets, "railwayToken"], present, secret_config_keys())
    check_secrets_set(cfg.secrets, present, pulumi.get_stack())
    check_token(present)


def config_keys() -> set[str]:
    raw = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")  # a stack without config arrives as `null`
    return {k.split(":", 1)[1] for k in raw or {} if k.startswith("acs:")}


def secret_config_keys() -> set[str]:
    raw = json.loads(os.environ.get("PULUMI_CONFIG_SECRET_KEYS") or "[]")
    return {k.split(":", 1)[1] for k in raw or [] if k.startswith("acs:")}


def run(stack: str, config: pulumi.Config) -> dict[str, Any]:
    cfg = load_config(stack, config)
    check_keys(cfg, config_keys())
    # decrypted only here: a secret's `${{Other.VAR}}` would render empty on Railway like a plain variable's
    check_secret_references(cfg, {name: pulumi.runtime.config.get_config(f"acs:{name}") for name in cfg.secrets})
    secrets = {name: config.require_secret(name) for name in cfg.secrets}
    if PR_STACK.match(stack) and secrets:
        secrets = recorded_first(stack, secrets)
    env = AcsEnvironment(stack, cfg, secrets, release=versions.requested(stack))
    outputs: dict[str, Any] = {
        "url": env.url, "environmentName": cfg.name, "environmentId": env.environment_id,
        "projectId": env.project_id, "serviceIds": env.service_ids, "databaseKind": cfg.database.kind,
        "stage": cfg.stage,
    }
    if env.release is not None:  # the version it runs, and its releases: every runner reads them here
        outputs["release"] = {"image": env.release.image, "commit": env.release.commit, "since": env.release.since}
        outputs["releases"] = env.release.records
    if env.database_url is not None:
        outputs["databaseUrl"] = pulumi.Output.secret(env.database_url)
    if env.volume_instance_id is not None:
        outputs["volumeInstanceId"] = env.volume_instance_id
    if PR_STACK.match(stack) and secrets:  # kept in the backend: a runner with a fresh clone reuses them
        outputs["previewSecrets"] = pulumi.Output.secret(secrets)
    return outputs


def recorded_first(stack: str, secrets: dict[str, pulumi.Output[str]]) -> dict[str, pulumi.Output[str]]:
    """A preview's secrets as its stack recorded them (its secret output `previewSecrets`), read while this run holds
    the stack's lock, win over the clone's file unless CI gives `ACS_PREVIEW_<NAME>` (the rule of
    infra.ops.preview_secrets). `acs-infra` chooses them before the lock; a run that waited on it chose before the
    other run recorded its set, and would re-key the live preview with its own (adversarial issue 17, break 2).
    The engine's own stack-reference read of this very stack (an invoke: no resource in the state, no step) reads
    the outputs the last completed run left."""
    read = pulumi.runtime.invoke_output("pulumi:pulumi:readStackOutputs",
                                        {"name": f"organization/{pulumi.get_project()}/{stack}"})
    recorded = read.apply(lambda r: ((r or {}).get("outputs") or {}).get("previewSecrets"))

    def pick(name: str, held: Any, mine: str) -> str:
        if os.environ.get(f"ACS_PREVIEW_{name}") or not isinstance(held, dict) or not held.get(name):
            return mine
        return held[name]
    return {name: pulumi.Output.secret(pulumi.Output.all(recorded, value).apply(
        lambda both, n=name: pick(n, both[0], both[1]))) for name, value in secrets.items()}
