"""The one patch that shapes a fork, without any API call."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.providers.fork import FORK_INTENT, ForkedEnvironmentProvider, copied_content
from infra.providers.fork_shape import ForkBehindSource, ForkShapeProvider, _live_service, shape_patch
from tests.conftest import copy_project

COPIED = {"services": {"web": {"id": "s-web", "variables": ["API_KEY", "DATABASE_URL", "NODE_ENV", "QA_FLAG"]},
                       "Postgres": {"id": "s-pg", "variables": ["POSTGRES_PASSWORD"]}},
          "volumes": {"v-pg": "s-pg", "v-qa": ""}, "shared_variables": ["SHARED"]}
WEB = {"image": "acs:pr-1", "settings": {"start_command": "npm start", "num_replicas": 1},
       "memory_bytes": 256 * 1024 ** 2, "vcpus": 1.0,
       "variables": {"DATABASE_URL": "file:/tmp/acs.sqlite", "NODE_ENV": "development"}}


def test_a_fresh_fork_keeps_only_what_is_declared() -> None:
    """Undeclared copies go from the fork (instances, volume instances, shared and undeclared variables); the
    declared service gets its source, settings, limits, variables and secrets."""
    patch = shape_patch(COPIED, {"web": WEB}, {"API_KEY": "preview-key"})
    assert patch["services"]["s-pg"] is None
    assert patch["volumes"] == {"v-pg": None, "v-qa": None}
    assert patch["sharedVariables"] == {"SHARED": None}
    web = patch["services"]["s-web"]
    assert web["source"] == {"image": "acs:pr-1"}
    assert web["deploy"]["startCommand"] == "npm start" and web["deploy"]["numReplicas"] == 1
    assert web["deploy"]["limitOverride"] == {"containers": {"memoryBytes": 256 * 1024 ** 2, "cpu": 1.0}}
    assert web["variables"]["QA_FLAG"] is None
    assert web["variables"]["API_KEY"] == {"value": "preview-key"}
    assert web["variables"]["DATABASE_URL"] == {"value": "file:/tmp/acs.sqlite"}


def test_an_update_patches_only_what_changed() -> None:
    """A later shape touches the changed services only, and removes variables the program no longer declares."""
    previous = {"services": {"web": WEB}, "secrets": {"API_KEY": "k"}}
    assert shape_patch(COPIED, {"web": WEB}, {"API_KEY": "k"}, previous) == {"services": {}}
    newer = {**WEB, "image": "acs:pr-1b", "variables": {"NODE_ENV": "development"}}
    patch = shape_patch(COPIED, {"web": newer}, {"API_KEY": "k"}, previous)
    assert set(patch) == {"services"} and set(patch["services"]) == {"s-web"}
    assert patch["services"]["s-web"]["variables"]["DATABASE_URL"] is None
    assert patch["services"]["s-web"]["source"] == {"image": "acs:pr-1b"}


def test_the_shape_marks_the_fork_as_its_stacks() -> None:
    """The marker replaces whatever marker the fork copied from its source."""
    copied = {**COPIED, "shared_variables": ["ACS_INFRA_OWNER", "SHARED"]}
    patch = shape_patch(copied, {"web": WEB}, {}, owner="organization/acs/pr-1@abc")
    assert patch["sharedVariables"] == {"ACS_INFRA_OWNER": {"value": "organization/acs/pr-1@abc"}, "SHARED": None}


def test_only_a_pr_stacks_marker_makes_an_orphan(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.ownership import backend_id
    from infra.ops.preview_gc import made_by_a_preview
    monkeypatch.setenv("PULUMI_BACKEND_URL", "file:///state")
    me = backend_id()
    assert made_by_a_preview(f"organization/acs/pr-7@{me}", "acs", "pr-7")
    assert made_by_a_preview(f"organization/acs/pr-7@{me}#0123456789abcdef", "acs", "pr-7")  # with its identity
    assert not made_by_a_preview(f"organization/acs/pr-7@{me}#x; rm", "acs", "pr-7")
    assert not made_by_a_preview(f"organization/acs/dev@{me}", "acs", "dev")
    assert not made_by_a_preview("organization/acs/pr-7@0123456789ab", "acs", "pr-7")
    assert not made_by_a_preview(f"organization/other/pr-7@{me}", "acs", "pr-7")
    assert not made_by_a_preview(None, "acs", "pr-7")
    # a copy of pr-7 (`railway environment new --copy`) inherits the marker, not the name
    assert not made_by_a_preview(f"organization/acs/pr-7@{me}", "acs", "pr-7-copy")
    assert not made_by_a_preview(f"organization/acs/pr-7@{me}", "acs", "pr-8")


def test_a_declared_service_missing_from_the_fork_is_named() -> None:
    """One line of ours (infra.*), never the provider's traceback (adv15 B3)."""
    with pytest.raises(ForkBehindSource, match="worker not in the source environment"):
        shape_patch(COPIED, {"web": WEB, "worker": WEB}, {})


