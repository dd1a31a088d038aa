"""Resource limits round-trip: what the stack config declares reads back from Railway (the emulator, over HTTP)
with no diff, for any size and vCPU value the config accepts. Memory travels in Railway's stored unit (bytes);
GB appears only in the mutation's input."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from hypothesis import given, settings, strategies as st

from infra.components.acs_environment import limits_of
from infra.config import ServiceConfig
from infra.ops.drift import field_drift
from infra.providers.base import reset_client
from infra.providers.limits import ServiceLimitsProvider, memory_gb
from infra.providers.project import ProjectProvider
from infra.providers.service import ServiceProvider
from railway_emulator.server import DEFAULT_TOKEN, EmulatorServer


@pytest.fixture(scope="module")
def instance() -> Iterator[dict[str, str]]:
    """One service instance on one emulator for all examples (hypothesis runs many in one test call)."""
    server = EmulatorServer().start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAILWAY_API_URL", server.url)
        mp.setenv("RAILWAY_API_TOKEN", DEFAULT_TOKEN)
        mp.setenv("ACS_RAILWAY_RPS", "1000")
        mp.delenv("RAILWAY_TOKEN", raising=False)
        reset_client()
        project = ProjectProvider().create({"name": "units", "default_environment_name": "dev"}).outs
        env = project["default_environment_id"]
        sid = ServiceProvider().create({"project_id": server.backend.inventory()["projects"][0]["id"],
                                        "environment_id": env, "name": "web", "image": "node:20"}).id
        yield {"service_id": sid, "environment_id": env}
        reset_client()
    server.stop()


def sizes() -> st.SearchStrategy[str]:
    """Every way the config may write a memory size within 128MB..8GB."""
    mb = st.integers(128, 8192).map(lambda n: f"{n}MB")
    gb = st.integers(1, 8).map(lambda n: f"{n}GB")
    fractional_gb = st.integers(1, 32).map(lambda quarters: f"{quarters / 4:g}GB")
    return st.one_of(mb, gb, fractional_gb)


def service(memory: str, vcpu: float) -> ServiceConfig:
    return ServiceConfig.model_validate({"name": "web", "source": {"image": "node:20"}, "memory": memory,
                                         "vcpu": vcpu})


def declared(ids: dict[str, str], svc: ServiceConfig) -> dict[str, Any]:
    provider = ServiceLimitsProvider()
    checked = provider.check({}, {**ids, **limits_of(svc)})
    assert not checked.failures, [f.reason for f in checked.failures]
    return checked.inputs


@settings(max_examples=60, deadline=None, derandomize=True)  # the same examples on every run: no surprise in CI
@given(memory=sizes(), vcpu=st.floats(min_value=0, max_value=8, exclude_min=True, allow_nan=False))
def test_declared_limits_read_back_without_diff(instance: dict[str, str], memory: str, vcpu: float) -> None:
    provider = ServiceLimitsProvider()
    news = declared(instance, service(memory, vcpu))
    created = provider.create(news)
    live = provider.read(created.id, created.outs)
    assert live.id == created.id
    assert not provider.diff(created.id, live.outs, news).changes, (news, live.outs)
    assert field_drift(live.outs, news) == []


def test_200mb_is_stored_as_exact_bytes(instance: dict[str, str]) -> None:
    news = declared(instance, service("200MB", 0.5))
    assert news["memory_bytes"] == 200 * 1024 ** 2
    created = ServiceLimitsProvider().create(news)
    assert ServiceLimitsProvider().read(created.id, created.outs).outs["memory_bytes"] == 200 * 1024 ** 2


def test_every_whole_mb_size_survives_the_gb_wire_unit() -> None:
    """The only conversion on the way: bytes -> memoryGB (a float) -> bytes as Railway stores them. Exact for
    every size the config accepts, so no size can drift (checked for all of them, not a sample)."""
    for mb in range(128, 8 * 1024 + 1):
        size = mb * 1024 ** 2
        assert round(memory_gb(size) * 1024 ** 3) == size and memory_gb(size) * 1024 ** 3 == size, mb
