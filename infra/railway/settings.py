"""The client's settings from the environment (ACS_RAILWAY_*), checked where they are read and by the CLI before
any command: a light module (the client's own imports are not needed to name a bad value)."""
from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

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
    # 1e-300 s is in (0, 3600] but times every request out at once (adv27 B8): a tenth of a second at least
    "ACS_RAILWAY_TIMEOUT": ("timeout", 0.1, 3600.0, True, "a number of seconds from 0.1 to 3600 (default 30)"),
}

# A number as a person writes one, in ASCII: `float()` also reads "1_0", Arabic-Indic and full-width digits
# (adv27 B8). Spaces around it are dropped (a value pasted with its newline); an empty value is the default, as
# CI systems expand an unset variable to "".
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def env_number(name: str, raw: str, low: float, high: float, low_allowed: bool, allowed: str) -> float:
    """A numeric setting from the environment, or SettingError naming the variable and what it may be."""
    value = float(raw) if NUMBER.fullmatch(raw.strip()) else math.nan
    if not (low <= value <= high) or (value == low and not low_allowed):  # NaN fails every comparison
        raise SettingError(f"{name}={raw[:20]!r} is not allowed: give {allowed}")
    return value


def env_settings(env: dict[str, str]) -> dict[str, float]:
    """The client's settings given in `env`, each checked (SettingError names a bad one)."""
    return {rule[0]: env_number(name, env[name], *rule[1:]) for name, rule in ENV_SETTINGS.items() if env.get(name)}


def check_endpoint(url: str) -> str:
    """RAILWAY_API_URL as httpx can use it: http(s) with a host; else one line (adv27 B6: an httpx traceback).
    Its credentials are never repeated back (adv27 B7)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(f"RAILWAY_API_URL={shown_url(url)!r} is not allowed: give an http(s) URL with a host "
                           "(default https://backboard.railway.com/graphql/v2)")
    return url


def shown_url(url: str) -> str:
    """The URL without a user, password, query or fragment: a proxy's credentials must not reach a CI log."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<not a URL>"
    if not parts.scheme and not host:
        return url[:40] if url.isprintable() and "@" not in url and "?" not in url else "<not a URL>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_token(name: str, token: str | None) -> None:
    """A token is sent as an HTTP header: ASCII with no space or control character. A pasted smart quote or
    no-break space ended in a UnicodeEncodeError traceback (adv27 B5). The token is never shown."""
    if token and not all(33 <= ord(c) < 127 for c in token):
        where = next(i for i, c in enumerate(token) if not 33 <= ord(c) < 127)
        raise SettingError(f"{name} holds a character a token cannot have (at position {where + 1}: a space, a "
                           "control or a non-ASCII character, often from copying it); set it again")


# The engine guard's grace (infra/ops/engine_guard.py runs without this package, so it is checked here too).
GRACE = ("ACS_ENGINE_GRACE_SECONDS", 0.0, 3600.0, True, "a number of seconds from 0 to 3600 (default 10)")


def check_env(env: dict[str, str]) -> None:
    """Every numeric setting given in `env`, before any command runs (SettingError names the first bad one)."""
    env_settings(env)
    if env.get(GRACE[0]):
        env_number(GRACE[0], env[GRACE[0]], *GRACE[1:])
    if env.get("RAILWAY_API_URL"):
        check_endpoint(env["RAILWAY_API_URL"])
    for name in ("RAILWAY_API_TOKEN", "RAILWAY_TOKEN"):
        check_token(name, env.get(name))
