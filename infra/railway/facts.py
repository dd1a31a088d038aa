"""Railway's facts and the product's names, written once: the config models, the providers and the operations read
them from here. (The emulator keeps its own copy of Railway's facts: it never imports the product.)"""
from __future__ import annotations

import re

# ---- Railway ------------------------------------------------------------------------------------------------
REGIONS = ("us-west2", "us-east4-eqdc4a", "europe-west4-drams3a", "asia-southeast1-eqsg3a")
RESTART_POLICIES = ("ON_FAILURE", "ALWAYS", "NEVER")
DOMAIN_SUFFIX = "up.railway.app"  # a Railway-provided service domain is <subdomain>.up.railway.app
SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SUBDOMAIN_RULE = "1-63 lowercase letters, digits or '-', not starting or ending with '-'"
ENVIRONMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
REFERENCE = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")  # Railway's ${{VAR}}, ${{shared.VAR}}, ${{Service.VAR}}

# ---- the product's names ------------------------------------------------------------------------------------
PR_NUMBER = r"[1-9]\d{0,6}"  # the one rule for PR numbers: 1..9999999, no leading zero
PR_RULE = "a PR number from 1 to 9999999 without leading zeros"
PR_STACK = re.compile(rf"^pr-({PR_NUMBER})$")  # a PR preview's stack, and its environment's name
PR_SUBDOMAIN = re.compile(r"^acs-pr-\d+$")  # reserved for PR previews (acs-pr-<N>)
STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
POSTGRES_SERVICE = "Postgres"  # the database service's name (infra.components)

# ---- durations, as written in stack config and on the command line ------------------------------------------
DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)\s*")
MS_PER_UNIT = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(value: object) -> float:
    """The one duration parser: '500ms' -> 500, '2s' -> 2000, '30m', '36h', '7d' (milliseconds). The unit is
    required; zero is refused."""
    match = DURATION.fullmatch(value) if isinstance(value, str) else None
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a duration; write a positive number with a unit: ms, s, m, h or d "
                         "(e.g. \"500ms\", \"30m\", \"36h\")")
    return float(match.group(1)) * MS_PER_UNIT[match.group(2)]
