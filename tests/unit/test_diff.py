"""Diff and check logic of the providers, without any API call."""
from __future__ import annotations

from infra.providers.backup_schedule import BackupScheduleProvider
from infra.providers.domain import RailwayDomainProvider
from infra.providers.limits import ServiceLimitsProvider
from infra.providers.postgres import PostgresProvider
from infra.providers.service import ServiceProvider
from infra.providers.service_instance import ServiceSettingsProvider
from infra.providers.volume import VolumeProvider

SVC = {"project_id": "p", "environment_id": "e", "name": "web", "image": "node:20", "variables": {"A": "1"}}


def test_no_change_means_no_diff() -> None:
    p = ServiceProvider()
    inputs = p.check({}, SVC).inputs
    assert not p.diff("id", inputs, inputs).changes


def test_in_place_versus_replacement() -> None:
    p = ServiceProvider()
    olds = p.check({}, SVC).inputs
    assert p.diff("id", olds, {**olds, "name": "api"}).replaces == []
    assert p.diff("id", olds, {**olds, "variables": {"A": "2"}}).replaces == []
    assert p.diff("id", olds, {**olds, "image": "node:22"}).replaces == []
    assert p.diff("id", olds, {**olds, "project_id": "q"}).replaces == ["project_id"]


def test_a_value_a_preview_cannot_know_is_not_a_replacement() -> None:
    """A preview passes an output that changes in the same run as the unknown sentinel; a replace-field holding
    it is a change, not a replacement (the up's own diff sees the real value). Reporting a replacement made the
    up's data-loss guard refuse every update touching the environment (the Postgres 'replaced')."""
    from pulumi.runtime.rpc import UNKNOWN
    p = PostgresProvider()
    olds = {"project_id": "p", "environment_id": "e", "name": "Postgres", "image": "postgres:16"}
    diff = p.diff("id", olds, {**olds, "environment_id": UNKNOWN})
    assert diff.changes and diff.replaces == []


def test_defaults_and_none_are_not_changes() -> None:
    p = ServiceSettingsProvider()
    olds = {"service_id": "s", "environment_id": "e", "healthcheck_path": "/h", "num_replicas": None}
    assert not p.diff("id", olds, {"service_id": "s", "environment_id": "e", "healthcheck_path": "/h"}).changes
    limits = ServiceLimitsProvider()
    assert not limits.diff("id", {"service_id": "s", "environment_id": "e", "memory_bytes": 1024},
                           {"service_id": "s", "environment_id": "e", "memory_bytes": 1024.0}).changes


def test_backup_kinds_compare_as_sets() -> None:
    p = BackupScheduleProvider()
    olds = {"volume_instance_id": "v", "kinds": ["DAILY", "WEEKLY"]}
    assert not p.diff("id", olds, {"volume_instance_id": "v", "kinds": ["WEEKLY", "DAILY", "DAILY"]}).changes
    assert [f.property for f in p.check({}, {"volume_instance_id": "v", "kinds": ["HOURLY"]}).failures] == ["kinds"]


def test_checks_reject_bad_inputs() -> None:
    assert {f.property for f in ServiceProvider().check({}, {**SVC, "variables": {"bad-name": "x"}}).failures} == \
        {"variables"}
    assert ServiceProvider().check({}, {**SVC, "image": None}).failures
    assert RailwayDomainProvider().check({}, {"project_id": "p", "environment_id": "e", "service_id": "s",
                                              "target_port": 0}).failures
    settings = {"service_id": "s", "environment_id": "e"}
    assert ServiceSettingsProvider().check({}, {**settings, "healthcheck_timeout": 0}).failures
    assert ServiceSettingsProvider().check({}, {**settings, "cron_schedule": "*/5 * * * *", "num_replicas": 2}).failures
    assert ServiceSettingsProvider().check({}, {**settings, "region": "mars-1"}).failures
    assert VolumeProvider().check({}, {**settings, "project_id": "p", "mount_path": "data"}).failures
    assert PostgresProvider().check({"volume_size_mb": 2048},
                                    {"project_id": "p", "environment_id": "e", "volume_size_mb": 1024}).failures
    missing = ServiceProvider().check({}, {"image": "x"}).failures
    assert {f.property for f in missing} == {"project_id", "environment_id", "name"}
