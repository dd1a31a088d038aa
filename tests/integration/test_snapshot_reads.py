"""Refresh in one read per environment: every provider's read answered from the run's environment snapshot is
the same as its live read, and costs one call for the whole environment."""
from __future__ import annotations

from typing import Any, Iterator

import json

import pytest

from infra.providers import secret_prints, snapshot
from infra.providers.backup_schedule import BackupScheduleProvider
from infra.providers.custom_domain import CustomDomainProvider
from infra.providers.domain import RailwayDomainProvider
from infra.providers.environment import EnvironmentProvider
from infra.providers.limits import ServiceLimitsProvider
from infra.providers.postgres import PostgresProvider
from infra.providers.service import ServiceProvider
from infra.providers.service_instance import ServiceSettingsProvider
from infra.providers.variables import VariablesProvider
from infra.providers.volume import VolumeProvider
from tests.conftest import Emulator
from tests.integration.test_providers import base, create  # noqa: F401  (fixture)


@pytest.fixture
def per_run() -> Iterator[None]:
    snapshot.per_run(True)
    yield
    snapshot.per_run(False)


def resources(base: dict[str, str]) -> list[tuple[Any, str, dict[str, Any]]]:
    env, sid = base["environment_id"], base["service_id"]
    scope = {"project_id": base["project_id"], "environment_id": env}
    files, _ = create(ServiceProvider(), {**scope, "name": "files", "image": "nginx"})
    made = [(ServiceProvider(), {**scope, "name": "api", "image": "node:20", "variables": {"A": "1"},
                                 "secret_variables": {"S": "x"}}),
            (ServiceSettingsProvider(), {"service_id": sid, "environment_id": env, "healthcheck_path": "/health",
                                         "num_replicas": 2}),
            (ServiceLimitsProvider(), {"service_id": sid, "environment_id": env, "memory_bytes": 512 * 1024 ** 2,
                                       "vcpus": 1}),
            (VariablesProvider(), {**scope, "variables": {"SHARED": "1"}}),
            (VolumeProvider(), {**scope, "service_id": files, "mount_path": "/files", "size_mb": 2048}),
            (PostgresProvider(), {**scope, "volume_size_mb": 1024}),
            (RailwayDomainProvider(), {**scope, "service_id": sid, "subdomain": "snap"}),
            (CustomDomainProvider(), {**scope, "service_id": sid, "domain": "snap.example.com"})]
    out = [(p, *create(p, props)) for p, props in made]
    out.append((EnvironmentProvider(), env, {"project_id": base["project_id"], "name": "dev"}))
    return out


def test_every_read_comes_from_one_snapshot(railway_env: Emulator, base: dict[str, str], per_run: None) -> None:
    made = resources(base)
    snapshot.per_run(False)
    live = [p.read(id_, outs) for p, id_, outs in made]  # no cache: one snapshot call per read
    snapshot.per_run(True)
    railway_env.reset_stats()
    cached = [p.read(id_, outs) for p, id_, outs in made]
    assert railway_env.stats()["by_operation"] == {"EnvironmentSnapshot": 1}
    assert [(r.id, r.outs) for r in cached] == [(r.id, r.outs) for r in live]
    assert all(r.id for r in cached), "every resource is found in the snapshot"


def test_a_write_drops_the_snapshot(railway_env: Emulator, base: dict[str, str], per_run: None) -> None:
    p = VariablesProvider()
    props = {"project_id": base["project_id"], "environment_id": base["environment_id"], "variables": {"K": "1"}}
    id_, outs = create(p, props)
    assert p.read(id_, outs).outs["variables"] == {"K": "1"}
    news = {**outs, "variables": {"K": "2"}}
    p.update(id_, outs, news)
    railway_env.reset_stats()
    assert p.read(id_, news).outs["variables"] == {"K": "2"}, "read after the run's own write sees Railway"
    assert railway_env.stats()["by_operation"] == {"EnvironmentSnapshot": 1}


def test_backup_schedules_come_with_the_hinted_snapshot(railway_env: Emulator, base: dict[str, str], per_run: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, vol = create(VolumeProvider(), {**base, "mount_path": "/data"})
    vi = vol["volume_instance_id"]
    p = BackupScheduleProvider()
    id_, outs = create(p, {"volume_instance_id": vi, "kinds": ["DAILY"]})
    railway_env.data("mutation($v:String!){ volumeInstanceBackupScheduleUpdate(volumeInstanceId:$v, "
                     "kinds:[DAILY, MONTHLY]) }", v=vi)  # out of band: the snapshot must see it
    monkeypatch.setenv(snapshot.VOLUME_HINTS, json.dumps({base["environment_id"]: [vi]}))
    snapshot.forget()
    railway_env.reset_stats()
    assert p.read(id_, outs).outs["kinds"] == ["DAILY", "MONTHLY"]
    assert snapshot.volume_instances(base["environment_id"])
    assert railway_env.stats()["by_operation"] == {"EnvironmentSnapshot": 1}, "schedules ride in the same request"

    railway_env.data("mutation($v:String!){ volumeDelete(volumeId:$v) }", v=vol["volume_id"])
    snapshot.forget()
    railway_env.reset_stats()
    assert p.read(id_, outs).id is None, "a hinted volume instance that is gone: the schedule is gone"
    assert snapshot.environment(base["environment_id"]) is not None, "not the whole environment"
    assert railway_env.stats()["by_operation"] == {"EnvironmentSnapshot": 2, "BackupScheduleList": 1}


def test_service_read_publishes_keyed_fingerprints_only_under_a_key(railway_env: Emulator, base: dict[str, str],
                                                                     per_run: None,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    p = ServiceProvider()
    id_, outs = create(p, {"project_id": base["project_id"], "environment_id": base["environment_id"],
                           "name": "api", "image": "node:20", "secret_variables": {"S": "s3cret-value"}})
    assert p.read(id_, outs).outs[secret_prints.OUTPUT] is None, "no drift run, no fingerprints (nor in state)"
    monkeypatch.setenv(secret_prints.KEY, "k" * 64)
    snapshot.forget()
    prints = p.read(id_, outs).outs[secret_prints.OUTPUT]
    assert prints == {"S": {"match": secret_prints.keyed("k" * 64, "s3cret-value"),
                            "shown": secret_prints.fingerprint("s3cret-value")}}
    assert "s3cret-value" not in json.dumps(prints)