class Source:
    """The source environment's one read (EnvironmentForkRead), counted."""

    def __init__(self, runs: list[str]) -> None:
        self.runs, self.reads = runs, 0

    def query(self, name: str, **_: Any) -> dict[str, Any]:
        assert name == "EnvironmentForkRead"
        self.reads += 1
        return {"environment": {"name": "dev", "serviceInstances": {"edges": [
            {"node": {"serviceName": n, "serviceId": f"s-{n}"}} for n in self.runs]}}}


FORK = {"project_id": "p", "source_environment_id": "e-dev", "name": "pr-42", "ephemeral": True, "owner": "o"}


def test_a_fork_not_given_a_service_dev_gained_is_forked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """adv15 B3: Railway copies services into a fork only when it is made; a declared service the fork was not
    given replaces the fork (old one deleted first), after one read that dev runs it."""
    from infra.providers import fork
    source = Source(["Postgres", "web", "worker"])
    monkeypatch.setattr(fork, "client", lambda: source)
    provider = ForkedEnvironmentProvider()
    olds = {**FORK, "copied": COPIED}
    same = provider.diff("e9", olds, {**FORK, "services": ["web"]})
    assert not same.changes and not same.replaces and source.reads == 0, "nothing gained: no call, no change"
    diff = provider.diff("e9", olds, {**FORK, "services": ["web", "worker"]})
    assert diff.replaces == ["services"] and diff.delete_before_replace and source.reads == 1
    stamped = provider.check({**FORK, "services": ["web"], FORK_INTENT: "t0"},
                             {**FORK, "services": ["web", "worker"]}).inputs[FORK_INTENT]
    assert stamped != "t0", "the re-fork's create is meant now: its own deadline"


def test_a_service_dev_does_not_run_yet_is_one_true_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """dev's stack file declares worker but dev was not brought up: re-forking would not help; the refusal says
    what dev really runs, before any write."""
    from infra.providers import fork
    monkeypatch.setattr(fork, "client", lambda: Source(["Postgres", "web"]))
    with pytest.raises(ForkBehindSource, match=r"pr-42: worker declared, but dev does not run it \(it runs "
                                               r"Postgres, web\): bring dev's stack up first"):
        ForkedEnvironmentProvider().diff("e9", {**FORK, "copied": COPIED}, {**FORK, "services": ["web", "worker"]})


def test_only_the_apps_services_get_the_prs_image_and_seed(tmp_path: Path) -> None:
    """adv15 B8: a service with an image of its own keeps it and its own pre-deploy command in a preview."""
    from infra.config import is_app_image, pr_config
    copy_project(tmp_path)
    dev_file = tmp_path / "Pulumi.dev.yaml"
    doc = yaml.safe_load(dev_file.read_text())
    services = doc["config"]["acs:environment"]["services"]
    services += [{"name": "worker", "source": {"image": "ghcr.io/acs-team/worker:develop"}, "memory": "512MB",
                  "public": False},
                 {"name": "api", "source": {"image": "ghcr.io/acs-team/acs@sha256:" + "a" * 64}, "memory": "512MB",
                  "public": False, "preDeployCommand": "true"}]
    dev_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    pr = {s.name: s for s in pr_config("pr-7", tmp_path).services}
    assert (pr["worker"].source.image, pr["worker"].pre_deploy_command, pr["worker"].memory) == \
        ("ghcr.io/acs-team/worker:develop", None, 256)
    for name in ("web", "api"):
        assert (pr[name].source.image, pr[name].pre_deploy_command) == \
            ("ghcr.io/acs-team/acs:pr-7", "npm run migrate && npm run db:seed")
    assert is_app_image("ghcr.io/acs-team/acs@sha256:" + "b" * 64, "ghcr.io/acs-team/acs")
    assert is_app_image("localhost:5000/acs", "localhost:5000/acs")
    assert not is_app_image("ghcr.io/acs-team/acs-worker:1", "ghcr.io/acs-team/acs")
    assert not is_app_image(None, "ghcr.io/acs-team/acs")


