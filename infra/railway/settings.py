"""The client's settings from the environment (ACS_RAILWAY_*), checked where they are read and by the CLI before
any command: a light module (the client's own imports are not needed to name a bad value)."""
from __future__ import annotations

import math

from infra.railway.errors import SettingError

# The client's own lines on stderr (a wait for the hourly budget): a provider's stderr reaches the engine's output,
# where a command that shows no engine output (drift) picks them out.
NOTICE = "acs-infra: "

# The settings read from the environment: (the client's field, the range, whether its low end is allowed, what
# the setting may be). `float()` takes "nan" and "inf": a NaN wait compared false with every reset and turned the
# hourly-budget check off (adv25), and 1e300 s or 1e-300 req/s overflowed the client (adv26), so each is a finite
# number in a range a run can use.
ENV_SETTINGS: dict[str, tuple[str, float, float, bool, str]] = {
    "ACS_RAILWAY_MAX_WAIT": ("max_retry_after", 0.0, 86400.0, True, "a number of seconds from 0 to 86400 (the longest "
                                                                    "a run waits for Railway's hourly budget; default 3600)"),
    "ACS_RAILWAY_RPS": ("requests_per_second", 0.01, 1000.0, True, "a number of requests per second from 0.01 to 1000 "
                                                                   "(default 8)"),
    "ACS_RAILWAY_TIMEOUT": ("timeout", 0.0, 3600.0, False, "a number of seconds above 0, at most 3600 (default 30)"),
}


def env_number(name: str, raw: str, low: float, high: float, low_allowed: bool, allowed: str) -> float:
    """A numeric setting from the environment, or SettingError naming the variable and what it may be."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (low <= value <= high) or (value == low and not low_allowed):  # NaN fails every comparison
        raise SettingError(f"{name}={raw[:20]!r} is not allowed: give {allowed}")
    return value


def env_settings(env: dict[str, str]) -> dict[str, float]:
    """The client's settings given in `env`, each checked (SettingError names a bad one)."""
    return {rule[0]: env_number(name, env[name], *rule[1:]) for name, rule in ENV_SETTINGS.items() if env.get(name)}


# The engine guard's grace (infra/ops/engine_guard.py runs without this package, so it is checked here too).
GRACE = ("ACS_ENGINE_GRACE_SECONDS", 0.0, 3600.0, True, "a number of seconds from 0 to 3600 (default 10)")


def check_env(env: dict[str, str]) -> None:
    """Every numeric setting given in `env`, before any command runs (SettingError names the first bad one)."""
    env_settings(env)
    if env.get(GRACE[0]):
        env_number(GRACE[0], env[GRACE[0]], *GRACE[1:])
