"""The real engine on this machine: pinned version, a Python dynamic provider, the local backend, no network."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, PulumiProject, program_project

PINNED = "v3.260.0"
pytestmark = pytest.mark.e2e


def test_pulumi_reports_pinned_version() -> None:
    out = subprocess.run(["pulumi", "version"], capture_output=True, text=True, check=True).stdout.strip()
    assert out == PINNED
    sdk = subprocess.run([str(ROOT / ".venv/bin/python"), "-c", "import importlib.metadata as m; print(m.version('pulumi'))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert "v" + sdk == PINNED, "the Python SDK must match the engine"


def _smoke_project(tmp_path: Path) -> PulumiProject:
    return program_project(tmp_path, ROOT / "tests/e2e/programs/smoke", "smoke", None)


def test_up_preview_destroy_with_dynamic_provider(tmp_path: Path) -> None:
    proj = _smoke_project(tmp_path)
    target = tmp_path / "greeting.txt"
    proj.run("stack", "init", "dev")
    proj.run("config", "set", "path", str(target), stack="dev")
    proj.run("up", "--yes", "--skip-preview", stack="dev")
    assert target.read_text() == "hello"
    assert proj.outputs("dev")["path"] == str(target)

    proj.run("preview", "--expect-no-changes", stack="dev")
    proj.run("config", "set", "content", "changed", stack="dev")
    changed = proj.run("preview", "--expect-no-changes", stack="dev", check=False)
    assert changed.returncode != 0 and "update" in changed.stdout
    proj.run("up", "--yes", "--skip-preview", stack="dev")
    assert target.read_text() == "changed"

    proj.run("destroy", "--yes", "--skip-preview", stack="dev")
    assert not target.exists()
    assert list((tmp_path / "state").rglob("*.json")), "the file backend holds the stack"


def test_pulumi_command_resource(tmp_path: Path) -> None:
    unavailable = [p for p in Path.home().glob(".cache/acs-infra/*/command-plugin-unavailable")]
    plugin = list(Path.home().glob(".cache/acs-infra/pulumi-home/plugins/resource-command-v1.2.1/pulumi-resource-command"))
    if not plugin:
        reason = unavailable[0].read_text().strip() if unavailable else "plugin not installed"
        pytest.skip(f"pulumi-command plugin unavailable on this machine: {reason}")
    proj = _smoke_project(tmp_path)
    proj.run("stack", "init", "dev")
    proj.run("config", "set", "path", str(tmp_path / "g.txt"), stack="dev")
    proj.run("up", "--yes", "--skip-preview", stack="dev", env={"SMOKE_WITH_COMMAND": "1"})
    assert proj.outputs("dev")["stdout"] == "from-command"
    proj.run("preview", "--expect-no-changes", stack="dev", env={"SMOKE_WITH_COMMAND": "1"})
    proj.run("destroy", "--yes", "--skip-preview", stack="dev", env={"SMOKE_WITH_COMMAND": "1"})
