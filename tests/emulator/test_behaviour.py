"""The emulator behaves like Railway where it matters to a provisioner, checked over real HTTP."""
from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from railway_emulator.server import DEFAULT_TOKEN, EmulatorServer
from tests.conftest import Emulator

NEW_PROJECT = "mutation($n:String){ projectCreate(input:{name:$n}){ id environments { edges { node { id } } } } }"
NEW_SERVICE = ("mutation($p:String!,$e:String,$n:String!,$v:EnvironmentVariables){ serviceCreate(input:{projectId:$p,"
               " environmentId:$e, name:$n, source:{image:\"node:20\"}, variables:$v}){ id } }")
INSTANCE = ("query($s:String!,$e:String!){ serviceInstance(serviceId:$s, environmentId:$e){ healthcheckPath "
            "numReplicas restartPolicyType startCommand latestDeployment { id status } } }")


def project(emu: Emulator, name: str = "p") -> tuple[str, str]:
    p = emu.data(NEW_PROJECT, n=name)["projectCreate"]
    return p["id"], p["environments"]["edges"][0]["node"]["id"]


def service(emu: Emulator, pid: str, env: str, name: str = "web", variables: dict | None = None) -> str:
    return emu.data(NEW_SERVICE, p=pid, e=env, n=name, v=variables)["serviceCreate"]["id"]


