"""Fingerprints of live secret values, so that drift compares secrets without a read of its own.

A drift run hands the engine a random per-run key (`ACS_DRIFT_KEY`, only in the environment of that run's
`pulumi` process). A service's read, answered from the environment snapshot, then publishes per secret name an
HMAC of the live value under that key (drift compares it with the declared value's, in its own process) and the
short fingerprint a report shows. Values never leave the provider process; without the key nothing is published.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any

KEY = "ACS_DRIFT_KEY"
OUTPUT = "secret_fingerprints"


_PROCESS_KEY = secrets.token_hex(32)  # a process handed no run key still never shows a bare, guessable hash


def fingerprint(value: Any, key: str | None = None) -> str | None:
    """Stands in for a value that must not be shown: 32 bits of an HMAC under the run's key (given, else the
    drift run's `ACS_DRIFT_KEY`, else this process's own). Equal values give equal fingerprints within one run;
    a report read later cannot be used to test guesses of the value (adv15b N3: a bare sha256 could)."""
    if value is None:
        return None
    key = key or os.environ.get(KEY) or _PROCESS_KEY
    return f"[hidden hmac:{hmac.new(key.encode(), str(value).encode(), hashlib.sha256).hexdigest()[:8]}]"


def keyed(key: str, value: Any) -> str | None:
    """Full-length and keyed: compares exactly, and is worthless once the run's key is gone."""
    return None if value is None else hmac.new(key.encode(), str(value).encode(), hashlib.sha256).hexdigest()


def published(live: dict[str, Any], names: list[str]) -> dict[str, dict[str, str | None]] | None:
    return published_across([live], names)


def published_across(lives: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, str | None]] | None:
    """`published` for secrets given to several services (a fork shape's): a name's live values agree, or it
    matches no declared value and shows each one's fingerprint. Nothing without the key or a live service."""
    key = os.environ.get(KEY)
    if not key or not lives:
        return None
    out = {}
    for n in names:
        values = list(dict.fromkeys(live.get(n) for live in lives))
        if len(values) == 1:
            out[n] = {"match": keyed(key, values[0]), "shown": fingerprint(values[0])}
        else:
            out[n] = {"match": None, "shown": ", ".join(fingerprint(v) or "(absent)" for v in values)}
    return out


CHANGES = "variable_changes"  # a read's output: names of variables changed out of band, with fingerprints


def changes(declared: dict[str, Any], live: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[dict[str, Any]] | None:
    """Variables whose live value differs from the declared one (changed, added, removed), compared here in the
    provider process and published as names and fingerprints only. Without the run's key (a plain refresh,
    whose outputs go into the state) nothing is published."""
    if not os.environ.get(KEY):
        return None
    return [{"name": n, "declared": fingerprint(declared.get(n)), "live": fingerprint(live.get(n))}
            for n in sorted(set(declared) | set(live)) if n not in ignore and declared.get(n) != live.get(n)]
