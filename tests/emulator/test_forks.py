"""Forked environments as Railway documents them, checked over real HTTP.

A fork is an environment made with `environmentCreate(sourceEnvironmentId)`. Railway's schema says what a fork
copies (EnvironmentCreateInput.sourceEnvironmentId), where a new service lands (ServiceCreateInput.environmentId)
and what `serviceDelete(environmentId)` removes. Each test states its rule in its docstring.
"""
from __future__ import annotations

from typing import Any

from tests.conftest import Emulator
from tests.emulator.test_behaviour import NEW_SERVICE, project, service

FORK = ("mutation($p:String!,$s:String,$n:String!,$skip:Boolean){ environmentCreate(input:{projectId:$p, name:$n, "
        "sourceEnvironmentId:$s, ephemeral:true, skipInitialDeploys:$skip}){ id sourceEnvironment { id } } }")
PLAIN_ENV = "mutation($p:String!,$n:String!){ environmentCreate(input:{projectId:$p, name:$n}){ id } }"
ENV = """query($e:String!){ environment(id:$e){ id sourceEnvironment { id }
  serviceInstances { edges { node { id serviceId serviceName healthcheckPath numReplicas source { image } } } }
  volumeInstances { edges { node { id volumeId serviceId mountPath sizeMB } } } } }"""
SERVICE_ENVS = "query($s:String!){ service(id:$s){ serviceInstances { edges { node { environmentId } } } } }"
RAW_VARS = ("query($p:String!,$e:String!,$s:String){ variables(projectId:$p, environmentId:$e, serviceId:$s, "
            "unrendered:true) }")
PATCH = "mutation($e:String!,$patch:EnvironmentConfig){ environmentPatchCommit(environmentId:$e, patch:$patch) }"


def fork(emu: Emulator, pid: str, source: str, name: str = "pr-1", skip: bool | None = None) -> str:
    made = emu.data(FORK, p=pid, s=source, n=name, skip=skip)["environmentCreate"]
    assert made["sourceEnvironment"] == {"id": source}
    return made["id"]


def env_of(emu: Emulator, env_id: str) -> dict[str, Any]:
    env = emu.data(ENV, e=env_id)["environment"]
    return {"instances": {e["node"]["serviceId"]: e["node"] for e in env["serviceInstances"]["edges"]},
            "volumes": {e["node"]["volumeId"]: e["node"] for e in env["volumeInstances"]["edges"]}}


def envs_of_service(emu: Emulator, service_id: str) -> set[str]:
    edges = emu.data(SERVICE_ENVS, s=service_id)["service"]["serviceInstances"]["edges"]
    return {e["node"]["environmentId"] for e in edges}


def world(emu: Emulator) -> dict[str, str]:
    """dev with a configured `web` and a `Postgres` holding a volume and a shared variable."""
    pid, dev = project(emu)
    web = service(emu, pid, dev, "web", {"NODE_ENV": "development"})
    pg = service(emu, pid, dev, "Postgres", {"POSTGRES_PASSWORD": "dev-password"})
    emu.data("mutation($s:String!,$e:String!){ serviceInstanceUpdate(serviceId:$s, environmentId:$e, "
             "input:{healthcheckPath:\"/health\"}) }", s=web, e=dev)
    vol = emu.data("mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, environmentId:$e, "
                   "serviceId:$s, mountPath:\"/var/lib/postgresql/data\"}){ id } }", p=pid, e=dev, s=pg)
    emu.data("mutation($i:VariableCollectionUpsertInput!){ variableCollectionUpsert(input:$i) }",
             i={"projectId": pid, "environmentId": dev, "variables": {"SHARED": "1"}})
    return {"pid": pid, "dev": dev, "web": web, "pg": pg, "vol": vol["volumeCreate"]["id"]}


def test_fork_copies_services_volumes_settings_and_variables(emulator: Emulator) -> None:
    """A fork holds the source's services under the same service ids but as new instances of its own, a new
    instance of each of the source's volumes, the source's settings and variables, and names its source."""
    w = world(emulator)
    pr = fork(emulator, w["pid"], w["dev"])
    dev, copy = env_of(emulator, w["dev"]), env_of(emulator, pr)
    assert set(copy["instances"]) == set(dev["instances"]) == {w["web"], w["pg"]}
    assert all(copy["instances"][s]["id"] != dev["instances"][s]["id"] for s in dev["instances"])
    assert copy["instances"][w["web"]]["healthcheckPath"] == "/health"
    assert set(copy["volumes"]) == {w["vol"]}
    assert copy["volumes"][w["vol"]]["id"] != dev["volumes"][w["vol"]]["id"]
    assert copy["volumes"][w["vol"]]["serviceId"] == w["pg"]
    assert emulator.data(RAW_VARS, p=w["pid"], e=pr, s=w["web"])["variables"] == {"NODE_ENV": "development"}
    assert emulator.data(RAW_VARS, p=w["pid"], e=pr, s=None)["variables"] == {"SHARED": "1"}
    services = emulator.data("query($p:String!){ project(id:$p){ services { edges { node { id } } } } }",
                             p=w["pid"])["project"]["services"]["edges"]
    assert len(services) == 2, "forking adds instances, never services"


