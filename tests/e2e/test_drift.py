"""`acs-infra drift` against out-of-band changes made through the emulator's API."""
from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_pr_previews import cli

pytestmark = pytest.mark.e2e
Change = Callable[[Emulator, dict[str, Any]], None]


def _instance_update(field: str, value: Any) -> Change:
    return lambda emu, out: emu.data(
        "mutation($s:String!,$e:String!,$i:ServiceInstanceUpdateInput!){ serviceInstanceUpdate(serviceId:$s, "
        "environmentId:$e, input:$i) }", s=out["serviceIds"]["web"], e=out["environmentId"], i={field: value})


def _variable(name: str, value: str | None) -> Change:
    def change(emu: Emulator, out: dict[str, Any]) -> None:
        scope = {"projectId": out["projectId"], "environmentId": out["environmentId"], "serviceId": out["serviceIds"]["web"]}
        if value is None:
            emu.data("mutation($i:VariableDeleteInput!){ variableDelete(input:$i) }", i={**scope, "name": name})
        else:
            emu.data("mutation($i:VariableUpsertInput!){ variableUpsert(input:$i) }",
                     i={**scope, "name": name, "value": value, "skipDeploys": True})
    return change


def _memory(emu: Emulator, out: dict[str, Any]) -> None:
    emu.data("mutation($i:ServiceInstanceLimitsUpdateInput!){ serviceInstanceLimitsUpdate(input:$i) }",
             i={"serviceId": out["serviceIds"]["web"], "environmentId": out["environmentId"], "memoryGB": 2})


def _domain(emu: Emulator, out: dict[str, Any], rename: bool) -> None:
    dom = next(d for d in emu.inventory()["service_domains"] if d["serviceId"] == out["serviceIds"]["web"])
    if rename:
        emu.data("mutation($i:ServiceDomainUpdateInput!){ serviceDomainUpdate(input:$i) }",
                 i={"serviceDomainId": dom["id"], "environmentId": out["environmentId"],
                    "serviceId": out["serviceIds"]["web"], "domain": "hijacked.up.railway.app"})
    else:
        emu.data("mutation($id:String!){ serviceDomainDelete(id:$id) }", id=dom["id"])


def _volume_grown(emu: Emulator, out: dict[str, Any]) -> None:
    vi = emu.inventory()["volume_instances"][0]
    emu.data("mutation($e:String!,$patch:EnvironmentConfig){ environmentPatchCommit(environmentId:$e, patch:$patch) }",
             e=out["environmentId"], patch={"volumes": {vi["volumeId"]: {"sizeMB": 2048}}})


def _service_deleted(emu: Emulator, out: dict[str, Any]) -> None:
    emu.data("mutation($id:String!){ serviceDelete(id:$id) }", id=out["serviceIds"]["web"])


def _unmanaged_service(emu: Emulator, out: dict[str, Any]) -> None:
    emu.data("mutation($p:String!,$e:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, name:\"sidecar\", "
             "source:{image:\"nginx:1\"}}){ id } }", p=out["projectId"], e=out["environmentId"])


def _secret_changed(emu: Emulator, out: dict[str, Any]) -> None:
    _variable("JWT_SECRET", "stolen-and-replaced")(emu, out)


CASES: dict[str, tuple[Change, str, str]] = {
    "replicas": (_instance_update("numReplicas", 3), "dev-web-settings", "num_replicas: declared 1, live 3"),
    "healthcheck": (_instance_update("healthcheckPath", "/other"), "dev-web-settings",
                    "healthcheck_path: declared /health, live /other"),
    "start command": (_instance_update("startCommand", "node debug.js"), "dev-web-settings",
                      "start_command: declared npm start, live node debug.js"),
    "memory": (_memory, "dev-web-limits", "memory_bytes: declared 536870912, live 2147483648"),
    "variable changed": (_variable("LOG_LEVEL", "warn"), "dev-web", "variables.LOG_LEVEL: declared debug, live warn"),
    "variable added": (_variable("DEBUG_TOKEN", "x"), "dev-web",  # not declared plain: a fingerprint, not its value
                       "variables.DEBUG_TOKEN: declared (absent), live [hidden hmac:"),
    "variable removed": (_variable("NODE_ENV", None), "dev-web",
                         "variables.NODE_ENV: declared development, live (absent)"),
    "secret changed": (_secret_changed, "dev-web", "a secret value changed (value not shown)"),
    "domain renamed": (lambda e, o: _domain(e, o, True), "dev-web-domain",
                       "subdomain: declared acs-dev, live hijacked"),
    "domain removed": (lambda e, o: _domain(e, o, False), "dev-web-domain", "deleted outside Pulumi"),
    "service deleted": (_service_deleted, "dev-web", "deleted outside Pulumi"),
    "unmanaged service": (_unmanaged_service, "service sidecar", "unmanaged - added outside Pulumi"),
}


TOGETHER = ["replicas", "memory", "variable changed", "variable added", "domain renamed", "unmanaged service"]
ALONE = ["healthcheck", "start command", "variable removed", "secret changed", "domain removed", "service deleted"]


