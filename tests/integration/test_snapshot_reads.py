"""Refresh in one read per environment: every provider's read answered from the run's environment snapshot is
the same as its live read, and costs one call for the whole environment."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from infra.providers import snapshot
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
