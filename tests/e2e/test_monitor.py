"""Monitored rollouts against the emulator's metrics, with a short window."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_pr_previews import cli
from tests.e2e.test_release import set_variable, web_id

pytestmark = pytest.mark.e2e
WINDOW = ["--window", "3s", "--interval", "1s"]


def rules(emulator: Emulator, project: PulumiProject, stack: str) -> list[dict]:
    pid = project.outputs(stack)["projectId"]
    ws = emulator.inventory()["projects"][0]["workspaceId"]
    return emulator.data("query($w:String!,$p:String){ notificationRules(workspaceId:$w, projectId:$p){ severities "
                         "ephemeralEnvironments eventTypes channels { config } } }", w=ws, p=pid)["notificationRules"]


def test_alert_rules_per_environment(project: PulumiProject, emulator: Emulator) -> None:
    project.up("dev")
    dev_rules = rules(emulator, project, "dev")
    assert [r["severities"] for r in dev_rules] == [["INFO"]] and dev_rules[0]["ephemeralEnvironments"] is False
    cli(project, "pr", "up", "4")
    assert len(emulator.inventory()["notification_rules"]) == 1, "PR previews add no alert rule"
    project.up("prod")
    prod_rules = rules(emulator, project, "prod")
    assert prod_rules[0]["severities"] == ["CRITICAL", "WARNING"]
    assert {c["config"]["type"] for c in prod_rules[0]["channels"]} == {"webhook", "email"}
    project.run("preview", "--expect-no-changes", "--refresh", stack="prod")


def test_healthy_rollout_passes(project: PulumiProject, emulator: Emulator, tmp_path: Path) -> None:
    cli(project, "deploy", "prod")
    report_path = tmp_path / "rollout.md"
    result = cli(project, "monitor", "prod", *WINDOW, "--report", str(report_path))
    summary = json.loads(result.stdout)
    assert summary["verdict"] == "stable" and summary["ticks"] == 3 and summary["rolled_back"] is None
    text = report_path.read_text()
    assert "Verdict: stable" in text and "| error rate | 1.00% |" in text and "![monitored series](rollout.svg)" in text
    assert report_path.with_suffix(".svg").read_text().startswith("<svg")


@pytest.mark.parametrize("behaviour,message", [
    ({"errorRate": 0.05}, "error rate 5."),
    ({"latencyMs": 3000}, "response time (p95) "),  # p95 jitters by 3% around 3000 ms
    ({"memoryPeak": 0.95, "creepSeconds": 1}, "memory 9"),
    ({"cpu": 0.95}, "CPU 9"),
])
def test_breach_rolls_back(behaviour: dict, message: str, project: PulumiProject, emulator: Emulator) -> None:
    cli(project, "deploy", "prod")
    good = json.loads(cli(project, "deploy", "prod").stdout)["deployments"]["web"]
    emulator.admin(f"/services/{web_id(project, 'prod')}/behaviour", behaviour)  # the next release misbehaves
    set_variable(project, "prod", "RELEASE", "2")
    result = cli(project, "deploy", "prod", "--monitor", "3s", "--monitor-interval", "1s", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["verdict"] == "breach" and summary["breach"]["message"].startswith(message), summary["breach"]
    assert summary["breach"]["observed"] > summary["breach"]["threshold"]
    assert message in result.stderr and "rolled back to " + good in result.stderr
    live = emulator.data("query($d:String!){ deployment(id:$d){ status meta } }",
                         d=summary["rolled_back"]["deployment"])["deployment"]
    assert live["status"] == "SUCCESS" and live["meta"]["rollbackFrom"] == good
    assert httpx.get(f"{emulator.base}/health", headers={"Host": "kars.up.railway.app"}).status_code == 200