def _found_and_fixed(project: PulumiProject, emulator: Emulator, cases: list[str]) -> None:
    out = project.outputs("dev")
    for case in cases:
        CASES[case][0](emulator, out)
    found = cli(project, "drift", "dev", check=False)
    assert found.returncode == 2, found.stdout + found.stderr
    report = json.loads(found.stdout)[0]
    assert report["drifted"] and not report["error"]
    text = project_text(project, "dev")
    for case in cases:
        _, resource, detail = CASES[case]
        assert resource in text and detail in text, f"{case}: {text}"
    assert "stolen-and-replaced" not in found.stdout + text
    fixed = cli(project, "drift", "dev", "--fix", "--remove-unmanaged", check=False)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert cli(project, "drift", "dev", check=False).returncode == 0


def test_many_kinds_of_drift_at_once(project: PulumiProject, emulator: Emulator) -> None:
    project.up("dev")
    assert cli(project, "drift", "dev", check=False).returncode == 0
    _found_and_fixed(project, emulator, TOGETHER)


@pytest.mark.parametrize("case", ALONE)
def test_drift_is_found_and_fixed(case: str, project: PulumiProject, emulator: Emulator) -> None:
    project.up("dev")
    _found_and_fixed(project, emulator, [case])


def test_memory_that_is_no_multiple_of_64mb_shows_no_drift(project: PulumiProject, emulator: Emulator) -> None:
    path = project.dir / "Pulumi.dev.yaml"
    path.write_text(path.read_text().replace("memory: 512MB", "memory: 200MB"))
    project.up("dev")
    live = emulator.data("query($s:String!,$e:String!){ serviceInstanceLimitOverride(serviceId:$s, environmentId:$e) }",
                         s=project.outputs("dev")["serviceIds"]["web"], e=project.outputs("dev")["environmentId"])
    assert live["serviceInstanceLimitOverride"]["containers"]["memoryBytes"] == 200 * 1024 ** 2
    clean = cli(project, "drift", "dev", check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert not json.loads(clean.stdout)[0]["resources"]


def test_grown_volume_is_drift_that_fix_cannot_undo(project: PulumiProject, emulator: Emulator) -> None:
    project.up("dev")
    _volume_grown(emulator, project.outputs("dev"))
    found = cli(project, "drift", "dev", check=False)
    assert found.returncode == 2 and not json.loads(found.stdout)[0]["error"]
    text = project_text(project, "dev")
    assert "dev-postgres: conflict - railway postgres: cannot shrink a volume from 2048 MB to 1024 MB" in text, text
    fixed = cli(project, "drift", "dev", "--fix", check=False)
    assert fixed.returncode == 2, "the volume cannot shrink: the config has to follow (volumeSize: 2GB)"


def project_text(project: PulumiProject, stack: str, *extra: str) -> str:
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "infra", "--project-dir", str(project.dir), "drift", stack, *extra],
                          env=project.env, capture_output=True, text=True, timeout=600)
    return proc.stdout


def test_deleted_environment_and_markdown(project: PulumiProject, emulator: Emulator) -> None:
    project.up("dev")
    cli(project, "pr", "up", "7")
    env = next(e for e in emulator.inventory()["environments"] if e["name"] == "pr-7")
    emulator.data("mutation($id:String!){ environmentDelete(id:$id) }", id=env["id"])
    import subprocess
    import sys
    md = subprocess.run([sys.executable, "-m", "infra", "--project-dir", str(project.dir), "drift", "--all",
                         "--markdown"], env=project.env, capture_output=True, text=True, timeout=600)
    assert md.returncode == 2
    assert "| pr-7 | pr-7-environment | deleted |" in md.stdout and "| dev | - | no drift |" in md.stdout
    assert cli(project, "drift", "pr-7", "--fix", check=False).returncode == 0
    assert cli(project, "drift", "--all", check=False).returncode == 0


def test_check_failures_exit_1(project: PulumiProject, emulator: Emulator) -> None:
    project.up("dev")
    emulator.admin("/tokens/revoke", {"token": "railway-emulator-local-token"})
    revoked = cli(project, "drift", "dev", check=False)
    assert revoked.returncode == 1 and "Not Authorized" in json.loads(revoked.stdout)[0]["error"]
    project.env["RAILWAY_API_URL"] = "http://127.0.0.1:9/graphql/v2"
    unreachable = cli(project, "drift", "dev", check=False)
    assert unreachable.returncode == 1 and "cannot connect" in json.loads(unreachable.stdout)[0]["error"]