def test_copied_content_keeps_names_never_values() -> None:
    env = {"serviceInstances": {"edges": [{"node": {"serviceId": "s-web", "serviceName": "web"}}]},
           "config": {"services": {"s-web": {"variables": {"API_KEY": {"value": "*****"}},
                                             "volumeMounts": {"v-1": {"mountPath": "/d"}}}},
                      "volumes": {"v-1": {}, "v-2": {}}, "sharedVariables": {"S": {"value": "*****"}}}}
    assert copied_content(env) == {"services": {"web": {"id": "s-web", "variables": ["API_KEY"]}},
                                   "volumes": {"v-1": "s-web", "v-2": ""}, "shared_variables": ["S"]}


def test_shape_checks_each_service() -> None:
    failures = ForkShapeProvider().check({}, {"environment_id": "e", "copied": COPIED, "services": {
        "web": {**WEB, "repo": "a/b"}, "api": {**WEB, "settings": {"num_replicas": 0}}}}).failures
    reasons = " ".join(f.reason for f in failures)
    assert "service web: give exactly one source" in reasons and "num_replicas 0" in reasons


def test_the_public_services_domain_is_named_in_the_same_patch() -> None:
    """A preview's Railway domain is part of its one shaping patch (`networking.serviceDomains`), a new name
    removes the old one, an unchanged one is not patched again, and a read gives back the live name and port."""
    public = {**WEB, "domain": "acs-pr-1.up.railway.app", "port": 8080}
    fresh = shape_patch(COPIED, {"web": public}, {})["services"]["s-web"]
    assert fresh["networking"] == {"serviceDomains": {"acs-pr-1.up.railway.app": {"port": 8080}}}
    assert "networking" not in shape_patch(COPIED, {"web": WEB}, {})["services"]["s-web"]
    previous = {"services": {"web": public}, "secrets": {}}
    assert shape_patch(COPIED, {"web": public}, {}, previous) == {"services": {}}
    renamed = shape_patch(COPIED, {"web": {**public, "domain": "acs-pr-2.up.railway.app"}}, {}, previous)
    assert renamed["services"]["s-web"]["networking"] == {"serviceDomains": {
        "acs-pr-1.up.railway.app": None, "acs-pr-2.up.railway.app": {"port": 8080}}}
    live = _live_service({"services": {"s-web": {"networking": {"serviceDomains": {
        "acs-pr-1.up.railway.app": {"port": 8080}}}}}}, "s-web", public)
    assert (live["domain"], live["port"]) == ("acs-pr-1.up.railway.app", 8080)
    gone = _live_service({"services": {"s-web": {}}}, "s-web", public)
    assert gone["domain"] is None, "a domain removed by hand reads as a change the next up restores"


def test_state_pickled_before_the_shape_moved_still_loads() -> None:
    """Dynamic providers are pickled into state by reference (module and class name); previews made before
    ForkShape moved to its own module name `infra.providers.fork.ForkShapeProvider`: their next run (update,
    refresh, `pr down`) must still load it."""
    import dill
    old_state = b"\x80\x02cinfra.providers.fork\nForkShapeProvider\n)\x81."  # protocol 2: GLOBAL, NEWOBJ
    assert isinstance(dill.loads(old_state), ForkShapeProvider)
