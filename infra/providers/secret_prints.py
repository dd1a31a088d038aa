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
from typing import Any

KEY = "ACS_DRIFT_KEY"
OUTPUT = "secret_fingerprints"


def fingerprint(value: Any) -> str | None:
    """Stands in for a value that must not be shown: equal values give equal fingerprints (32 bits of sha256,
    enough to tell two values apart in a report, too short to be a useful oracle for a random secret)."""
    if value is None:
        return None
    return f"[hidden sha256:{hashlib.sha256(str(value).encode()).hexdigest()[:8]}]"


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