def test_fork_skip_initial_deploys(emulator: Emulator) -> None:
    """`skipInitialDeploys` leaves the fork's copied services undeployed; without it they deploy."""
    w = world(emulator)
    skipped, deployed = fork(emulator, w["pid"], w["dev"], "pr-1", True), fork(emulator, w["pid"], w["dev"], "pr-2")
    deps = [d for d in emulator.inventory()["deployments"]]
    assert not [d for d in deps if d["environmentId"] == skipped]
    assert {d["serviceId"] for d in deps if d["environmentId"] == deployed} == {w["web"], w["pg"]}


def test_service_created_in_a_fork_lives_only_there(emulator: Emulator) -> None:
    """serviceCreate with a fork's environmentId creates the service only in that fork."""
    w = world(emulator)
    pr = fork(emulator, w["pid"], w["dev"])
    made = service(emulator, w["pid"], pr, "preview-only")
    assert envs_of_service(emulator, made) == {pr}
    assert set(env_of(emulator, w["dev"])["instances"]) == {w["web"], w["pg"]}


def test_service_created_in_a_non_fork_lands_in_every_non_fork(emulator: Emulator) -> None:
    """serviceCreate with a non-fork environmentId creates the service in all environments that are not forks
    (Railway's input description; TF provider issue 23 saw the same live), and in no fork."""
    w = world(emulator)
    staging = emulator.data(PLAIN_ENV, p=w["pid"], n="staging")["environmentCreate"]["id"]
    pr = fork(emulator, w["pid"], w["dev"])
    made = service(emulator, w["pid"], w["dev"], "worker")
    assert envs_of_service(emulator, made) == {w["dev"], staging}
    assert made not in env_of(emulator, pr)["instances"]
    clash = emulator.gql(NEW_SERVICE, p=w["pid"], e=staging, n="web", v=None)
    assert clash["errors"][0]["message"] == "Service with name web already exists", \
        "web already has an instance in dev, where a service made in staging would also land"


def test_service_created_without_environment_lands_in_every_non_fork(emulator: Emulator) -> None:
    """Without environmentId a service is created in all non-fork environments (assumed from the documented
    non-fork case; Railway does not say what an absent environmentId does)."""
    w = world(emulator)
    pr = fork(emulator, w["pid"], w["dev"])
    made = service(emulator, w["pid"], None, "cron")  # type: ignore[arg-type]
    assert envs_of_service(emulator, made) == {w["dev"]}
    assert made not in env_of(emulator, pr)["instances"]


def test_service_delete_in_a_fork_removes_only_that_instance(emulator: Emulator) -> None:
    """serviceDelete(id, environmentId: a fork) deletes the service only in that fork: the source keeps its
    instance, its variables and its volume."""
    w = world(emulator)
    pr = fork(emulator, w["pid"], w["dev"])
    assert emulator.data("mutation($s:String!,$e:String){ serviceDelete(id:$s, environmentId:$e) }",
                         s=w["pg"], e=pr)["serviceDelete"] is True
    assert envs_of_service(emulator, w["pg"]) == {w["dev"]}
    assert w["pg"] not in env_of(emulator, pr)["instances"]
    assert env_of(emulator, w["dev"])["volumes"][w["vol"]]["serviceId"] == w["pg"]
    assert emulator.data(RAW_VARS, p=w["pid"], e=w["dev"], s=w["pg"])["variables"] == {
        "POSTGRES_PASSWORD": "dev-password"}


def test_service_delete_in_a_non_fork_spares_forks(emulator: Emulator) -> None:
    """serviceDelete(id, environmentId: a non-fork) deletes the service in all non-fork environments; a fork
    keeps its own instance (and with it the service)."""
    w = world(emulator)
    staging = emulator.data(PLAIN_ENV, p=w["pid"], n="staging")["environmentCreate"]["id"]
    worker = service(emulator, w["pid"], w["dev"], "worker")
    pr = fork(emulator, w["pid"], w["dev"])
    assert envs_of_service(emulator, worker) == {w["dev"], staging, pr}
    emulator.data("mutation($s:String!,$e:String){ serviceDelete(id:$s, environmentId:$e) }", s=worker, e=staging)
    assert envs_of_service(emulator, worker) == {pr}


