"""Variables as the providers keep them: plain values in the open, secret values apart.

A resource takes `variables` (plain) and `secret_variables` (secret values; their names are in the plain
`secret_names`). Railway gets the union. Reading back splits the live set the same way, so a refresh shows
which plain variable changed, which name appeared or vanished, and that a secret changed, without its value.
"""
from __future__ import annotations

from typing import Any, Iterator

from infra.providers.base import CheckFailure
from infra.railway.facts import VARIABLE_NAME as VAR_NAME



def validate(kind: str, props: dict[str, Any]) -> Iterator[CheckFailure]:
    plain, secret = props.get("variables") or {}, props.get("secret_variables") or {}
    for key, values in (("variables", plain), ("secret_variables", secret)):
        for name, value in values.items():
            if not VAR_NAME.match(name):
                yield CheckFailure(key, f"{kind}: variable name {name!r} must match {VAR_NAME.pattern}")
            elif value is None or value == "":
                yield CheckFailure(key, f"{kind}: variable {name} has an empty value")
    both = sorted(set(plain) & set(secret))
    if both:
        yield CheckFailure("secret_variables", f"{kind}: {both} are given both as plain and as secret variables")


def with_names(props: dict[str, Any]) -> dict[str, Any]:
    """Normalises inputs: `secret_names` always lists the secret variables' names, sorted."""
    secret = props.get("secret_variables")
    if not isinstance(secret, dict):  # unknown during a preview
        return props
    return {**props, "secret_names": sorted(secret)}


def merged(props: dict[str, Any]) -> dict[str, str]:
    return {**(props.get("variables") or {}), **(props.get("secret_variables") or {})}


def split(live: dict[str, str], secret_names: list[str]) -> dict[str, Any]:
    secret = set(secret_names or [])
    return {"variables": {k: v for k, v in live.items() if k not in secret},
            "secret_variables": {k: v for k, v in live.items() if k in secret},
            "secret_names": sorted(secret)}


def changed(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    return merged(olds) != merged(news)
