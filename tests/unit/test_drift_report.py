"""Issue 14 item 13: drift reports never print a value of a secret or of a variable not declared plain."""
from __future__ import annotations

import hashlib

import json

import pytest

from infra.ops.drift import field_drift, fingerprint, merge_secret_drift, published_changes, variable_drift
from infra.ops.drift_report import FieldDrift, ResourceDrift, StackDrift, markdown_report, text_report
from infra.providers import secret_prints

STRIPE = "sk_live_51HxAbCdEfGhIjKlMnOpQrStUv"


def reports(drifts: list[ResourceDrift]) -> str:
    result = StackDrift("dev", drifts)
    return text_report([result]) + markdown_report([result]) + json.dumps(result.as_dict(), default=str)


def test_out_of_band_variable_shows_name_and_fingerprint_never_its_value() -> None:
    """Issue 14 item 13: `variables.STRIPE_KEY | (absent) | sk_live_...` was printed verbatim."""
    fields = variable_drift({"NODE_ENV": "development"}, {"NODE_ENV": "production", "STRIPE_KEY": STRIPE})
    out = reports([ResourceDrift("dev-web", "changed", fields)])
    assert STRIPE not in out and "sk_live" not in out
    assert "variables.STRIPE_KEY" in out and fingerprint(STRIPE) in out
    assert "declared development, live production" in out  # declared plain: values are fine to show


def test_plain_value_moved_onto_an_undeclared_name_is_hidden_too() -> None:
    """A variable the program does not declare may hold anything: its value is never shown, whatever it looks like."""
    fields = field_drift({"variables": {"A": "1", "DEBUG_TOKEN": "tok-123"}}, {"variables": {"A": "1"}})
    assert [f.field for f in fields] == ["variables.DEBUG_TOKEN"]
    assert "tok-123" not in reports([ResourceDrift("dev-web", "changed", fields)])


def test_changed_secret_is_listed_even_when_other_fields_drift() -> None:
    """Issue 14 item 13: with other fields drifting, a changed secret used to go unmentioned."""
    events = [ResourceDrift("dev-web", "changed", [FieldDrift("variables.LOG_LEVEL", "debug", "warn")])]
    secrets = [ResourceDrift("dev-web", "changed", [FieldDrift("secrets.JWT_SECRET", fingerprint("declared-jwt"),
                                                               fingerprint("stolen-and-replaced"))])]
    merged = merge_secret_drift(events, secrets)
    assert len(merged) == 1 and [f.field for f in merged[0].fields] == ["variables.LOG_LEVEL", "secrets.JWT_SECRET"]
    out = reports(merged)
    assert "secrets.JWT_SECRET" in out and "stolen-and-replaced" not in out and "declared-jwt" not in out


def test_fingerprint_is_short_stable_and_not_the_value() -> None:
    assert fingerprint("secret-zzz") == fingerprint("secret-zzz") != fingerprint("secret-zzy")
    assert "zzz" not in fingerprint("secret-zzz") and len(fingerprint("secret-zzz")) < 30
    assert fingerprint(None) is None


def test_fingerprint_is_keyed_not_a_bare_hash() -> None:
    """adv15b N3: a bare sha256 prefix of `letmein` let anyone reading the published report test guesses offline.
    A fingerprint is keyed by the run's key: worthless once the run is over, equal only within one run."""
    bare = hashlib.sha256(b"letmein").hexdigest()[:8]
    assert bare not in fingerprint("letmein") and bare not in fingerprint("letmein", "k1")
    assert fingerprint("letmein", "k1") == fingerprint("letmein", "k1") != fingerprint("letmein", "k2")


def test_a_literal_pasted_over_a_declared_reference_shows_a_fingerprint() -> None:
    """adv14c B4: `DATABASE_URL` is declared as `${{Postgres.DATABASE_URL}}` (it renders to a credential); a
    literal URL pasted over it was printed verbatim with its password in text, --json and --markdown."""
    pasted = "postgresql://postgres:LEAKME-dburl-4444@x:5432/db"
    fields = field_drift({"variables": {"DATABASE_URL": pasted, "LOG_LEVEL": "warn"}},
                         {"variables": {"DATABASE_URL": "${{Postgres.DATABASE_URL}}", "LOG_LEVEL": "debug"}})
    out = reports([ResourceDrift("dev-web", "changed", fields)])
    assert "LEAKME" not in out and "postgresql://" not in out, out
    assert "variables.DATABASE_URL" in out and fingerprint(pasted) in out
    assert "declared debug, live warn" in out  # a plain value declared plain is still shown


