"""Drift in the fewest calls: one read per environment and one per project, measured on the emulator's counters.
The backup schedules of the stack's volume instances come in the environment's request (aliased root fields), and
the secret comparison uses the keyed fingerprints the services' reads publish from that same snapshot."""
from __future__ import annotations

import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_pr_previews import cli, result

pytestmark = pytest.mark.e2e


def test_drift_dev_prod_reads_each_environment_once(project: PulumiProject, emulator: Emulator) -> None:
    project.up("dev")
    project.up("prod")
    emulator.reset_stats()
    checked = cli(project, "drift", "dev", "prod")
    assert [(r["stack"], r["drifted"]) for r in result(checked)] == [("dev", False), ("prod", False)]
    calls = emulator.stats()["by_operation"]
    assert calls == {"EnvironmentSnapshot": 2, "ProjectSnapshot": 2}, calls  # was 7: + BackupScheduleList, 2 ServiceState

    # The one read still sees what changed out of band, including objects nobody declared.
    web = project.outputs("dev")
    emulator.data("mutation($p:String!,$e:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, "
                  "name:\"redis\", source:{image:\"redis:7\"}}){ id } }", p=web["projectId"], e=web["environmentId"])
    emulator.reset_stats()
    found = result(cli(project, "drift", "dev", check=False))[0]
    assert [(r["resource"], r["kind"]) for r in found["resources"]] == [("service redis", "unmanaged")]
    assert emulator.stats()["by_operation"] == {"EnvironmentSnapshot": 1, "ProjectSnapshot": 1}


def test_drift_of_a_preview_reads_its_fork_once(project: PulumiProject, emulator: Emulator) -> None:
    """A preview's fork, its shape and its domain answer from one snapshot of the fork (was 4 calls each)."""
    project.up("dev")
    cli(project, "pr", "up", "5")
    emulator.reset_stats()
    checked = result(cli(project, "drift", "pr-5"))
    assert [(r["stack"], r["drifted"]) for r in checked] == [("pr-5", False)]
    calls = emulator.stats()["by_operation"]
    assert calls == {"EnvironmentSnapshot": 1}, calls

    out = project.outputs("pr-5")
    emulator.data("mutation($i:VariableUpsertInput!){ variableUpsert(input:$i) }",
                  i={"projectId": out["projectId"], "environmentId": out["environmentId"],
                     "serviceId": out["serviceIds"]["web"], "name": "LOG_LEVEL", "value": "warn", "skipDeploys": True})
    found = result(cli(project, "drift", "pr-5", check=False))[0]
    assert found["drifted"] and "LOG_LEVEL" in str(found["resources"]), found