def test_service_delete_without_environment_removes_the_whole_service(emulator: Emulator) -> None:
    """serviceDelete(id) without environmentId deletes the service with its instances in every environment,
    forks included."""
    w = world(emulator)
    pr = fork(emulator, w["pid"], w["dev"])
    emulator.data("mutation($s:String!){ serviceDelete(id:$s) }", s=w["web"])
    assert emulator.gql(SERVICE_ENVS, s=w["web"])["errors"][0]["message"] == "Service not found"
    assert w["web"] not in env_of(emulator, pr)["instances"]
    assert w["web"] not in env_of(emulator, w["dev"])["instances"]


def test_deleting_a_fork_removes_only_its_own_instances(emulator: Emulator) -> None:
    """environmentDelete of a fork removes the fork's service and volume instances, domains and variables; the
    source environment, the project's services and volumes stay as they were."""
    w = world(emulator)
    pr = fork(emulator, w["pid"], w["dev"])
    emulator.data("mutation($e:String!,$s:String!){ serviceDomainCreate(input:{environmentId:$e, serviceId:$s})"
                  "{ id } }", e=pr, s=w["web"])
    before = env_of(emulator, w["dev"])
    assert emulator.data("mutation($e:String!){ environmentDelete(id:$e) }", e=pr)["environmentDelete"] is True
    assert env_of(emulator, w["dev"]) == before
    inventory = emulator.inventory()
    assert {s["id"] for s in inventory["services"]} == {w["web"], w["pg"]}
    assert [v["id"] for v in inventory["volumes"]] == [w["vol"]]
    assert not [row for table in ("instances", "volume_instances", "service_domains", "deployments")
                for row in inventory[table] if row["environmentId"] == pr]
    assert not [k for k in inventory["variables"] if k.startswith(pr)]


def test_patch_null_removes_one_environments_instances_and_deploys_what_changed(emulator: Emulator) -> None:
    """environmentPatchCommit: `null` for a service or a volume deletes that key in this environment only (the
    instance, not the service or the volume); a committed patch deploys the services it changed (what
    environmentPatchCommitStaged's skipDeploys documents)."""
    w = world(emulator)
    pr = fork(emulator, w["pid"], w["dev"], skip=True)
    emulator.data(PATCH, e=pr, patch={"services": {w["pg"]: None, w["web"]: {"source": {"image": "web:pr-1"}}},
                                      "volumes": {w["vol"]: None}})
    copy = env_of(emulator, pr)
    assert set(copy["instances"]) == {w["web"]} and copy["volumes"] == {}
    assert copy["instances"][w["web"]]["source"] == {"image": "web:pr-1"}
    assert env_of(emulator, w["dev"])["volumes"][w["vol"]]["serviceId"] == w["pg"]
    assert envs_of_service(emulator, w["pg"]) == {w["dev"]}
    deployed = [d["serviceId"] for d in emulator.inventory()["deployments"] if d["environmentId"] == pr]
    assert deployed == [w["web"]]
    again = emulator.gql(PATCH, e=pr, patch={"services": {w["pg"]: None}, "volumes": {w["vol"]: None}})
    assert not again.get("errors"), "null for a key already gone is no change (assumed): a retried commit succeeds"


DOMAINS = "query($p:String!,$e:String!,$s:String!){ domains(projectId:$p, environmentId:$e, serviceId:$s){ " \
          "serviceDomains { domain targetPort } } }"


def test_patch_names_the_forks_railway_domain(emulator: Emulator) -> None:
    """`networking.serviceDomains` in a patch (the shape the Railway CLI's EnvironmentConfig structs give,
    `{<domain>: {port}}`): a new name becomes the instance's one Railway domain, a name another instance holds is
    refused as `serviceDomainUpdate` refuses it, `null` removes it; the source environment's domain is untouched."""
    w = world(emulator)
    emulator.data("mutation($i:ServiceDomainCreateInput!){ serviceDomainCreate(input:$i){ id } }",
                  i={"environmentId": w["dev"], "serviceId": w["web"]})
    pr = fork(emulator, w["pid"], w["dev"], skip=True)

    def named(env: str) -> list[dict[str, Any]]:
        return emulator.data(DOMAINS, p=w["pid"], e=env, s=w["web"])["domains"]["serviceDomains"]
    dev_domain = named(w["dev"])
    emulator.data(PATCH, e=pr, patch={"services": {w["web"]: {"networking": {"serviceDomains": {
        "acs-pr-1.up.railway.app": {"port": 8080}}}}}})
    assert named(pr) == [{"domain": "acs-pr-1.up.railway.app", "targetPort": 8080}]
    assert named(w["dev"]) == dev_domain
    taken = emulator.gql(PATCH, e=pr, patch={"services": {w["web"]: {"networking": {"serviceDomains": {
        dev_domain[0]["domain"]: {"port": 8080}}}}}})
    assert taken["errors"][0]["message"] == "Domain is not available"
    emulator.data(PATCH, e=pr, patch={"services": {w["web"]: {"networking": {"serviceDomains": {
        "acs-pr-1.up.railway.app": None}}}}})
    assert named(pr) == [] and named(w["dev"]) == dev_domain
