"""Issue 14 item 6: project tokens are scoped to one environment (Railway's schema: `projectTokenCreate` "Create a
token for a project that has access to a specific environment"), over real HTTP, and through the product's client."""
from __future__ import annotations

import pytest

from infra.railway import NotAuthorizedError, RailwayClient
from tests.conftest import Emulator

NEW_PROJECT = "mutation($n:String){ projectCreate(input:{name:$n}){ id environments { edges { node { id } } } } }"
NEW_ENV = "mutation($p:String!,$n:String!){ environmentCreate(input:{projectId:$p, name:$n}){ id } }"
NEW_SERVICE = ("mutation($p:String!,$e:String){ serviceCreate(input:{projectId:$p, environmentId:$e, name:\"web\","
               " source:{image:\"node:20\"}}){ id } }")
NEW_VOLUME = ("mutation($p:String!,$e:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, "
              "mountPath:\"/data\"}){ id } }")
TOKEN_CREATE = ("mutation($p:String!,$e:String!,$n:String!){ projectTokenCreate(input:{projectId:$p, "
                "environmentId:$e, name:$n}) }")
TOKENS = "query($p:String!){ projectTokens(projectId:$p){ edges { node { id name projectId environmentId displayToken } } } }"


def two_environments(emu: Emulator) -> tuple[str, str, str, str, str]:
    """A project with environments A and B, a service and a volume that live only in B."""
    p = emu.data(NEW_PROJECT, n="acs")["projectCreate"]
    pid, env_a = p["id"], p["environments"]["edges"][0]["node"]["id"]
    env_b = emu.data(NEW_ENV, p=pid, n="b")["environmentCreate"]["id"]
    svc_b = emu.data(NEW_SERVICE, p=pid, e=env_b)["serviceCreate"]["id"]
    vol_b = emu.data(NEW_VOLUME, p=pid, e=env_b)["volumeCreate"]["id"]
    return pid, env_a, env_b, svc_b, vol_b


def test_token_for_environment_a_cannot_write_environment_b(emulator: Emulator) -> None:
    """Issue 14 item 6: a token made for A could delete B's volume and update B's service; now Not Authorized,
    and the product's client reports it as an authorization error. B's objects are read back untouched."""
    pid, env_a, env_b, svc_b, vol_b = two_environments(emulator)
    token = emulator.data(TOKEN_CREATE, p=pid, e=env_a, n="ci")["projectTokenCreate"]
    client = RailwayClient(url=emulator.url, project_token=token, requests_per_second=0, backoff_base=0.01)
    with pytest.raises(NotAuthorizedError):
        client.mutate("VolumeDelete", volumeId=vol_b)
    with pytest.raises(NotAuthorizedError):
        client.mutate("ServiceUpdate", id=svc_b, input={"name": "taken-over"})
    with pytest.raises(NotAuthorizedError):
        client.mutate("ServiceInstanceUpdate", serviceId=svc_b, environmentId=None, input={"startCommand": "x"})
    for query in ("mutation($s:String!){ serviceConnect(id:$s, input:{image:\"evil:1\"}){ id } }",
                  "mutation($s:String!){ serviceDelete(id:$s) }"):
        assert emulator.gql(query, project_token=token, s=svc_b)["errors"][0]["message"] == "Not Authorized"
    inventory = emulator.inventory()
    assert [v["id"] for v in inventory["volumes"]] == [vol_b]
    assert [(s["id"], s["name"]) for s in inventory["services"]] == [(svc_b, "web")]
    live = emulator.data("query($s:String!,$e:String!){ serviceInstance(serviceId:$s, environmentId:$e){ startCommand "
                         "source { image } } }", s=svc_b, e=env_b)["serviceInstance"]
    assert live == {"startCommand": None, "source": {"image": "node:20"}}


