"""What Railway's own clients (the `railway` CLI, the Terraform provider) run, answered as Railway does: one test
per documented rule or client-found defect, over real HTTP. Each docstring states the rule."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from railway_emulator.cli import parse_args
from railway_emulator.models import now_iso as iso
from railway_emulator.server import DEFAULT_TOKEN, EmulatorServer
from tests.conftest import Emulator
from tests.emulator.test_behaviour import project, service

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB9cZ6oWw2gm1Z9f2Ck7yZf2m0Fv8rY1y5K2M1gDqgQh dev"
STAGE = ("mutation($e:String!,$i:EnvironmentConfig!,$m:Boolean){ environmentStageChanges(environmentId:$e, "
         "input:$i, merge:$m){ id status } }")
STAGED = "query($e:String!,$d:Boolean){ environmentStagedChanges(environmentId:$e){ id status patch(decryptVariables:$d) } }"
SHARED = "query($p:String!,$e:String!){ variables(projectId:$p, environmentId:$e, unrendered:true) }"


def error(emu: Emulator, query: str, **variables: object) -> str:
    body = emu.gql(query, **variables)
    assert body["data"] is None, body
    return body["errors"][0]["message"]


def deployments(emu: Emulator, sid: str) -> list[str]:
    edges = emu.data("query($s:String!){ deployments(input:{serviceId:$s}){ edges { node { id } } } }",
                     s=sid)["deployments"]["edges"]
    return [e["node"]["id"] for e in edges]


def test_workspace_id_can_be_chosen() -> None:
    """`--workspace-id` makes the user's workspace that id, so a world recorded with real ids can be replayed."""
    assert parse_args(["serve", "--workspace-id", "ws-recorded-1"]).workspace_id == "ws-recorded-1"
    server = EmulatorServer(workspace_id="ws-recorded-1").start()
    try:
        emu = Emulator(server)
        assert emu.data("{ me { workspaces { id } } }")["me"]["workspaces"] == [{"id": "ws-recorded-1"}]
        made = emu.data("mutation{ projectCreate(input:{name:\"r\"}){ workspaceId } }")["projectCreate"]
        assert made == {"workspaceId": "ws-recorded-1"}
        emu.http.close()
    finally:
        server.stop()


