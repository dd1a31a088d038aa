"""adv15 B1/B2 rules on plain data: when a marked pr-N environment is an orphan, and how a refusal names a foreign
instance of a service that also runs in another environment (a fork shares its source's service ids)."""
from __future__ import annotations

from infra.ops.preview_gc import held_by_a_stack
from infra.ops.safety import fork_copies, note_shared


def test_a_marked_environment_is_an_orphan_only_without_its_stack_and_with_its_pr_closed() -> None:
    assert "stack pr-47" in (held_by_a_stack("pr-47", {"dev", "pr-47"}, None) or "")
    assert "stack pr-47" in (held_by_a_stack("pr-47", {"pr-47"}, set()) or ""), "a closed PR's stack still holds it"
    assert "PR 47" in (held_by_a_stack("pr-47", {"dev"}, {47}) or "")
    assert held_by_a_stack("pr-47", {"dev", "pr-4"}, {4, 470}) is None
    assert held_by_a_stack("pr-47", {"dev"}, None) is None  # --max-age alone: no PR is known open


def test_a_forks_copied_services_are_its_own() -> None:
    fork = {"urn": "urn:pulumi:pr-47::acs::pulumi-python:dynamic:Resource::pr-47-environment",
            "outputs": {"copied": {"services": {"web": {"id": "svc-web", "variables": []}},
                                   "volumes": {"vol-1": "svc-web"}, "shared_variables": []}}}
    assert fork_copies({"resources": [fork]}) == {"svc-web", "vol-1"}


def test_a_foreign_instance_of_a_service_running_elsewhere_is_named_with_where() -> None:
    found = [("svc-web", "service web in pr-47"), ("svc-qa", "service qa in pr-47"),
             ("vol-1", "volume at /data in pr-47")]
    elsewhere = {"svc-web": ["a volume in dev", "an instance in dev"], "svc-qa": ["a volume in pr-47"]}
    noted = dict(note_shared(found, elsewhere))
    assert noted["svc-web"] == ("service web in pr-47 (the service also has an instance in dev: remove only this "
                                "instance, never the service)")
    assert noted["svc-qa"] == "service qa in pr-47" and noted["vol-1"] == "volume at /data in pr-47"