def test_token_still_works_in_its_own_environment(emulator: Emulator) -> None:
    """The scope is not a lock-out: the same kind of writes in the token's environment go through."""
    pid, env_a, _, _, _ = two_environments(emulator)
    token = emulator.data(TOKEN_CREATE, p=pid, e=env_a, n="ci")["projectTokenCreate"]
    svc_a = emulator.gql(NEW_SERVICE.replace("\"web\"", "\"api\""), project_token=token, p=pid,
                         e=env_a)["data"]["serviceCreate"]["id"]
    vol_a = emulator.gql(NEW_VOLUME, project_token=token, p=pid, e=env_a)["data"]["volumeCreate"]["id"]
    client = RailwayClient(url=emulator.url, project_token=token, requests_per_second=0)
    client.mutate("ServiceUpdate", id=svc_a, input={"name": "api2"})
    client.mutate("VolumeDelete", volumeId=vol_a)
    assert "api2" in [s["name"] for s in emulator.inventory()["services"]]


def test_project_token_operations_from_the_real_schema(emulator: Emulator) -> None:
    """Issue 14 item 6: `projectTokenCreate`, `projectTokens` and `projectTokenDelete` answer as in Railway's schema;
    a listed token never shows its value, a deleted token stops working, a project token cannot mint tokens."""
    pid, env_a, env_b, _, _ = two_environments(emulator)
    token = emulator.data(TOKEN_CREATE, p=pid, e=env_a, n="ci-a")["projectTokenCreate"]
    emulator.data(TOKEN_CREATE, p=pid, e=env_b, n="ci-b")
    listed = [e["node"] for e in emulator.data(TOKENS, p=pid)["projectTokens"]["edges"]]
    assert sorted((t["name"], t["environmentId"]) for t in listed) == [("ci-a", env_a), ("ci-b", env_b)]
    assert all(t["projectId"] == pid and token not in t["displayToken"] for t in listed)
    scope = emulator.gql("{ projectToken { id name environmentId } }", project_token=token)["data"]["projectToken"]
    assert scope["name"] == "ci-a" and scope["environmentId"] == env_a
    assert emulator.gql(TOKEN_CREATE, project_token=token, p=pid, e=env_a, n="x")["errors"][0]["message"] == \
        "Not Authorized"
    assert emulator.data("mutation($i:String!){ projectTokenDelete(id:$i) }", i=scope["id"])["projectTokenDelete"]
    assert emulator.gql("{ projectToken { id } }", project_token=token)["errors"][0]["message"] == "Not Authorized"
    assert [e["node"]["name"] for e in emulator.data(TOKENS, p=pid)["projectTokens"]["edges"]] == ["ci-b"]
    bad = emulator.gql(TOKEN_CREATE, p=pid, e="00000000-0000-4000-8000-000000000000", n="x")
    assert bad["errors"][0]["message"] == "Environment not found"


def test_environment_token_cannot_write_the_project(emulator: Emulator) -> None:
    """Tester break: a token scoped to one environment could rename the project and overwrite its description (the
    ownership marker adoption relies on). Project-wide writes are refused like projectDelete; the project is
    read back untouched."""
    pid, env_a, _, _, _ = two_environments(emulator)
    before = emulator.data("query($p:String!){ project(id:$p){ name description } }", p=pid)["project"]
    token = emulator.data(TOKEN_CREATE, p=pid, e=env_a, n="ci")["projectTokenCreate"]
    update = "mutation($p:String!,$i:ProjectUpdateInput!){ projectUpdate(id:$p, input:$i){ id } }"
    for inp in ({"description": "pwned"}, {"name": "renamed"}, {"isPublic": True}, {"baseEnvironmentId": env_a}):
        errors = emulator.gql(update, project_token=token, p=pid, i=inp)["errors"]
        assert errors[0]["message"] == "Not Authorized", inp
    for query in ("mutation($p:String!){ projectDelete(id:$p) }", "mutation($p:String!){ projectScheduleDelete(id:$p) }",
                  "mutation($p:String!){ environmentCreate(input:{projectId:$p, name:\"x\"}){ id } }"):
        assert emulator.gql(query, project_token=token, p=pid)["errors"][0]["message"] == "Not Authorized"
    after = emulator.data("query($p:String!){ project(id:$p){ name description } }", p=pid)["project"]
    assert after == before
