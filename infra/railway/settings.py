"""The client's settings from the environment (ACS_RAILWAY_*), checked where they are read and by the CLI before
any command: a light module (the client's own imports are not needed to name a bad value)."""
from __future__ import annotations

import math

from infra.railway.errors import SettingError

# The client's own lines on stderr (a wait for the hourly budget): a provider's stderr reaches the engine's output,
# where a command that shows no engine output (drift) picks them out.
NOTICE = "acs-infra: "

# The settings read from the environment: (the client's field, the lowest value, whether that value is allowed,
# what the setting may be).
# `float()` takes "nan" and "inf": a NaN wait compared false with every reset and turned the hourly-budget check
# off (adv25), so each must be a finite number in its range.
ENV_SETTINGS: dict[str, tuple[str, float, bool, str]] = {
    "ACS_RAILWAY_MAX_WAIT": ("max_retry_after", 0.0, True, "a number of seconds, 0 or more (the longest a run waits "
                                                           "for Railway's hourly budget; default 3600)"),
    "ACS_RAILWAY_RPS": ("requests_per_second", 0.0, False, "a number of requests per second above 0 (default 8)"),
    "ACS_RAILWAY_TIMEOUT": ("timeout", 0.0, False, "a number of seconds above 0 (default 30)"),
}


def env_number(name: str, raw: str, lowest: float = 0.0, lowest_allowed: bool = True, allowed: str = "") -> float:
    """A numeric setting from the environment, or SettingError naming the variable and what it may be."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < lowest or (value == lowest and not lowest_allowed):
        raise SettingError(f"{name}={raw[:20]!r} is not allowed: give {allowed or 'a number'}")
    return value


def env_settings(env: dict[str, str]) -> dict[str, float]:
    """The client's settings given in `env`, each checked (SettingError names a bad one)."""
    return {field: env_number(name, env[name], lowest, allowed_low, allowed)
            for name, (field, lowest, allowed_low, allowed) in ENV_SETTINGS.items() if env.get(name)}


# The engine guard's grace (infra/ops/engine_guard.py runs without this package, so it is checked here too).
GRACE = ("ACS_ENGINE_GRACE_SECONDS", 0.0, True, "a number of seconds, 0 or more (default 10)")


def check_env(env: dict[str, str]) -> None:
    """Every numeric setting given in `env`, before any command runs (SettingError names the first bad one)."""
    env_settings(env)
    name, lowest, allowed_low, allowed = GRACE
    if env.get(name):
        env_number(name, env[name], lowest, allowed_low, allowed)
