"""Each dynamic provider against the emulator over HTTP: create, read, update in place, replace, refresh after an
out-of-band change and after an out-of-band delete, adopt (import), delete, delete-when-gone."""
from __future__ import annotations

from typing import Any

import pytest

from infra.ownership import NotOwnedError
from infra.providers.base import ReplacementRefused
from infra.providers.backup_schedule import BackupScheduleProvider
from infra.providers.custom_domain import CustomDomainProvider
from infra.providers.domain import RailwayDomainProvider
from infra.providers.environment import EnvironmentProvider
from infra.providers.limits import ServiceLimitsProvider
from infra.providers.postgres import PostgresProvider
from infra.providers.project import ProjectProvider
from infra.providers.service import ServiceProvider
from infra.providers.service_instance import ServiceSettingsProvider
from infra.providers.variables import VariablesProvider
from infra.providers.volume import VolumeProvider
from tests.conftest import Emulator


def checked(provider: Any, props: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
    result = provider.check(olds or {}, props)
    assert not result.failures, [f.reason for f in result.failures]
    return result.inputs


def create(provider: Any, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = provider.create(checked(provider, props))
    return result.id, result.outs


@pytest.fixture
def base(railway_env: Emulator) -> dict[str, str]:
    _, outs = create(ProjectProvider(), {"name": "itest", "default_environment_name": "dev"})
    pid = railway_env.inventory()["projects"][0]["id"]
    env = outs["default_environment_id"]
    sid, _ = create(ServiceProvider(), {"project_id": pid, "environment_id": env, "name": "web", "image": "node:20",
                                        "variables": {"A": "1"}})
    return {"project_id": pid, "environment_id": env, "service_id": sid}


def lifecycle(emu: Emulator, provider: Any, props: dict[str, Any], update: dict[str, Any],
              out_of_band: str, oob_vars: dict[str, Any], changed: str, gone: str, gone_vars: dict[str, Any]) -> None:
    """The common lifecycle: create -> read -> in-place update -> out-of-band change seen by refresh ->
    out-of-band delete drops it from state -> delete is idempotent."""
    id_, outs = create(provider, props)
    assert provider.read(id_, outs).id == id_
    news = checked(provider, {**props, **update}, outs)
    diff = provider.diff(id_, outs, news)
    assert diff.changes and not diff.replaces, "Railway updates this in place"
    outs = {**outs, **provider.update(id_, outs, news).outs}
    fresh = provider.read(id_, outs)
    for key, value in update.items():
        assert fresh.outs[key] == value, key
    assert not provider.diff(id_, fresh.outs, news).changes
    emu.data(out_of_band, **{k: (v(id_, outs) if callable(v) else v) for k, v in oob_vars.items()})
    drifted = provider.read(id_, outs)
    assert drifted.outs[changed] != fresh.outs[changed], f"refresh shows the drift of {changed}"
    assert provider.diff(id_, drifted.outs, news).changes
    emu.data(gone, **{k: (v(id_, outs) if callable(v) else v) for k, v in gone_vars.items()})
    assert provider.read(id_, outs).id is None, "deleted out of band: dropped from state"
    provider.delete(id_, outs)  # already gone: succeeds


def test_project(railway_env: Emulator) -> None:
    p = ProjectProvider()
    id_, outs = create(p, {"name": "proj", "description": "d"})
    assert outs["default_environment_id"]
    assert p.diff(id_, outs, checked(p, {"name": "proj2", "description": "d"})).replaces == []
    outs = {**outs, **p.update(id_, outs, checked(p, {"name": "proj2", "description": "d"})).outs}
    railway_env.data("mutation($id:String!){ projectUpdate(id:$id, input:{name:\"renamed\"}){ id } }", id=id_)
    assert p.read(id_, outs).outs["name"] == "renamed"
    adopted_id, adopted = create(p, {"adopt_id": id_})
    assert adopted_id == id_ and adopted["name"] == "renamed"
    p.delete(adopted_id, adopted)  # adopted: left alone
    assert p.read(id_, outs).id == id_
    p.delete(id_, outs)
    assert p.read(id_, outs).id is None
    p.delete(id_, outs)
    assert p.check({}, {"name": " "}).failures


def volume_in(emu: Emulator, project_id: str, env_id: str) -> str:
    svc = emu.data('mutation($p:String!,$e:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, '
                   'name:"db", source:{image:"postgres:16"}}){ id } }', p=project_id, e=env_id)["serviceCreate"]["id"]
    return emu.data('mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, '
                    'serviceId:$s, mountPath:"/data"}){ id } }', p=project_id, e=env_id, s=svc)["volumeCreate"]["id"]


def test_replacements_never_delete_what_they_keep_or_data(railway_env: Emulator) -> None:
    """Tester's data-loss report: a project replaced because its default environment's name changed adopted
    itself (by its marker) and then deleted itself. The name is renamed in place; a replacement that would be
    the same object, or that deletes a project or environment holding a volume, is refused in diff (no write)."""
    p = ProjectProvider()
    id_, outs = create(p, {"name": "proj", "default_environment_name": "dev", "owner": "org/acs/dev@1"})
    env_id = outs["default_environment_id"]
    news = checked(p, {"name": "proj", "default_environment_name": "production", "owner": "org/acs/dev@1"}, outs)
    assert p.diff(id_, outs, news).replaces == []
    outs = {**outs, **p.update(id_, outs, news).outs}
    envs = {e["id"]: e["name"] for e in railway_env.inventory()["environments"]}
    assert envs == {env_id: "production"} and outs["default_environment_id"] == env_id
    with pytest.raises(ReplacementRefused, match="this same object"):
        p.diff(id_, outs, checked(p, {**news, "adopt_id": id_}, outs))
    other, _ = create(p, {"name": "other", "description": "someone's"})
    assert p.diff(id_, outs, checked(p, {**news, "adopt_id": other}, outs)).replaces == ["adopt_id"]
    volume_in(railway_env, id_, env_id)
    railway_env.reset_stats()
    with pytest.raises(ReplacementRefused, match="holds data"):
        p.diff(id_, outs, checked(p, {**news, "adopt_id": other}, outs))
    e = EnvironmentProvider()
    olds = checked(e, {"project_id": id_, "name": "production"})
    with pytest.raises(ReplacementRefused, match="holds data"):
        e.diff(env_id, olds, checked(e, {"project_id": other, "name": "production"}))
    assert railway_env.stats()["write_total"] == 0
    s = ServiceProvider()
    svc = checked(s, {"project_id": id_, "environment_id": env_id, "name": "web", "image": "node:20"})
    with pytest.raises(ReplacementRefused, match="this same object"):  # ServiceCreate "already exists": adopted
        s.diff("svc", svc, {**svc, "repo": "a/b", "image": None, "branch": "main"})


def test_environment(railway_env: Emulator, base: dict[str, str]) -> None:
    lifecycle(railway_env, EnvironmentProvider(), {"project_id": base["project_id"], "name": "pr-7", "ephemeral": True},
              {"name": "pr-8"},
              "mutation($id:String!){ environmentRename(id:$id, input:{name:\"hand-made\"}){ id } }",
              {"id": lambda i, o: i}, "name",
              "mutation($id:String!){ environmentDelete(id:$id) }", {"id": lambda i, o: i})
    p = EnvironmentProvider()
    olds = checked(p, {"project_id": base["project_id"], "name": "x"})
    assert p.diff("id", olds, checked(p, {"project_id": base["project_id"], "name": "y", "ephemeral": True})).replaces \
        == ["ephemeral"]
    with pytest.raises(ReplacementRefused, match="this same object"):  # its create would adopt "x" itself
        p.diff("id", olds, checked(p, {"project_id": base["project_id"], "name": "x", "ephemeral": True}))
    assert p.check({}, {"project_id": "p", "name": "Bad Name"}).failures


def test_service(railway_env: Emulator, base: dict[str, str]) -> None:
    props = {"project_id": base["project_id"], "environment_id": base["environment_id"], "name": "api",
             "image": "node:20", "variables": {"SECRET": "s3cr3t", "MODE": "a"}}
    lifecycle(railway_env, ServiceProvider(), props, {"variables": {"MODE": "b"}, "image": "node:22"},
              "mutation($i:VariableUpsertInput!){ variableUpsert(input:$i) }",
              {"i": lambda i, o: {"projectId": o["project_id"], "environmentId": o["environment_id"], "serviceId": i,
                                  "name": "ADDED", "value": "by-hand"}}, "variables",
              "mutation($id:String!){ serviceDelete(id:$id) }", {"id": lambda i, o: i})
    p = ServiceProvider()
    assert p.check({}, {**props, "repo": "a/b"}).failures  # image and repo together
    assert p.diff("x", checked(p, props), checked(p, {**props, "environment_id": "other"})).replaces == \
        ["environment_id"]
    adopted, outs = create(p, {**props, "name": "web", "adopt_id": base["service_id"], "variables": {"Z": "1"}})
    assert adopted == base["service_id"] and p.read(adopted, outs).outs["variables"] == {"Z": "1"}


def test_service_settings(railway_env: Emulator, base: dict[str, str]) -> None:
    props = {**base, "healthcheck_path": "/health", "num_replicas": 1, "start_command": "npm start"}
    props.pop("project_id")
    lifecycle(railway_env, ServiceSettingsProvider(), props, {"healthcheck_path": "/ready", "num_replicas": 2},
              "mutation($s:String!,$e:String!){ serviceInstanceUpdate(serviceId:$s, environmentId:$e, "
              "input:{numReplicas:5}) }", {"s": base["service_id"], "e": base["environment_id"]}, "num_replicas",
              "mutation($id:String!){ serviceDelete(id:$id) }", {"id": base["service_id"]})


def test_service_settings_removed_from_program_are_unset(railway_env: Emulator, base: dict[str, str]) -> None:
    p = ServiceSettingsProvider()
    props = {"service_id": base["service_id"], "environment_id": base["environment_id"], "healthcheck_path": "/h"}
    id_, outs = create(p, props)
    news = checked(p, {"service_id": base["service_id"], "environment_id": base["environment_id"]})
    p.update(id_, outs, news)
    live = railway_env.data("query($s:String!,$e:String!){ serviceInstance(serviceId:$s, environmentId:$e)"
                            "{ healthcheckPath } }", s=base["service_id"], e=base["environment_id"])
    assert live["serviceInstance"]["healthcheckPath"] is None
    assert [f.property for f in p.check({}, {**props, "restart_policy_type": "SOMETIMES"}).failures] == \
        ["restart_policy_type"]


def test_limits(railway_env: Emulator, base: dict[str, str]) -> None:
    props = {"service_id": base["service_id"], "environment_id": base["environment_id"],
             "memory_bytes": 512 * 1024 ** 2, "vcpus": 1}
    lifecycle(railway_env, ServiceLimitsProvider(), props, {"memory_bytes": 1024 ** 3},
              "mutation($i:ServiceInstanceLimitsUpdateInput!){ serviceInstanceLimitsUpdate(input:$i) }",
              {"i": {**{"serviceId": base["service_id"], "environmentId": base["environment_id"]}, "memoryGB": 2}},
              "memory_bytes", "mutation($id:String!){ serviceDelete(id:$id) }", {"id": base["service_id"]})
    assert ServiceLimitsProvider().check({}, {**props, "memory_bytes": 64 * 1024 ** 3}).failures


def test_variables_shared(railway_env: Emulator, base: dict[str, str]) -> None:
    props = {"project_id": base["project_id"], "environment_id": base["environment_id"], "variables": {"S": "1"}}
    lifecycle(railway_env, VariablesProvider(), props, {"variables": {"S": "2", "T": "3"}},
              "mutation($i:VariableDeleteInput!){ variableDelete(input:$i) }",
              {"i": {"projectId": base["project_id"], "environmentId": base["environment_id"], "name": "T"}},
              "variables", "mutation($id:String!){ environmentDelete(id:$id) }",
              {"id": lambda i, o: _second_env_delete(railway_env, o)})


def _second_env_delete(emu: Emulator, outs: dict[str, Any]) -> str:
    """The project's only environment cannot be deleted; add one so the shared set's home can go."""
    emu.data("mutation($p:String!){ environmentCreate(input:{projectId:$p, name:\"spare\"}){ id } }",
             p=outs["project_id"])
    return outs["environment_id"]


def test_volume(railway_env: Emulator, base: dict[str, str]) -> None:
    props = {**base, "mount_path": "/data", "size_mb": 1024}
    p = VolumeProvider()
    id_, outs = create(p, props)
    assert p.read(id_, outs).outs["size_mb"] == 1024
    news = checked(p, {**props, "size_mb": 2048, "mount_path": "/srv"}, outs)
    assert not p.diff(id_, outs, news).replaces
    outs = {**outs, **p.update(id_, outs, news).outs}
    live = p.read(id_, outs).outs
    assert (live["mount_path"], live["service_id"]) == ("/srv", base["service_id"]), "a mount-path update keeps " \
        "the volume attached (Railway detaches it when the update leaves serviceId out)"
    railway_env.data("mutation($e:String!,$patch:EnvironmentConfig){ environmentPatchCommit(environmentId:$e, "
                     "patch:$patch) }", e=base["environment_id"], patch={"volumes": {id_: {"sizeMB": 4096}}})
    assert p.read(id_, outs).outs["size_mb"] == 4096
    shrink = p.check(outs, {**props, "size_mb": 512})
    assert [f.property for f in shrink.failures] == ["size_mb"] and "cannot shrink" in shrink.failures[0].reason
    railway_env.data("mutation($v:String!){ volumeDelete(volumeId:$v) }", v=id_)
    assert p.read(id_, outs).id is None
    p.delete(id_, outs)


VOLUME_CREATE = "mutation($i:VolumeCreateInput!){ volumeCreate(input:$i){ id } }"


def test_volume_takes_a_found_volume_only_when_its_own_create_made_it(railway_env: Emulator,
                                                                      base: dict[str, str]) -> None:
    """The stand-alone volume had no rule for a volume already on its service (issue 14, the B9 family): a
    volume attached by hand long after the create was meant (a killed run's recover) was taken as the stack's,
    and its destroy deleted it. Its create is stamped when meant; only a volume made inside that window is
    taken; another is named and left alone. A lost answer within the window is still adopted, not duplicated."""
    p = VolumeProvider()
    props = checked(p, {**base, "mount_path": "/data", "size_mb": 1024})  # meant now
    railway_env.admin("/faults", {"fail_next": {"VolumeCreate": 1}, "error_after_commit": True})
    ours = p.create(props).id
    assert railway_env.stats()["faults"] == {"error_after": 1}, "the answer was lost after Railway made it"
    assert [v["id"] for v in railway_env.inventory()["volumes"]] == [ours], "the create's own volume, once"
    railway_env.data("mutation($v:String!){ volumeDelete(volumeId:$v) }", v=ours)

    props = checked(p, {**base, "mount_path": "/data", "size_mb": 1024})
    railway_env.admin("/clock", {"advance": 600})  # the run is killed; someone attaches a volume ten minutes later
    theirs = railway_env.data(VOLUME_CREATE, i={"projectId": base["project_id"], "environmentId":
                                                base["environment_id"], "serviceId": base["service_id"],
                                                "mountPath": "/uploads"})["volumeCreate"]["id"]
    with pytest.raises(NotOwnedError, match=f"railway volume {theirs} .* not by this stack's create"):
        p.create(props)
    assert [v["id"] for v in railway_env.inventory()["volumes"]] == [theirs], "left alone, nothing made"


def test_postgres(railway_env: Emulator, base: dict[str, str]) -> None:
    p = PostgresProvider()
    props = {"project_id": base["project_id"], "environment_id": base["environment_id"], "volume_size_mb": 1024}
    id_, outs = create(p, props)
    assert outs["database_url"] == f"postgresql://postgres:{outs['password']}@postgres.railway.internal:5432/railway"
    live = railway_env.data("query($p:String!,$e:String!,$s:String!){ variables(projectId:$p, environmentId:$e, "
                            "serviceId:$s) }", p=base["project_id"], e=base["environment_id"], s=id_)["variables"]
    assert live["DATABASE_URL"] == outs["database_url"]
    fresh = p.read(id_, outs)
    assert fresh.outs["volume_size_mb"] == 1024 and fresh.outs["password"] == outs["password"]
    news = checked(p, {**props, "volume_size_mb": 2048}, outs)
    assert p.diff(id_, outs, news).changes and not p.diff(id_, outs, news).replaces
    outs = {**outs, **p.update(id_, outs, news).outs}
    assert p.read(id_, outs).outs["volume_size_mb"] == 2048
    p.delete(id_, outs)
    inv = railway_env.inventory()
    assert not [s for s in inv["services"] if s["name"] == "Postgres"] and not inv["volumes"]
    assert p.read(id_, outs).id is None
    p.delete(id_, outs)


def test_railway_domain(railway_env: Emulator, base: dict[str, str]) -> None:
    props = {**base, "subdomain": "acs-it", "target_port": 3000}
    lifecycle(railway_env, RailwayDomainProvider(), props, {"subdomain": "acs-it2"},
              "mutation($i:ServiceDomainUpdateInput!){ serviceDomainUpdate(input:$i) }",
              {"i": lambda i, o: {"serviceDomainId": i, "environmentId": o["environment_id"],
                                  "serviceId": o["service_id"], "domain": "renamed.up.railway.app"}}, "subdomain",
              "mutation($id:String!){ serviceDomainDelete(id:$id) }", {"id": lambda i, o: i})
    assert RailwayDomainProvider().check({}, {**props, "subdomain": "Bad_"}).failures


def test_railway_domain_taken_leaves_nothing_behind(railway_env: Emulator, base: dict[str, str]) -> None:
    p = RailwayDomainProvider()
    other = ServiceProvider().create(checked(ServiceProvider(), {
        "project_id": base["project_id"], "environment_id": base["environment_id"], "name": "other",
        "image": "nginx"})).id
    create(p, {**base, "subdomain": "taken"})
    with pytest.raises(Exception, match="not available"):
        create(p, {**base, "service_id": other, "subdomain": "taken"})
    domains = railway_env.inventory()["service_domains"]
    assert [d["domain"] for d in domains] == ["taken.up.railway.app"], "the generated domain was cleaned up"


def test_custom_domain(railway_env: Emulator, base: dict[str, str]) -> None:
    p = CustomDomainProvider()
    id_, outs = create(p, {**base, "domain": "app.example.com", "target_port": 3000})
    assert {r["type"] for r in outs["dns_records"]} == {"CNAME", "TXT"} and outs["verified"] is False
    news = checked(p, {**base, "domain": "app.example.com", "target_port": 8080}, outs)
    assert not p.diff(id_, outs, news).replaces
    outs = {**outs, **p.update(id_, outs, news).outs}
    assert p.read(id_, outs).outs["target_port"] == 8080
    assert p.diff(id_, outs, checked(p, {**base, "domain": "www.example.com"})).replaces == ["domain"]
    railway_env.data("mutation($id:String!){ customDomainDelete(id:$id) }", id=id_)
    assert p.read(id_, outs).id is None
    p.delete(id_, outs)


def test_backup_schedule(railway_env: Emulator, base: dict[str, str]) -> None:
    _, vol = create(VolumeProvider(), {**base, "mount_path": "/data"})
    vi = vol["volume_instance_id"]
    lifecycle(railway_env, BackupScheduleProvider(), {"volume_instance_id": vi, "kinds": ["DAILY"]},
              {"kinds": ["DAILY", "WEEKLY"]},
              "mutation($v:String!){ volumeInstanceBackupScheduleUpdate(volumeInstanceId:$v, kinds:[MONTHLY]) }",
              {"v": vi}, "kinds", "mutation($v:String!){ volumeDelete(volumeId:$v) }", {"v": vol["volume_id"]})


def test_project_left_by_a_killed_run_is_adopted_not_duplicated(railway_env: Emulator) -> None:
    p = ProjectProvider()
    first_id, first = create(p, {"name": "half-made", "default_environment_name": "dev"})
    again_id, again = create(p, {"name": "half-made", "default_environment_name": "dev"})
    assert again_id == first_id and again["workspace_id"] == first["workspace_id"]
    assert again["default_environment_id"] == first["default_environment_id"]
    railway_env.data("mutation{ projectCreate(input:{name:\"half-made\"}){ id } }")  # same name, made by hand
    assert create(p, {"name": "half-made"})[0] == first_id, "a look-alike without our marker is not adopted"
    assert len(railway_env.inventory()["projects"]) == 2


def test_notification_rule(railway_env: Emulator, base: dict[str, str]) -> None:
    from infra.providers.notification_rule import NotificationRuleProvider
    ws = railway_env.inventory()["projects"][0]["workspaceId"]
    props = {"workspace_id": ws, "project_id": base["project_id"], "event_types": ["Deployment.failed"],
             "severities": ["INFO"], "channels": [{"type": "webhook", "url": "https://hooks.example.com/a"}]}
    lifecycle(railway_env, NotificationRuleProvider(), props, {"severities": ["CRITICAL", "WARNING"]},
              "mutation($id:String!){ notificationRuleUpdate(id:$id, input:{severities:[NOTICE]}){ id } }",
              {"id": lambda i, o: i}, "severities",
              "mutation($id:String!){ notificationRuleDelete(id:$id) }", {"id": lambda i, o: i})
    bad = NotificationRuleProvider().check({}, {**props, "severities": ["LOUD"], "channels": [{"type": "pager"}]})
    assert {f.property for f in bad.failures} == {"severities", "channels"}


def test_environment_adopted_by_id(railway_env: Emulator, base: dict[str, str]) -> None:
    p = EnvironmentProvider()
    made = railway_env.data("mutation($p:String!){ environmentCreate(input:{projectId:$p, name:\"by-hand\"}){ id } }",
                            p=base["project_id"])["environmentCreate"]["id"]
    id_, outs = create(p, {"project_id": base["project_id"], "name": "by-hand", "adopt_id": made})
    assert id_ == made and outs["name"] == "by-hand" and p.read(id_, outs).id == made


def test_project_state_keeps_its_workspace_id_so_a_read_is_one_call(railway_env: Emulator) -> None:
    """The workspace id is part of the project's state from its create, through an update, so a refresh reads
    project and notification rules in one `ProjectSnapshot` call and never asks for the project first."""
    from infra.providers import snapshot
    p = ProjectProvider()
    id_, outs = create(p, {"name": "ws-kept", "default_environment_name": "dev"})
    workspace = railway_env.data("{ me { workspaces { id } } }")["me"]["workspaces"][0]["id"]
    assert outs["workspace_id"] == workspace
    news = checked(p, {"name": "ws-renamed", "default_environment_name": "dev"}, outs)
    outs = {**outs, **p.update(id_, outs, news).outs}
    assert outs["workspace_id"] == workspace
    snapshot.forget()
    railway_env.reset_stats()
    assert p.read(id_, outs).outs["workspace_id"] == workspace
    calls = railway_env.stats()["by_operation"]
    assert calls.get("ProjectSnapshot") == 1 and "ProjectRead" not in calls, calls


def test_service_given_by_id_is_released_not_deleted(railway_env: Emulator, base: dict[str, str]) -> None:
    """Issue 14 follow-up (item 4 of the adversarial pass): a service given by id (`adopt_id`, not made by the
    stack) was deleted by the provider's delete (destroy, or removing it from the program). Given by id: released,
    never deleted."""
    p = ServiceProvider()
    props = {**base, "name": "web", "image": "node:20", "adopt_id": base["service_id"]}
    id_, outs = create(p, props)
    p.delete(id_, outs)
    assert [s["id"] for s in railway_env.inventory()["services"]] == [base["service_id"]]
