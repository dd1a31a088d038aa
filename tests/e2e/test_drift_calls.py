"""Drift in the fewest calls: one read per environment and one per project, measured on the emulator's counters.
Still on top: one per backed-up volume (Railway serves backup schedules only per volume instance) and one per
service holding secrets (the secret comparison reads live values outside the engine, whose view is masked)."""
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
    assert calls == {"EnvironmentSnapshot": 2, "ProjectSnapshot": 2, "BackupScheduleList": 1, "ServiceState": 2}, calls

    # The one read still sees what changed out of band, including objects nobody declared.
    web = project.outputs("dev")
    emulator.data("mutation($p:String!,$e:String!){ serviceCreate(input:{projectId:$p, environmentId:$e, "
                  "name:\"redis\", source:{image:\"redis:7\"}}){ id } }", p=web["projectId"], e=web["environmentId"])
    emulator.reset_stats()
    found = result(cli(project, "drift", "dev", check=False))[0]
    assert [(r["resource"], r["kind"]) for r in found["resources"]] == [("service redis", "unmanaged")]
    assert emulator.stats()["by_operation"] == {"EnvironmentSnapshot": 1, "ProjectSnapshot": 1, "ServiceState": 1}