def test_variables_changed_out_of_band_are_published_by_name_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """adv14c B5: the database's password, a variable added to it and a new shared variable went unreported. A
    read publishes them (under drift's key only) as names and fingerprints; the stack's own marker is not drift."""
    made = {"POSTGRES_PASSWORD": "made-pw", "PGPASSWORD": "${{POSTGRES_PASSWORD}}", "POSTGRES_DB": "railway"}
    live = {"POSTGRES_PASSWORD": "LEAKME-1111", "PGPASSWORD": "${{POSTGRES_PASSWORD}}", "EVIL_TOKEN": "LEAKME-3333",
            "ACS_INFRA_OWNER": "{}"}
    monkeypatch.delenv(secret_prints.KEY, raising=False)
    assert secret_prints.changes(made, live) is None  # a plain refresh publishes nothing into the state
    monkeypatch.setenv(secret_prints.KEY, "k")
    found = secret_prints.changes(made, live, ignore=("ACS_INFRA_OWNER",))
    assert [c["name"] for c in found] == ["EVIL_TOKEN", "POSTGRES_DB", "POSTGRES_PASSWORD"]
    out = reports([ResourceDrift("dev-postgres", "changed", published_changes(found))])
    assert "LEAKME" not in out and "made-pw" not in out and "railway" not in out, out
    assert "variables.POSTGRES_PASSWORD" in out and fingerprint("LEAKME-1111") in out


def test_a_fork_shapes_services_drift_per_field_never_as_a_whole() -> None:
    """adv15 B4: a preview's drift printed the shape's whole live `services` dict, a hand-made token's value in it.
    Now one field per difference, like a service's: variables by name (a fingerprint unless declared plain)."""
    declared = {"web": {"image": "acs:1", "settings": {"num_replicas": 1}, "variables": {"LOG_LEVEL": "debug"}},
                "worker": {"image": "acs:1", "variables": {"QUEUE": "q"}}}
    live = {"web": {"image": "acs:2", "settings": {"num_replicas": 3},
                    "variables": {"LOG_LEVEL": "warn", "HANDMADE_TOKEN": "hm_SECRET_VALUE_9999"}}}
    fields = field_drift({"services": live}, {"services": declared})
    shown = {f.field: (f.declared, f.live) for f in fields}
    assert shown == {"services.web.image": ("acs:1", "acs:2"),
                     "services.web.settings.num_replicas": (1, 3),
                     "services.web.variables.HANDMADE_TOKEN": (None, fingerprint("hm_SECRET_VALUE_9999")),
                     "services.web.variables.LOG_LEVEL": ("debug", "warn"),
                     "services.worker": ("(present)", None)}, shown
    out = reports([ResourceDrift("pr-48-shape", "changed", fields)])
    assert "hm_SECRET_VALUE_9999" not in out and "QUEUE" not in out, out


def test_a_secret_given_to_several_services_matches_only_when_they_all_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """adv15 B5: a fork shape gives its secrets to each declared service; a value changed on any one of them is
    drift, shown by fingerprints only."""
    monkeypatch.setenv(secret_prints.KEY, "k")
    same = secret_prints.published_across([{"JWT": "a"}, {"JWT": "a"}], ["JWT"])
    assert same == secret_prints.published({"JWT": "a"}, ["JWT"])
    assert same["JWT"]["match"] == secret_prints.keyed("k", "a")
    split = secret_prints.published_across([{"JWT": "a"}, {"JWT": "stolen"}, {}], ["JWT"])["JWT"]
    assert split["match"] is None
    assert split["shown"] == f"{fingerprint('a')}, {fingerprint('stolen')}, (absent)"
    assert secret_prints.published_across([], ["JWT"]) is None  # no live service: nothing to compare