def test_a_variable_of_the_wrong_type_gets_graphqls_coercion_error(emulator: Emulator) -> None:
    """A number sent for a `String!` variable is refused by GraphQL's coercion with its own message, not as an
    internal problem."""
    resp = emulator.http.post(emulator.url, json={"query": "query($id:String!){ project(id:$id){ id } }",
                                                  "variables": {"id": 5}},
                              headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
    message = resp.json()["errors"][0]["message"]
    assert resp.status_code == 200 and resp.json()["data"] is None
    assert message == 'Variable "$id" got invalid value 5; String cannot represent a non string value: 5'


def test_custom_domain_dns_target_is_the_same_on_every_read(emulator: Emulator) -> None:
    """A custom domain's required CNAME value is fixed when it is created: every read shows the same one."""
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    dom = emulator.data("mutation($p:String!,$e:String!,$s:String!){ customDomainCreate(input:{projectId:$p, "
                        "environmentId:$e, serviceId:$s, domain:\"shop.example.com\"}){ id } }",
                        p=pid, e=env, s=sid)["customDomainCreate"]["id"]
    read = "query($i:String!,$p:String!){ customDomain(id:$i, projectId:$p){ status { dnsRecords { requiredValue } } } }"
    values = {emulator.data(read, i=dom, p=pid)["customDomain"]["status"]["dnsRecords"][0]["requiredValue"]
              for _ in range(3)}
    assert len(values) == 1 and values.pop().endswith(".up.railway.app")


def test_redeploying_a_service_without_a_source_succeeds_without_a_deployment(emulator: Emulator) -> None:
    """serviceInstanceRedeploy of an instance with no source answers true and deploys nothing (there is nothing
    to build); with a source it makes a new deployment."""
    pid, env = project(emulator)
    bare = emulator.data("mutation($p:String!,$e:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, "
                         "name:\"empty\"}){ id } }", p=pid, e=env)["serviceCreate"]["id"]
    redeploy = "mutation($s:String!,$e:String!){ serviceInstanceRedeploy(serviceId:$s, environmentId:$e) }"
    assert emulator.data(redeploy, s=bare, e=env) == {"serviceInstanceRedeploy": True}
    assert deployments(emulator, bare) == []
    sid = service(emulator, pid, env)
    before = deployments(emulator, sid)
    assert emulator.data(redeploy, s=sid, e=env)["serviceInstanceRedeploy"] and len(deployments(emulator, sid)) == 2
    assert len(before) == 1


def test_a_deployment_meta_carries_the_service_manifest(emulator: Emulator) -> None:
    """Deployment.meta.serviceManifest holds what was deployed in EnvironmentConfig's shape, including
    deploy.multiRegionConfig (region -> replicas), which the Terraform provider reads."""
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    meta = emulator.data("query($s:String!,$e:String!){ serviceInstance(serviceId:$s, environmentId:$e){ "
                         "latestDeployment { meta } } }", s=sid, e=env)["serviceInstance"]["latestDeployment"]["meta"]
    manifest = meta["serviceManifest"]
    assert manifest["deploy"]["multiRegionConfig"] == {"us-west2": {"numReplicas": 1}}
    assert manifest["source"] == {"image": "node:20"} and meta["image"] == "node:20"


def test_user_projects_come_through_the_workspace(emulator: Emulator) -> None:
    """The CLI's project list: the user's workspaces list their projects; the user belongs to the one workspace
    holding them all, so there are no external workspaces; a project's buckets are an empty list."""
    pid, _ = project(emulator, "listed")
    data = emulator.data("{ externalWorkspaces { id } me { workspaces { id team { id } projects(first: 500) "
                         "{ edges { node { id name } } } } } }")
    assert data["externalWorkspaces"] == []
    (workspace,) = data["me"]["workspaces"]
    assert [e["node"] for e in workspace["projects"]["edges"]] == [{"id": pid, "name": "listed"}]
    buckets = emulator.data("query($p:String!){ project(id:$p){ buckets { edges { node { id } } } } }", p=pid)
    assert buckets["project"]["buckets"]["edges"] == []


def test_staged_changes_wait_for_their_commit(emulator: Emulator) -> None:
    """environmentStageChanges sets the staged patch (merge: merged into it) and changes nothing yet; the staged
    patch shows variable values only with decryptVariables; environmentPatchCommitStaged applies it, then
    nothing is staged."""
    pid, env = project(emulator)
    emulator.data(STAGE, e=env, i={"sharedVariables": {"A": {"value": "1"}}})
    emulator.data(STAGE, e=env, i={"sharedVariables": {"B": {"value": "2"}}}, m=True)
    assert emulator.data(SHARED, p=pid, e=env)["variables"] == {}
    staged = emulator.data(STAGED, e=env)["environmentStagedChanges"]
    assert staged["status"] == "STAGED" and staged["patch"]["sharedVariables"]["A"]["value"] == "*****"
    plain = emulator.data(STAGED, e=env, d=True)["environmentStagedChanges"]["patch"]
    assert plain == {"sharedVariables": {"A": {"value": "1"}, "B": {"value": "2"}}}
    emulator.data(STAGE, e=env, i={"sharedVariables": {"C": {"value": "3"}}})  # without merge: replaces
    emulator.data("mutation($e:String!){ environmentPatchCommitStaged(environmentId:$e) }", e=env)
    assert emulator.data(SHARED, p=pid, e=env)["variables"] == {"C": "3"}
    assert emulator.data(STAGED, e=env, d=True)["environmentStagedChanges"]["patch"] == {}


def test_committing_staged_changes_with_skip_deploys_deploys_nothing(emulator: Emulator) -> None:
    """environmentPatchCommitStaged(skipDeploys: true) applies the patch without deploying the services it
    affects; without it, they are deployed."""
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    commit = "mutation($e:String!,$k:Boolean){ environmentPatchCommitStaged(environmentId:$e, skipDeploys:$k) }"
    emulator.data(STAGE, e=env, i={"services": {sid: {"deploy": {"startCommand": "node a.js"}}}})
    emulator.data(commit, e=env, k=True)
    assert len(deployments(emulator, sid)) == 1
    emulator.data(STAGE, e=env, i={"services": {sid: {"deploy": {"startCommand": "node b.js"}}}})
    emulator.data(commit, e=env, k=False)
    assert len(deployments(emulator, sid)) == 2


def test_tcp_proxies_belong_to_one_service_instance(emulator: Emulator) -> None:
    """tcpProxyCreate gives an instance a public host:port for its applicationPort; tcpProxies lists an
    instance's own; tcpProxyDelete removes one, and a second delete finds nothing."""
    pid, env = project(emulator)
    db, web = service(emulator, pid, env, "db"), service(emulator, pid, env, "web")
    made = emulator.data("mutation($e:String!,$s:String!){ tcpProxyCreate(input:{environmentId:$e, serviceId:$s, "
                         "applicationPort:5432}){ id domain proxyPort applicationPort syncStatus } }",
                         e=env, s=db)["tcpProxyCreate"]
    assert made["applicationPort"] == 5432 and made["syncStatus"] == "ACTIVE" and 10000 <= made["proxyPort"] < 60000
    listing = "query($e:String!,$s:String!){ tcpProxies(environmentId:$e, serviceId:$s){ id } }"
    assert emulator.data(listing, e=env, s=db)["tcpProxies"] == [{"id": made["id"]}]
    assert emulator.data(listing, e=env, s=web)["tcpProxies"] == []
    delete = "mutation($i:String!){ tcpProxyDelete(id:$i) }"
    assert emulator.data(delete, i=made["id"]) == {"tcpProxyDelete": True}
    assert error(emulator, delete, i=made["id"]) == "TCP proxy not found"


def test_ssh_keys_belong_to_the_user_or_to_a_workspace(emulator: Emulator) -> None:
    """sshPublicKeyCreate without workspaceId makes a key of the user, with one a key of that workspace;
    sshPublicKeys lists the user's keys, or with workspaceId the workspace's. A key is known once."""
    workspace = emulator.data("{ me { workspaces { id } } }")["me"]["workspaces"][0]["id"]
    create = ("mutation($n:String!,$k:String!,$w:String){ sshPublicKeyCreate(input:{name:$n, publicKey:$k, "
              "workspaceId:$w}){ id fingerprint userId workspaceId } }")
    mine = emulator.data(create, n="laptop", k=KEY)["sshPublicKeyCreate"]
    assert mine["userId"] and mine["workspaceId"] is None and mine["fingerprint"].startswith("SHA256:")
    other = KEY.replace("IB9c", "IC9c")
    shared = emulator.data(create, n="ci", k=other, w=workspace)["sshPublicKeyCreate"]
    assert shared["workspaceId"] == workspace and shared["userId"] is None
    listing = "query($w:String){ sshPublicKeys(workspaceId:$w){ edges { node { id } } } }"
    assert [e["node"]["id"] for e in emulator.data(listing)["sshPublicKeys"]["edges"]] == [mine["id"]]
    assert [e["node"]["id"] for e in emulator.data(listing, w=workspace)["sshPublicKeys"]["edges"]] == [shared["id"]]
    assert error(emulator, create, n="again", k=KEY) == "SSH public key already exists"
    assert error(emulator, create, n="bad", k="not a key") == "Invalid SSH public key"


def test_a_project_scheduled_for_deletion_is_gone_but_its_data_is_kept(emulator: Emulator) -> None:
    """projectScheduleDelete deletes a project with a 48-hour grace period: no read finds it any more, while
    everything it holds is kept (nothing is purged during the grace period)."""
    pid, env = project(emulator, "doomed")
    service(emulator, pid, env)
    assert emulator.data("mutation($i:String!){ projectScheduleDelete(id:$i) }", i=pid)["projectScheduleDelete"]
    assert error(emulator, "query($i:String!){ project(id:$i){ id } }", i=pid) == "Project not found"
    assert emulator.data("{ projects { edges { node { id } } } }")["projects"]["edges"] == []
    held = emulator.inventory()
    assert [p["id"] for p in held["projects"]] == [pid] and len(held["services"]) == 1


def test_logs_honour_limit_and_filter(emulator: Emulator) -> None:
    """Build and deployment logs of a deployment: an empty filter matches every line, a filter only matching
    lines; limit keeps that many of the most recent lines. Lines appear as the deployment progresses."""
    emulator.freeze()
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    (dep,) = deployments(emulator, sid)
    logs = "query($d:String!,$l:Int,$f:String){ deploymentLogs(deploymentId:$d, limit:$l, filter:$f){ message } }"
    assert emulator.data(logs, d=dep)["deploymentLogs"] == []
    emulator.advance(emulator.server.backend.deploy_seconds)
    messages = [x["message"] for x in emulator.data(logs, d=dep, f="")["deploymentLogs"]]
    assert messages == ["Starting Container", "Container is healthy"]
    assert emulator.data(logs, d=dep, l=1)["deploymentLogs"] == [{"message": "Container is healthy"}]
    assert emulator.data(logs, d=dep, f="starting")["deploymentLogs"] == [{"message": "Starting Container"}]
    build = emulator.data("query($d:String!){ buildLogs(deploymentId:$d){ message } }", d=dep)["buildLogs"]
    assert build[0] == {"message": "Pulling node:20"}


def test_requests_are_grouped_by_status_code(emulator: Emulator) -> None:
    """httpMetricsGroupedByStatus splits the request counts of httpMetrics by status code (200 and 500 for the
    emulated app), summing to the ungrouped counts."""
    emulator.freeze()
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    start = emulator.admin("/clock")["now"]
    emulator.advance(600)
    window = {"s": sid, "e": env, "a": iso(start), "b": iso(start + 600)}
    grouped = emulator.data("query($s:String!,$e:String!,$a:DateTime!,$b:DateTime!){ httpMetricsGroupedByStatus("
                            "serviceId:$s, environmentId:$e, startDate:$a, endDate:$b){ statusCode samples { value } } }",
                            **window)["httpMetricsGroupedByStatus"]
    total = emulator.data("query($s:String!,$e:String!,$a:DateTime!,$b:DateTime!){ httpMetrics(serviceId:$s, "
                          "environmentId:$e, startDate:$a, endDate:$b){ samples { value } } }", **window)
    assert [g["statusCode"] for g in grouped] == [200, 500]
    sums = [a["value"] + b["value"] for a, b in zip(grouped[0]["samples"], grouped[1]["samples"])]
    assert sums and sums == pytest.approx([s["value"] for s in total["httpMetrics"]["samples"]], abs=1e-9)


def test_a_backup_without_a_name_is_called_manual(emulator: Emulator) -> None:
    """volumeInstanceBackupCreate's name defaults to 'Manual' when not provided."""
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    vi = emulator.data("mutation($p:String!,$e:String!,$s:String!){ volumeCreate(input:{projectId:$p, "
                       "environmentId:$e, serviceId:$s, mountPath:\"/data\"}){ volumeInstances { edges { node { id } } } } }",
                       p=pid, e=env, s=sid)["volumeCreate"]["volumeInstances"]["edges"][0]["node"]["id"]
    emulator.data("mutation($v:String!){ volumeInstanceBackupCreate(volumeInstanceId:$v){ workflowId } }", v=vi)
    backups = emulator.data("query($v:String!){ volumeInstanceBackupList(volumeInstanceId:$v){ name } }", v=vi)
    assert backups["volumeInstanceBackupList"] == [{"name": "Manual"}]


def test_instance_update_in_a_non_fork_reaches_every_non_fork_only(emulator: Emulator) -> None:
    """serviceInstanceUpdate(environmentId) of a fork updates only that fork's instance; of an environment that
    is not a fork, the instances in every environment that is not a fork (forks keep theirs)."""
    pid, env = project(emulator)
    staging = emulator.data("mutation($p:String!){ environmentCreate(input:{projectId:$p, name:\"staging\"}){ id } }",
                            p=pid)["environmentCreate"]["id"]
    sid = service(emulator, pid, env)
    fork = emulator.data("mutation($p:String!,$s:String!){ environmentCreate(input:{projectId:$p, name:\"pr-1\", "
                         "sourceEnvironmentId:$s}){ id } }", p=pid, s=env)["environmentCreate"]["id"]
    update = ("mutation($s:String!,$e:String!,$c:String){ serviceInstanceUpdate(serviceId:$s, environmentId:$e, "
              "input:{startCommand:$c}) }")
    read = "query($s:String!,$e:String!){ serviceInstance(serviceId:$s, environmentId:$e){ startCommand } }"
    emulator.data(update, s=sid, e=env, c="node main.js")
    assert [emulator.data(read, s=sid, e=e)["serviceInstance"]["startCommand"] for e in (env, staging, fork)] == \
        ["node main.js", "node main.js", None]
    emulator.data(update, s=sid, e=fork, c="node pr.js")
    assert [emulator.data(read, s=sid, e=e)["serviceInstance"]["startCommand"] for e in (env, staging, fork)] == \
        ["node main.js", "node main.js", "node pr.js"]


def test_features_the_emulator_does_not_model_answer_as_railway_would(emulator: Emulator) -> None:
    """Buckets, sandboxes, CDN and the like: creating one is refused with an explicit not-implemented error, a
    list of them is empty, one named by id is not found, a documented no-op (purging a CDN cache) is true; the
    ids a request names are still checked."""
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    assert error(emulator, "mutation($p:String!){ bucketCreate(input:{projectId:$p, name:\"b\"}){ id } }", p=pid) == \
        "Buckets are not implemented in the Railway emulator"
    assert emulator.data("query($e:String!){ sandboxes(environmentId:$e){ edges { node { id } } } }",
                         e=env)["sandboxes"]["edges"] == []
    assert error(emulator, "mutation{ cloudAgentDelete(id:\"x\") }") == "Cloud agent not found"
    purge = ("mutation($e:String!,$s:String!){ purgeServiceCache(input:{environmentId:$e, serviceId:$s, "
             "scope:ALL}) }")
    assert emulator.data(purge, e=env, s=sid) == {"purgeServiceCache": True}
    assert error(emulator, purge, e="no-such-env", s=sid) == "Environment not found"
    resp = httpx.post(emulator.url, json={"query": "{ twoFactorInfo { isVerified } }"},
                      headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
    assert resp.json() == {"data": {"twoFactorInfo": {"isVerified": False}}}


VOLUME = ("mutation($p:String!,$e:String,$s:String,$r:String){ volumeCreate(input:{projectId:$p, environmentId:$e, "
          "serviceId:$s, mountPath:\"/data\", region:$r}){ id volumeInstances { edges { node { id serviceId region "
          "mountPath environmentId } } } } }")
VOLUME_UPDATE = ("mutation($v:String!,$e:String,$i:VolumeInstanceUpdateInput!){ volumeInstanceUpdate(volumeId:$v, "
                 "environmentId:$e, input:$i) }")


def volume_instances(emulator: Emulator, project_id: str, fields: str) -> list[dict[str, Any]]:
    """The instances of the project's first volume, read back with these fields."""
    query = ("query($p:String!){ project(id:$p){ volumes { edges { node { volumeInstances { edges { node { "
             + fields + " } } } } } } } }")
    node = emulator.data(query, p=project_id)["project"]["volumes"]["edges"][0]["node"]
    return [e["node"] for e in node["volumeInstances"]["edges"]]


def test_a_new_volume_is_detached_and_in_the_default_region_unless_told(emulator: Emulator) -> None:
    """volumeCreate: without serviceId the volume is not attached to any service; without region its instances
    are in the default region, with one in that region."""
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    plain = emulator.data(VOLUME, p=pid, e=env)["volumeCreate"]["volumeInstances"]["edges"][0]["node"]
    assert plain["serviceId"] is None and plain["region"] == "us-west2"
    placed = emulator.data(VOLUME, p=pid, e=env, s=sid, r="europe-west4-drams3a")["volumeCreate"]
    node = placed["volumeInstances"]["edges"][0]["node"]
    assert node["serviceId"] == sid and node["region"] == "europe-west4-drams3a"


def test_volume_instance_update_without_environment_updates_every_instance(emulator: Emulator) -> None:
    """volumeInstanceUpdate: with environmentId only that environment's instance changes, without it every
    instance of the volume; a mountPath not provided is not updated."""
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    vol = emulator.data(VOLUME, p=pid, e=env, s=sid)["volumeCreate"]["id"]
    fork = emulator.data("mutation($p:String!,$s:String!){ environmentCreate(input:{projectId:$p, name:\"pr-2\", "
                         "sourceEnvironmentId:$s}){ id } }", p=pid, s=env)["environmentCreate"]["id"]

    def paths() -> dict[str, str]:
        return {i["environmentId"]: i["mountPath"] for i in volume_instances(emulator, pid, "environmentId mountPath")}

    emulator.data(VOLUME_UPDATE, v=vol, e=fork, i={"mountPath": "/fork"})
    assert paths() == {env: "/data", fork: "/fork"}
    emulator.data(VOLUME_UPDATE, v=vol, i={"mountPath": "/all"})
    assert paths() == {env: "/all", fork: "/all"}
    emulator.data(VOLUME_UPDATE, v=vol, i={"state": "READY"})
    assert paths() == {env: "/all", fork: "/all"}


def test_merged_limits_fill_in_the_plan_defaults(emulator: Emulator) -> None:
    """serviceInstanceLimits are the merged limits: the override where one is set, the plan's default for the
    rest (8 vCPU and 8 GB on the emulator's plan)."""
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    emulator.data("mutation($i:ServiceInstanceLimitsUpdateInput!){ serviceInstanceLimitsUpdate(input:$i) }",
                  i={"serviceId": sid, "environmentId": env, "memoryGB": 0.5})
    merged = emulator.data("query($s:String!,$e:String!){ serviceInstanceLimits(serviceId:$s, environmentId:$e) }",
                           s=sid, e=env)["serviceInstanceLimits"]
    assert merged == {"containers": {"cpu": 8.0, "memoryBytes": 512 * 1024 ** 2}}


def test_volume_instance_update_without_service_disconnects(emulator: Emulator) -> None:
    """VolumeInstanceUpdateInput.serviceId: "If not provided, the volume will be disconnected" — an update that
    leaves serviceId out detaches the volume; one that names the service keeps (or moves) the attachment."""
    pid, env = project(emulator)
    sid = service(emulator, pid, env)
    vol = emulator.data(VOLUME, p=pid, e=env, s=sid)["volumeCreate"]["id"]

    def instance() -> dict[str, Any]:
        return volume_instances(emulator, pid, "serviceId mountPath")[0]

    emulator.data(VOLUME_UPDATE, v=vol, e=env, i={"mountPath": "/kept", "serviceId": sid})
    assert instance() == {"serviceId": sid, "mountPath": "/kept"}
    emulator.data(VOLUME_UPDATE, v=vol, e=env, i={"mountPath": "/moved"})
    assert instance() == {"serviceId": None, "mountPath": "/moved"}
