"""adv15 B1/B2 rules on plain data: when a marked pr-N environment is an orphan, and how a refusal names a foreign
instance of a service that also runs in another environment (a fork shares its source's service ids)."""
from __future__ import annotations

from typing import Any

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


def test_an_orphans_own_objects_are_only_its_copies_of_what_its_source_holds() -> None:
    """adv15b N1 on plain data: a service or volume counts as the fork's copy only with an instance in the
    environment it was forked from; one made in the fork by hand (no instance in dev) does not."""
    from infra.ops.safety import source_copies

    def env(id_: str, source: str | None, services: list[str]) -> dict:
        return {"node": {"id": id_, "sourceEnvironment": {"id": source} if source else None,
                         "serviceInstances": {"edges": [{"node": {"serviceId": s}} for s in services]}}}
    project = {"environments": {"edges": [env("dev", None, ["web", "pg"]), env("pr", "dev", ["web", "pg", "mine"]),
                                          env("lost", "gone", ["web"])]},
               "volumes": {"edges": [{"node": {"id": v, "volumeInstances": {"edges": [
                   {"node": {"environmentId": e}} for e in where]}}} for v, where in
                   (("pgdata", ["dev", "pr"]), ("by-hand", ["pr"]))]}}
    assert source_copies(project, "pr") == {"web", "pg", "pgdata"}
    assert source_copies(project, "lost") == set(), "a source that is gone proves nothing is a copy"
    assert source_copies(project, "dev") == set()


def test_a_file_backends_lock_is_read_without_taking_it(tmp_path: Any, monkeypatch: Any) -> None:
    """adv15b N4: gc's dry run sees a killed run's lock (this host, no such process) as the real run will."""
    import json
    import socket

    from infra.ops import locks
    folder = tmp_path / ".pulumi" / "locks" / "organization" / "acs" / "pr-47"
    folder.mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps({"pid": 2 ** 22 + 7, "username": "ci", "hostname": socket.gethostname(),
                                               "timestamp": "2026-11-27T05:00:00Z"}))
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    found = locks.file_backend_holders("acs", "pr-47")
    assert found and locks.all_gone(found) == found and locks.file_backend_holders("acs", "pr-48") == []
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://bucket")
    assert locks.file_backend_holders("acs", "pr-47") is None