def test_status_shows_the_drift_of_the_last_run(project: PulumiProject, emulator: Emulator) -> None:
    """The board reads the last drift run's result (a stack tag in the backend) without checking again: when,
    the verdict and what changed, by name only (no secret value)."""
    project.up("dev")
    assert json.loads(cli(project, "status", "--stack", "dev").stdout)[0]["drift"] is None
    out = project.outputs("dev")
    for case in ("variable changed", "secret changed"):
        CASES[case][0](emulator, out)
    assert cli(project, "drift", "dev", check=False).returncode == 2
    emulator.reset_stats()
    shown = cli(project, "status", "--stack", "dev")
    drift = json.loads(shown.stdout)[0]["drift"]
    assert emulator.stats()["total"] <= 1, "no drift check: at most the deployment read"
    assert drift["status"] == "drifted" and drift["at"].endswith("Z"), drift
    assert "dev-web.variables.LOG_LEVEL" in drift["changed"], drift
    assert any("JWT_SECRET" in c or "secret" in c for c in drift["changed"]), drift
    text = cli(project, "status", "--stack", "dev").stdout + project.run("stack", "tag", "ls", stack="dev").stdout
    assert "stolen-and-replaced" not in text + shown.stdout
    cli(project, "drift", "dev", "--fix")
    assert json.loads(cli(project, "status", "--stack", "dev").stdout)[0]["drift"]["status"] == "fixed"


def test_the_board_says_a_drift_check_predates_the_last_update(project: PulumiProject, emulator: Emulator) -> None:
    """adv24 B1: a drift whose read ended before an `up` took the lock saw the file's new memory not yet made,
    and its "drifted" stayed on the board after the up made it. The board marks a check older than the stack's
    last update; the next check clears the mark."""
    project.up("dev")
    path = project.dir / "Pulumi.dev.yaml"
    path.write_text(path.read_text().replace("memory: 512MB", "memory: 640MB", 1))
    assert cli(project, "drift", "dev", check=False).returncode == 2  # the file's change, not made yet
    checked = json.loads(cli(project, "status", "--stack", "dev").stdout)[0]["drift"]
    assert checked["status"] == "drifted" and "updated_after" not in checked, checked
    cli(project, "up", "dev")
    after = json.loads(cli(project, "status", "--stack", "dev").stdout)[0]["drift"]
    assert after["status"] == "drifted" and after["updated_after"] > after["at"], after
    assert cli(project, "drift", "dev", check=False).returncode == 0
    again = json.loads(cli(project, "status", "--stack", "dev").stdout)[0]["drift"]
    assert again["status"] == "clean" and "updated_after" not in again, again


def test_database_and_shared_variables_changed_out_of_band_are_listed_by_name(project: PulumiProject,
                                                                               emulator: Emulator) -> None:
    """adv14c B5: the Postgres service's password changed, a variable added to it and a new shared variable went
    unreported. Now each is listed by name with fingerprints (never a value: grep of every format), from the one
    environment read drift already makes; the stack's own marker (ACS_INFRA_OWNER) is not drift."""
    project.up("dev")
    out = project.outputs("dev")
    pg = next(s["id"] for s in emulator.inventory()["services"] if s["name"] == "Postgres")  # dev's only project
    planted = {"POSTGRES_PASSWORD": "LEAKME-pgpass-1111", "PGPASSWORD": "LEAKME-pgpass-2222",
               "EVIL_TOKEN": "LEAKME-evil-3333"}
    scope = {"projectId": out["projectId"], "environmentId": out["environmentId"], "skipDeploys": True}
    for name, value in planted.items():
        emulator.data("mutation($i:VariableUpsertInput!){ variableUpsert(input:$i) }",
                      i={**scope, "serviceId": pg, "name": name, "value": value})
    emulator.data("mutation($i:VariableUpsertInput!){ variableUpsert(input:$i) }",
                  i={**scope, "name": "SHARED_TOKEN", "value": "LEAKME-shared-5555"})
    # B4 in the same world: a literal URL pasted over the declared reference ${{Postgres.DATABASE_URL}}
    _variable("DATABASE_URL", "postgresql://postgres:LEAKME-dburl-4444@x:5432/db")(emulator, out)
    emulator.reset_stats()
    found = cli(project, "drift", "dev", check=False)
    assert emulator.stats()["by_operation"] == {"EnvironmentSnapshot": 1, "ProjectSnapshot": 1}
    reports = [found.stdout + found.stderr, project_text(project, "dev"), project_text(project, "dev", "--markdown")]
    for text in reports:
        assert "LEAKME" not in text, text
        for name in [*planted, "SHARED_TOKEN", "DATABASE_URL"]:
            assert name in text, (name, text)
        assert "ACS_INFRA_OWNER" not in text, text
    resources = {r["resource"]: r for r in json.loads(found.stdout)[0]["resources"]}
    assert found.returncode == 2 and "dev-postgres" in resources, resources
    assert "variables.POSTGRES_PASSWORD" in [f["field"] for f in resources["dev-postgres"]["fields"]]
    fixed = cli(project, "drift", "dev", "--fix", check=False)  # the web variable is restored, the rest stays
    assert fixed.returncode == 2 and "LEAKME" not in fixed.stdout + fixed.stderr, fixed.stdout + fixed.stderr
    left = {r["resource"] for r in json.loads(fixed.stdout)[0]["remaining"]}
    assert left == {"dev-postgres", "shared variables"}, left
