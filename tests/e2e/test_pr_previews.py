"""PR preview stacks through `acs-infra` (Automation API) against the emulator."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Emulator, PulumiProject, copy_project

pytestmark = pytest.mark.e2e


def cli(project: PulumiProject, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "infra", "--json", "--project-dir", str(project.dir), *args],
                          env=project.env, capture_output=True, text=True, timeout=600)
    project.log.append(f"$ acs-infra {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    if check and proc.returncode != 0:
        raise AssertionError(f"acs-infra {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def result(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)


PR_LIVE = """
query($p:String!){ environments(projectId:$p, isEphemeral:true){ edges { node { id name isEphemeral
  serviceInstances { edges { node { serviceId serviceName } } } } } } }
"""


@pytest.fixture
def dev(project: PulumiProject) -> dict[str, Any]:
    project.up("dev")
    return project.outputs("dev")


def test_pr_lifecycle(project: PulumiProject, emulator: Emulator, dev: dict[str, Any]) -> None:
    emulator.reset_stats()
    up = result(cli(project, "pr", "up", "42"))
    calls_up = emulator.stats()
    assert up["url"] == "https://acs-pr-42.up.railway.app"
    # token check (new stack), fork, and one shape patch that also names the domain (issue 15: at most 4)
    assert calls_up["total"] <= 3, calls_up

    envs = emulator.data(PR_LIVE, p=dev["projectId"])["environments"]["edges"]
    assert [e["node"]["name"] for e in envs] == ["pr-42"]
    env = envs[0]["node"]
    web = env["serviceInstances"]["edges"][0]["node"]["serviceId"]
    live = emulator.data("""query($p:String!,$e:String!,$s:String!){
      serviceInstanceLimitOverride(environmentId:$e, serviceId:$s)
      variables(projectId:$p, environmentId:$e, serviceId:$s)
      domains(projectId:$p, environmentId:$e, serviceId:$s){ serviceDomains { domain } } }""",
                         p=dev["projectId"], e=env["id"], s=web)
    assert live["serviceInstanceLimitOverride"]["containers"]["memoryBytes"] == 256 * 1024 ** 2
    assert live["variables"]["NODE_ENV"] == "development" and live["variables"]["LOG_LEVEL"] == "debug"
    assert live["variables"]["DATABASE_KIND"] == "sqlite" and live["variables"]["DATABASE_SEED"] == "true"
    assert "postgres" not in live["variables"]["DATABASE_URL"]
    assert [d["domain"] for d in live["domains"]["serviceDomains"]] == ["acs-pr-42.up.railway.app"]
    dev_key = project.run("config", "get", "acs:API_KEY", stack="dev").stdout.strip()
    assert live["variables"]["API_KEY"] != dev_key, "a preview never gets the dev/prod secrets"

    emulator.reset_stats()
    again = result(cli(project, "pr", "up", "42"))
    assert emulator.stats()["write_total"] == 0 and again["changes"] == {"same": again["changes"]["same"]}

    listed = result(cli(project, "pr", "list"))
    assert [(r["stack"], r["url"]) for r in listed] == [("pr-42", "https://acs-pr-42.up.railway.app")]

    emulator.reset_stats()
    down = result(cli(project, "pr", "down", "42"))
    # one read (does the fork hold anything the stack did not make?) and the one delete
    assert down["action"] == "destroyed" and emulator.stats()["write_total"] == 1, emulator.stats()
    assert emulator.stats()["total"] <= 2, emulator.stats()
    inventory = emulator.inventory()
    assert not [e for e in inventory["environments"] if e["name"] == "pr-42"]
    assert not [i for i in inventory["instances"] if i["environmentId"] == env["id"]]
    assert [i["environmentId"] for i in inventory["instances"] if i["serviceId"] == web] == [dev["environmentId"]], \
        "the fork shared dev's web: its instance goes, the service stays in dev"
    assert not [d for d in inventory["service_domains"] if d["environmentId"] == env["id"]]
    assert not [k for k in inventory["variables"] if k.startswith(env["id"])]
    assert result(cli(project, "pr", "list")) == []
    assert not (project.dir / "Pulumi.pr-42.yaml").exists()
    assert result(cli(project, "pr", "down", "42"))["action"] == "absent"
    assert result(cli(project, "pr", "down", "9999"))["action"] == "absent"


def test_gc_removes_closed_previews_and_orphans(project: PulumiProject, emulator: Emulator, dev: dict[str, Any],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.e2e.test_pr_data_safety import left_by_a_killed_preview
    cli(project, "pr", "up", "1")
    cli(project, "pr", "up", "2")
    orphan = left_by_a_killed_preview(emulator, project, dev, 77, monkeypatch)
    dry = result(cli(project, "pr", "gc", "--open", "2", "--dry-run"))
    assert [r["stack"] for r in dry["removed_stacks"]] == ["pr-1"] and dry["removed_environments"][0]["id"] == orphan
    assert len(result(cli(project, "pr", "list"))) == 2
    gc = result(cli(project, "pr", "gc", "--open", "2"))
    assert [r["stack"] for r in gc["removed_stacks"]] == ["pr-1"]
    assert [e["name"] for e in gc["removed_environments"]] == ["pr-77"]
    names = sorted(e["name"] for e in emulator.inventory()["environments"])
    assert names == ["dev", "pr-2"]
    dev_services = {i["serviceId"] for i in emulator.inventory()["instances"]
                    if i["environmentId"] == dev["environmentId"]}
    assert set(dev["serviceIds"].values()) <= dev_services and len(dev_services) == 2, "gc never deletes dev's services"
    assert [r["stack"] for r in result(cli(project, "pr", "list"))] == ["pr-2"]


def test_pr_up_remakes_a_preview_deleted_out_of_band(project: PulumiProject, emulator: Emulator,
                                                    dev: dict[str, Any]) -> None:
    """Someone deletes the preview's environment in Railway: the next `pr up` reads the fork as gone and forks
    dev again (a new environment, shaped, with its domain) instead of patching an environment that is no more."""
    first = result(cli(project, "pr", "up", "44"))["outputs"]["environmentId"]
    emulator.data("mutation($i:String!){ environmentDelete(id:$i) }", i=first)
    again = result(cli(project, "pr", "up", "44"))
    envs = emulator.data(PR_LIVE, p=dev["projectId"])["environments"]["edges"]
    assert [(e["node"]["name"], e["node"]["id"]) for e in envs] == [("pr-44", again["outputs"]["environmentId"])]
    assert again["outputs"]["environmentId"] != first
    assert [i["node"]["serviceName"] for i in envs[0]["node"]["serviceInstances"]["edges"]] == ["web"]
    assert again["url"] == "https://acs-pr-44.up.railway.app"
    project.run("preview", "--expect-no-changes", "--refresh", stack="pr-44")


def test_concurrent_previews(project: PulumiProject, emulator: Emulator, dev: dict[str, Any]) -> None:
    numbers = [11, 12, 13, 14, 15]
    with ThreadPoolExecutor(max_workers=5) as pool:
        procs = list(pool.map(lambda n: cli(project, "pr", "up", str(n), check=False), numbers))
    assert [p.returncode for p in procs] == [0] * 5, [p.stderr[-500:] for p in procs if p.returncode]
    names = sorted(e["name"] for e in emulator.inventory()["environments"] if e["name"].startswith("pr-"))
    assert names == [f"pr-{n}" for n in numbers]


def test_same_pr_twice_at_once_does_not_corrupt_state(project: PulumiProject, emulator: Emulator,
                                                      dev: dict[str, Any]) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda _: cli(project, "pr", "up", "5", check=False), range(2)))
    assert all(p.returncode in (0, 3) for p in procs) and any(p.returncode == 0 for p in procs), \
        [(p.returncode, p.stdout[-800:], p.stderr[-1500:]) for p in procs]
    assert len([e for e in emulator.inventory()["environments"] if e["name"] == "pr-5"]) == 1
    project.run("preview", "--expect-no-changes", stack="pr-5")


def test_pr_stack_refuses_prod(tmp_path: Path) -> None:
    """A preview is derived from dev's file even when that file looks like prod's, and a pr-* stack handed prod's
    configuration is refused before any resource."""
    from infra.config import ConfigError, guard_stack, parse_environment, pr_config
    copy_project(tmp_path)
    prod = yaml.safe_load((tmp_path / "Pulumi.prod.yaml").read_text())["config"]["acs:environment"]
    dev_file = tmp_path / "Pulumi.dev.yaml"
    doc = yaml.safe_load(dev_file.read_text())
    doc["config"]["acs:environment"] = {**prod, "project": {"stack": "prod"}}
    dev_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    pr = pr_config("pr-3", tmp_path)
    assert (pr.name, pr.stage, pr.project.stack, pr.protect, pr.ephemeral, pr.alerts) == \
        ("pr-3", "pr", "dev", False, True, None)
    assert (pr.database.kind, pr.domain.subdomain, pr.services[0].memory, pr.services[0].replicas) == \
        ("sqlite", "acs-pr-3", 256, 1)
    assert pr.services[0].source.image == "ghcr.io/acs-team/acs:pr-3"
    assert (pr.variables["NODE_ENV"], pr.variables["LOG_LEVEL"]) == ("development", "debug")
    guard_stack("pr-3", pr)
    with pytest.raises(ConfigError, match="may only manage the ephemeral environment"):
        guard_stack("pr-3", parse_environment(prod))


def test_a_preview_made_with_its_own_domain_resource_keeps_its_domain(project: PulumiProject, emulator: Emulator,
                                                                      dev: dict[str, Any]) -> None:
    """A preview made before its domain moved into the shaping patch holds a domain resource of its own (the
    kind dev's `dev-web-domain` is). Its next `pr up` deletes that resource after the shape took the name: the
    preview must still answer on acs-pr-42 afterwards, and its state hold no domain resource."""
    cli(project, "pr", "up", "42")
    env_id = project.outputs("pr-42")["environmentId"]
    web = dev["serviceIds"]["web"]
    domains = "query($p:String!,$e:String!,$s:String!){ domains(projectId:$p, environmentId:$e, serviceId:$s){ " \
              "serviceDomains { id domain } } }"
    live = emulator.data(domains, p=dev["projectId"], e=env_id, s=web)["domains"]["serviceDomains"]
    assert [d["domain"] for d in live] == ["acs-pr-42.up.railway.app"]
    legacy_state(project, live[0]["id"], env_id)

    cli(project, "pr", "up", "42")
    after = emulator.data(domains, p=dev["projectId"], e=env_id, s=web)["domains"]["serviceDomains"]
    assert [d["domain"] for d in after] == ["acs-pr-42.up.railway.app"]
    urns = [r["urn"] for r in json.loads(project.export("pr-42"))["deployment"]["resources"]]
    assert not [u for u in urns if u.endswith("-domain")], urns


def legacy_state(project: PulumiProject, domain_id: str, env_id: str) -> None:
    """Rewrites pr-42's state as the old version left it: the shape without the domain, and a domain resource
    (dev's, with its real provider, moved onto the preview's domain) under the preview's component."""
    def export(stack: str) -> dict[str, Any]:  # in clear: dev's ciphertexts do not open with pr-42's key
        return json.loads(project.run("stack", "export", "--show-secrets", stack=stack).stdout)
    dev_state = export("dev")["deployment"]["resources"]
    state = export("pr-42")
    resources = state["deployment"]["resources"]
    component = next(r for r in resources if r["type"] == "acs:railway:Environment")
    provider = next(r for r in resources if r["type"] == "pulumi:providers:pulumi-python")
    shape = next(r for r in resources if r["urn"].endswith("-shape"))
    for props in (shape["inputs"], shape["outputs"]):
        for spec in props["services"].values():
            spec.pop("domain", None), spec.pop("port", None)
    domain = json.loads(json.dumps(next(r for r in dev_state if r["urn"].endswith("dev-web-domain"))))
    domain.update(urn=component["urn"].replace("acs:railway:Environment::pr-42",
                                               "acs:railway:Environment$pulumi-python:dynamic:Resource::"
                                               "pr-42-web-domain"),
                  id=domain_id, parent=component["urn"], provider=f"{provider['urn']}::{provider['id']}",
                  dependencies=[], propertyDependencies={},
                  deletedWith=next(r["urn"] for r in resources if r["urn"].endswith("-environment")))
    for props in (domain["inputs"], domain["outputs"]):
        props.update(environment_id=env_id, subdomain="acs-pr-42")
    domain["outputs"].update(id=domain_id, domain="acs-pr-42.up.railway.app")
    resources.append(domain)
    path = project.dir / "legacy.json"
    path.write_text(json.dumps(state))
    project.run("stack", "import", "--file", str(path), stack="pr-42")


WORKER = {"name": "worker", "source": {"image": "ghcr.io/acs-team/worker:develop"}, "memory": "512MB", "vcpu": 1,
          "replicas": 1, "startCommand": "npm run worker", "public": False, "restartPolicy": "ON_FAILURE"}
INSTANCE = """query($e:String!,$s:String!){ serviceInstance(environmentId:$e, serviceId:$s){
  source { image } startCommand preDeployCommand } }"""


def add_worker(project: PulumiProject) -> None:
    """dev gains a service with an image of its own (adv15 B3/B8's stack file)."""
    stack_file = project.dir / "Pulumi.dev.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    doc["config"]["acs:environment"]["services"].append(dict(WORKER))
    stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_a_preview_follows_a_service_dev_gained(project: PulumiProject, emulator: Emulator,
                                                dev: dict[str, Any]) -> None:
    """adv15 B3: dev gained `worker` after pr-42 was forked; Railway makes a service created in a non-fork
    environment in no fork, so `pr up 42` failed for ever ("worker not in the source environment"). It re-forks
    the preview from dev instead: the new fork runs dev's worker (same service id), shaped, on acs-pr-42.
    adv15 B8: the worker keeps its own image and declares no pre-deploy command, in dev and in the preview; only
    the app's service (web) runs the PR's image and the migrate+seed command."""
    cli(project, "pr", "up", "42")
    first = project.outputs("pr-42")["environmentId"]
    add_worker(project)
    cli(project, "up", "dev")
    worker = project.outputs("dev")["serviceIds"]["worker"]
    live_dev = emulator.data(INSTANCE, e=dev["environmentId"], s=worker)["serviceInstance"]
    assert live_dev["source"]["image"] == "ghcr.io/acs-team/worker:develop", live_dev

    up = result(cli(project, "pr", "up", "42"))
    assert up["url"] == "https://acs-pr-42.up.railway.app"
    envs = emulator.data(PR_LIVE, p=dev["projectId"])["environments"]["edges"]
    assert [(e["node"]["name"], e["node"]["id"]) for e in envs] == [("pr-42", up["outputs"]["environmentId"])]
    assert up["outputs"]["environmentId"] != first, "re-forked from dev"
    names = {i["node"]["serviceName"]: i["node"]["serviceId"] for i in envs[0]["node"]["serviceInstances"]["edges"]}
    assert names == {"web": dev["serviceIds"]["web"], "worker": worker}, "dev's services, no new one"
    fork = up["outputs"]["environmentId"]
    live_worker = emulator.data(INSTANCE, e=fork, s=worker)["serviceInstance"]
    assert live_worker["source"]["image"] == "ghcr.io/acs-team/worker:develop", live_worker
    assert not live_worker["preDeployCommand"] and live_worker["startCommand"] == "npm run worker", live_worker
    live_web = emulator.data(INSTANCE, e=fork, s=dev["serviceIds"]["web"])["serviceInstance"]
    assert live_web["source"]["image"] == "ghcr.io/acs-team/acs:pr-42", live_web
    assert live_web["preDeployCommand"] == ["npm run migrate && npm run db:seed"], live_web
    emulator.reset_stats()
    again = result(cli(project, "pr", "up", "42"))
    assert emulator.stats()["write_total"] == 0 and again["changes"] == {"same": again["changes"]["same"]}


def test_a_new_image_reaches_only_the_apps_services(project: PulumiProject, emulator: Emulator,
                                                    dev: dict[str, Any]) -> None:
    """adv15 B8: `pr up 44 --image` (and a release in dev) gave the app's image to every image-sourced service."""
    add_worker(project)
    cli(project, "up", "dev")
    worker = project.outputs("dev")["serviceIds"]["worker"]
    image = "ghcr.io/acs-team/acs:0123abc"
    fork = result(cli(project, "pr", "up", "44", "--image", image))["outputs"]["environmentId"]
    live_worker = emulator.data(INSTANCE, e=fork, s=worker)["serviceInstance"]
    assert live_worker["source"]["image"] == "ghcr.io/acs-team/worker:develop", live_worker
    assert not live_worker["preDeployCommand"], live_worker
    assert emulator.data(INSTANCE, e=fork, s=dev["serviceIds"]["web"])["serviceInstance"]["source"]["image"] == image


def test_a_re_fork_never_deletes_what_the_stack_did_not_make(project: PulumiProject, emulator: Emulator,
                                                             dev: dict[str, Any]) -> None:
    """Re-forking deletes the old fork: a custom domain attached there by hand would go with it. Refused before
    any write, like `pr down`, naming it; the preview stays as it was."""
    fork = result(cli(project, "pr", "up", "42"))["outputs"]["environmentId"]
    emulator.data('mutation($p:String!,$e:String!,$s:String!){ customDomainCreate(input:{projectId:$p, '
                  'environmentId:$e, serviceId:$s, domain:"qa.pr42.example.com"}){ id } }', p=dev["projectId"],
                  e=fork, s=dev["serviceIds"]["web"])
    add_worker(project)
    cli(project, "up", "dev")
    emulator.reset_stats()
    refused = cli(project, "pr", "up", "42", check=False)
    assert refused.returncode == 1 and "qa.pr42.example.com" in refused.stderr and "worker" in refused.stderr, \
        refused.stderr
    assert "Traceback" not in refused.stderr and emulator.stats()["write_total"] == 0, emulator.stats()
    assert [e["id"] for e in emulator.inventory()["environments"] if e["name"] == "pr-42"] == [fork]