def test_errors_come_as_railway_sends_them(emulator: Emulator) -> None:
    resp = emulator.http.post(emulator.url, json={"query": "{ project(id: \"x\") { id } }"},
                              headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
    assert resp.status_code == 200
    assert resp.json() == {"errors": [{"message": "Project not found", "path": ["project"]}], "data": None}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Project-Access-Token": "nope"}):
        resp = emulator.http.post(emulator.url, json={"query": "{ projects { edges { node { id } } } }"},
                                  headers=headers)
        assert resp.status_code == 200 and resp.json() == {"errors": [{"message": "Not Authorized"}], "data": None}


def test_project_token_sees_one_environment_only(emulator: Emulator) -> None:
    pid, env = project(emulator)
    other = emulator.data("mutation($p:String!){ environmentCreate(input:{projectId:$p, name:\"dev\"}){ id } }",
                          p=pid)["environmentCreate"]["id"]
    other_pid, _ = project(emulator, "other")
    token = emulator.admin("/project-tokens", {"projectId": pid, "environmentId": env})["token"]
    scope = emulator.gql("{ projectToken { projectId environmentId } }", project_token=token)["data"]["projectToken"]
    assert scope == {"projectId": pid, "environmentId": env}
    assert emulator.gql("query($e:String!){ environment(id:$e){ id } }", project_token=token, e=env)["data"]
    for query, args in (("query($e:String!){ environment(id:$e){ id } }", {"e": other}),
                        ("query($p:String!){ project(id:$p){ id } }", {"p": other_pid}),
                        ("{ me { id } }", {})):
        assert emulator.gql(query, project_token=token, **args)["errors"][0]["message"] == "Not Authorized"


def test_project_delete_cascades(emulator: Emulator) -> None:
    pid, env = project(emulator)
    sid = service(emulator, pid, env, variables={"A": "1"})
    emulator.data("mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, environmentId:$e,"
                  " serviceId:$s, mountPath:\"/data\"}){ id } }", p=pid, e=env, s=sid)
    emulator.data("mutation($e:String!,$s:String!){ serviceDomainCreate(input:{environmentId:$e, serviceId:$s}){ id } }",
                  e=env, s=sid)
    assert emulator.data("mutation($p:String!){ projectDelete(id:$p) }", p=pid)["projectDelete"] is True
    inventory = emulator.inventory()
    assert all(not rows for rows in inventory.values()), inventory


def test_environment_copy_skips_sealed_variables(emulator: Emulator) -> None:
    pid, env = project(emulator)
    sid = service(emulator, pid, env, variables={"PLAIN": "1"})
    emulator.data("mutation($s:String!,$e:String!){ serviceInstanceUpdate(serviceId:$s, environmentId:$e, "
                  "input:{healthcheckPath:\"/health\"}) }", s=sid, e=env)
    emulator.data("mutation($e:String!,$patch:EnvironmentConfig){ environmentPatchCommit(environmentId:$e, "
                  "patch:$patch) }", e=env, patch={"services": {sid: {"variables": {"SEALED": {"value": "x",
                                                                                              "isSealed": True}}}}})
    copy = emulator.data("mutation($p:String!,$s:String!){ environmentCreate(input:{projectId:$p, name:\"pr-1\", "
                         "sourceEnvironmentId:$s, ephemeral:true}){ id isEphemeral } }", p=pid, s=env)
    new = copy["environmentCreate"]["id"]
    assert copy["environmentCreate"]["isEphemeral"] is True
    assert emulator.data(INSTANCE, s=sid, e=new)["serviceInstance"]["healthcheckPath"] == "/health"
    raw = emulator.data("query($p:String!,$e:String!,$s:String!){ variables(projectId:$p, environmentId:$e, "
                        "serviceId:$s, unrendered:true) }", p=pid, e=new, s=sid)["variables"]
    assert raw == {"PLAIN": "1"}
    ephemeral = emulator.data("query($p:String!){ environments(projectId:$p, isEphemeral:true){ edges { node { name } } } }",
                              p=pid)["environments"]["edges"]
    assert [e["node"]["name"] for e in ephemeral] == ["pr-1"]


def test_variables_render_references(emulator: Emulator) -> None:
    pid, env = project(emulator)
    service(emulator, pid, env, "Postgres", {"POSTGRES_PASSWORD": "pw", "DATABASE_URL":
                                             "postgresql://u:${{POSTGRES_PASSWORD}}@${{RAILWAY_PRIVATE_DOMAIN}}/db"})
    web = service(emulator, pid, env, "web", {"DATABASE_URL": "${{Postgres.DATABASE_URL}}", "MODE": "${{shared.MODE}}"})
    emulator.data("mutation($i:VariableCollectionUpsertInput!){ variableCollectionUpsert(input:$i) }",
                  i={"projectId": pid, "environmentId": env, "variables": {"MODE": "fast"}})
    q = ("query($p:String!,$e:String!,$s:String!,$u:Boolean){ variables(projectId:$p, environmentId:$e, serviceId:$s,"
         " unrendered:$u) }")
    rendered = emulator.data(q, p=pid, e=env, s=web, u=False)["variables"]
    assert rendered["DATABASE_URL"] == "postgresql://u:pw@postgres.railway.internal/db"
    assert rendered["MODE"] == "fast" and rendered["RAILWAY_SERVICE_NAME"] == "web"
    assert emulator.data(q, p=pid, e=env, s=web, u=True)["variables"]["DATABASE_URL"] == "${{Postgres.DATABASE_URL}}"


def test_collection_replace_and_skip_deploys(emulator: Emulator) -> None:
    pid, env = project(emulator)
    sid = service(emulator, pid, env, variables={"A": "1", "B": "2"})
    before = emulator.data(INSTANCE, s=sid, e=env)["serviceInstance"]["latestDeployment"]["id"]
    upsert = "mutation($i:VariableCollectionUpsertInput!){ variableCollectionUpsert(input:$i) }"
    emulator.data(upsert, i={"projectId": pid, "environmentId": env, "serviceId": sid, "variables": {"C": "3"},
                             "replace": True, "skipDeploys": True})
    raw = emulator.data("query($p:String!,$e:String!,$s:String!){ variables(projectId:$p, environmentId:$e, "
                        "serviceId:$s, unrendered:true) }", p=pid, e=env, s=sid)["variables"]
    assert raw == {"C": "3"}
    assert emulator.data(INSTANCE, s=sid, e=env)["serviceInstance"]["latestDeployment"]["id"] == before
    emulator.data(upsert, i={"projectId": pid, "environmentId": env, "serviceId": sid, "variables": {"D": "4"}})
    assert emulator.data(INSTANCE, s=sid, e=env)["serviceInstance"]["latestDeployment"]["id"] != before


def test_absent_leaves_a_setting_and_null_unsets_it(emulator: Emulator) -> None:
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    update = "mutation($s:String!,$e:String!,$i:ServiceInstanceUpdateInput!){ serviceInstanceUpdate(serviceId:$s, " \
             "environmentId:$e, input:$i) }"
    emulator.data(update, s=sid, e=env, i={"healthcheckPath": "/h", "numReplicas": 3, "restartPolicyType": "ALWAYS"})
    emulator.data(update, s=sid, e=env, i={"startCommand": "npm start"})  # others absent: unchanged
    inst = emulator.data(INSTANCE, s=sid, e=env)["serviceInstance"]
    assert (inst["healthcheckPath"], inst["numReplicas"], inst["startCommand"]) == ("/h", 3, "npm start")
    emulator.data(update, s=sid, e=env, i={"healthcheckPath": None, "restartPolicyType": None})
    inst = emulator.data(INSTANCE, s=sid, e=env)["serviceInstance"]
    assert inst["healthcheckPath"] is None and inst["restartPolicyType"] == "ON_FAILURE" and inst["numReplicas"] == 3
    limits = "mutation($i:ServiceInstanceLimitsUpdateInput!){ serviceInstanceLimitsUpdate(input:$i) }"
    override = "query($s:String!,$e:String!){ serviceInstanceLimitOverride(serviceId:$s, environmentId:$e) }"
    emulator.data(limits, i={"serviceId": sid, "environmentId": env, "memoryGB": 0.5, "vCPUs": 1})
    emulator.data(limits, i={"serviceId": sid, "environmentId": env, "vCPUs": 2})
    assert emulator.data(override, s=sid, e=env)["serviceInstanceLimitOverride"] == {
        "containers": {"cpu": 2.0, "memoryBytes": 512 * 1024 ** 2}}
    emulator.data(limits, i={"serviceId": sid, "environmentId": env, "memoryGB": None, "vCPUs": None})
    assert emulator.data(override, s=sid, e=env)["serviceInstanceLimitOverride"] is None
    too_big = emulator.gql(limits, i={"serviceId": sid, "environmentId": env, "memoryGB": 64})
    assert "at most 8" in too_big["errors"][0]["message"]


def test_deployments_progress_and_rollback(emulator: Emulator) -> None:
    emulator.freeze()
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    first = emulator.data(INSTANCE, s=sid, e=env)["serviceInstance"]["latestDeployment"]
    assert first["status"] == "BUILDING"
    refused = emulator.gql("mutation($d:String!){ deploymentRollback(id:$d) }", d=first["id"])
    assert refused["errors"][0]["message"] == "Cannot rollback to this deployment"
    emulator.advance(0.25)  # past deploy_seconds (0.2)
    status = "query($d:String!){ deployment(id:$d){ status canRollback } }"
    assert emulator.data(status, d=first["id"])["deployment"] == {"status": "SUCCESS", "canRollback": False}
    second = emulator.data("mutation($s:String!,$e:String!){ serviceInstanceDeployV2(serviceId:$s, environmentId:$e) }",
                           s=sid, e=env)["serviceInstanceDeployV2"]
    assert emulator.data(status, d=first["id"])["deployment"] == {"status": "SUCCESS", "canRollback": False}
    emulator.advance(0.25)
    assert emulator.data(status, d=first["id"])["deployment"] == {"status": "REMOVED", "canRollback": True}
    assert emulator.data("mutation($d:String!){ deploymentRollback(id:$d) }", d=first["id"])["deploymentRollback"]
    latest = emulator.data(INSTANCE, s=sid, e=env)["serviceInstance"]["latestDeployment"]["id"]
    assert latest not in (first["id"], second)


def test_rate_limit_answers_429_with_retry_after(emulator: Emulator) -> None:
    """Three requests at one instant (the clock is stopped: on a loaded machine they once spanned a second and the
    third was let through) against two per second: the third is refused."""
    emulator.freeze()
    emulator.admin("/limits", {"per_second": 2, "per_hour": 1000})
    codes = [emulator.http.post(emulator.url, json={"query": "{ projects { edges { node { id } } } }"},
                                headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    # A per-second 429: one second to wait, while the hourly budget still has 998 of 1000 left.
    assert codes[2].headers["Retry-After"] == "1" and codes[2].headers["X-RateLimit-Remaining"] == "998"
    assert emulator.stats()["rate_limited"] == 1


def test_rate_limit_headers_on_every_answer_and_hourly_window(emulator: Emulator) -> None:
    emulator.admin("/clock", {"freeze": True})
    emulator.admin("/limits", {"per_second": 100, "per_hour": 2})
    ask = lambda: emulator.http.post(emulator.url, json={"query": "{ projects { edges { node { id } } } }"},  # noqa: E731
                                     headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
    codes = [ask() for _ in range(3)]
    now = emulator.admin("/clock")["now"]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in codes] == ["1", "0", "0"]
    assert {r.headers["X-RateLimit-Limit"] for r in codes} == {"2"}
    assert {r.headers["X-RateLimit-Reset"] for r in codes} == {str(math.ceil(now + 3600))}
    assert "Retry-After" not in codes[0].headers and codes[2].headers["Retry-After"] == "3600"
    emulator.admin("/clock", {"advance": 3600})
    fresh = ask()
    assert fresh.status_code == 200 and fresh.headers["X-RateLimit-Remaining"] == "1"


def test_limits_without_their_numbers_are_named(emulator: Emulator) -> None:
    """adv25 m6: `POST /_emulator/limits {}` answered {"error": "'per_second'"}, a bare KeyError."""
    for body in ({}, {"per_second": 5}):
        answer = emulator.http.post(f"{emulator.base}/_emulator/limits", json=body)
        assert answer.status_code == 400 and "both \"per_second\" and \"per_hour\"" in answer.json()["error"], \
            answer.text
    for body, said in (({"per_second": "x", "per_hour": 5}, "per_second must be a number above 0"),  # adv26 N8
                       ({"plan": "gold"}, "plan 'gold' is not one of"),
                       ({"per_second": 5, "per_hour": 5, "window_seconds": 0}, "window_seconds must be")):
        answer = emulator.http.post(f"{emulator.base}/_emulator/limits", json=body)
        assert answer.status_code == 400 and said in answer.json()["error"], answer.text
    assert emulator.data("{ __typename }")["__typename"] == "Query"  # the API still answers


def test_injected_faults(emulator: Emulator) -> None:
    query = {"query": "{ projects { edges { node { id } } } }"}
    auth = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    emulator.admin("/faults", {"error_rate": 1.0, "seed": 1})
    assert emulator.http.post(emulator.url, json=query, headers=auth).status_code in (502, 503, 504)
    emulator.admin("/faults", {"error_rate": 0.0, "drop_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        httpx.post(emulator.url, json=query, headers=auth)
    emulator.admin("/faults", {"drop_rate": 0.0, "fail_next": {"projects": 1}})
    assert emulator.http.post(emulator.url, json=query, headers=auth).status_code >= 500
    assert emulator.http.post(emulator.url, json=query, headers=auth).status_code == 200
    emulator.admin("/faults", {"latency_ms": 150})
    started = time.monotonic()
    emulator.http.post(emulator.url, json=query, headers=auth)
    assert time.monotonic() - started >= 0.15
    assert emulator.stats()["faults"] == {"error": 2, "drop": 1}


def test_write_committed_before_a_5xx(emulator: Emulator) -> None:
    emulator.admin("/faults", {"fail_next": {"projectCreate": 1}, "error_after_commit": True})
    resp = emulator.http.post(emulator.url, json={"query": NEW_PROJECT, "variables": {"n": "ghost"}},
                              headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
    assert resp.status_code >= 500
    assert [p["name"] for p in emulator.inventory()["projects"]] == ["ghost"]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "emulator.db")
    first = EmulatorServer(state_path=path).start()
    emu = Emulator(first)
    pid, _ = project(emu, "kept")
    first.stop()
    second = EmulatorServer(state_path=path).start()
    try:
        again = Emulator(second)
        assert again.data("query($p:String!){ project(id:$p){ name } }", p=pid)["project"]["name"] == "kept"
    finally:
        second.stop()


def test_service_domains_answer_by_host_header(emulator: Emulator) -> None:
    emulator.freeze()
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    dom = emulator.data("mutation($e:String!,$s:String!){ serviceDomainCreate(input:{environmentId:$e, serviceId:$s})"
                        "{ id domain } }", e=env, s=sid)["serviceDomainCreate"]
    assert dom["domain"].startswith("web-") and dom["domain"].endswith(".up.railway.app")
    update = ("mutation($i:ServiceDomainUpdateInput!){ serviceDomainUpdate(input:$i) }")
    emulator.data(update, i={"serviceDomainId": dom["id"], "environmentId": env, "serviceId": sid,
                             "domain": "chosen.up.railway.app"})
    bad = emulator.gql(update, i={"serviceDomainId": dom["id"], "environmentId": env, "serviceId": sid,
                                  "domain": "-bad-.up.railway.app"})
    assert bad["errors"][0]["message"].startswith("Invalid domain")
    probe = lambda host: emulator.http.get(f"{emulator.base}/health", headers={"Host": host})  # noqa: E731
    assert probe("chosen.up.railway.app").status_code == 502  # still building
    emulator.advance(0.25)
    assert probe("chosen.up.railway.app").status_code == 200
    emulator.admin(f"/services/{sid}/behaviour", {"healthy": False})  # the next deployment ships broken code
    emulator.data("mutation($s:String!,$e:String!){ serviceInstanceDeployV2(serviceId:$s, environmentId:$e) }",
                  s=sid, e=env)
    assert probe("chosen.up.railway.app").status_code == 200  # the old deployment serves until the new is live
    emulator.advance(0.25)
    assert probe("chosen.up.railway.app").status_code == 503
    assert probe("unknown.up.railway.app").status_code == 404


def test_clock_moves_only_forward_and_only_when_told(emulator: Emulator) -> None:
    frozen = emulator.admin("/clock", {"freeze": True})
    assert frozen["frozen"] and emulator.admin("/clock")["now"] == frozen["now"]
    assert emulator.admin("/clock", {"advance": 90})["now"] == pytest.approx(frozen["now"] + 90)
    assert emulator.server.clock.advance(10) == pytest.approx(frozen["now"] + 100)  # the same clock, in-process
    for bad in ({"advance": -1}, {"advance": "soon"}, {"freeze": "yes"}, {"rewind": 5}):
        resp = emulator.http.post(f"{emulator.base}/_emulator/clock", json=bad)
        assert resp.status_code == 400 and resp.json()["error"], bad
    assert emulator.admin("/clock")["now"] == pytest.approx(frozen["now"] + 100), "a refused request moves nothing"
    thawed = emulator.admin("/clock", {"freeze": False})
    assert not thawed["frozen"] and thawed["now"] >= frozen["now"] + 99.9


def test_every_record_is_stamped_on_the_emulators_clock(emulator: Emulator) -> None:
    """A test that moves the clock sees everything made afterwards as made later: deployments and domains too,
    not only environments and services (their createdAt came from the wall clock, a day behind here)."""
    frozen = emulator.admin("/clock", {"freeze": True})["now"]
    later = emulator.admin("/clock", {"advance": 86400})["now"]
    assert later == pytest.approx(frozen + 86400)
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    made = emulator.data("query($s:String!,$e:String!){ serviceInstance(serviceId:$s, environmentId:$e){ "
                         "createdAt latestDeployment { createdAt } } }", s=sid, e=env)["serviceInstance"]
    domain = emulator.data("mutation($s:String!,$e:String!){ serviceDomainCreate(input:{serviceId:$s, "
                           "environmentId:$e}){ createdAt } }", s=sid, e=env)["serviceDomainCreate"]
    stamps = [made["createdAt"], made["latestDeployment"]["createdAt"], domain["createdAt"]]
    expected = datetime.fromtimestamp(later, timezone.utc)
    assert [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps] == [expected] * 3, stamps


def test_volume_without_environment_has_no_instance(emulator: Emulator) -> None:
    pid, _ = project(emulator)
    vol = emulator.data("mutation($p:String!){ volumeCreate(input:{projectId:$p, mountPath:\"/d\"}){ id "
                        "volumeInstances { edges { node { id } } } } }", p=pid)["volumeCreate"]
    assert vol["volumeInstances"]["edges"] == []
