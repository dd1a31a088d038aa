"""`acs-infra drift pr-<N>` through the real CLI and the emulator: a preview's drift is shown field by field like
dev's, by name and fingerprint (never a value), and its secrets are compared like dev's (adversarial report 15,
B4 and B5), in the one call the check costs."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_pr_previews import cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def preview(project: PulumiProject) -> dict[str, Any]:
    project.up("dev")
    cli(project, "pr", "up", "48")
    return project.outputs("pr-48")


def upsert(emulator: Emulator, out: dict[str, Any], name: str, value: str) -> None:
    """A variable written by hand on the preview's web service (as in the report)."""
    emulator.data("mutation($i:VariableUpsertInput!){ variableUpsert(input:$i) }",
                  i={"projectId": out["projectId"], "environmentId": out["environmentId"],
                     "serviceId": out["serviceIds"]["web"], "name": name, "value": value, "skipDeploys": True})


def drift_outputs(project: PulumiProject) -> list[subprocess.CompletedProcess[str]]:
    """Every rendering of `drift pr-48` (--json, text, --markdown), stdout and stderr kept."""
    runs = [cli(project, "drift", "pr-48", check=False)]
    for fmt in ((), ("--markdown",)):
        runs.append(subprocess.run([sys.executable, "-m", "infra", "--project-dir", str(project.dir), "drift",
                                    "pr-48", *fmt], env=project.env, capture_output=True, text=True,
                                   timeout=600))
    return runs


def assert_never_shown(runs: list[subprocess.CompletedProcess[str]], value: str) -> None:
    for proc in runs:
        assert value not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def bare(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:8]


def hidden(shown: str | None, value: str) -> bool:
    """A keyed fingerprint of the value: never the value, nor a bare hash a reader could test guesses against."""
    return bool(shown) and shown.startswith("[hidden hmac:") and value not in shown and bare(value) not in shown


def fields(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    (report,) = json.loads(proc.stdout)
    return {f"{r['resource']}.{f['field']}": f for r in report["resources"] for f in r["fields"]}


def test_a_variable_added_by_hand_to_a_preview_is_shown_by_name_and_fingerprint(
        project: PulumiProject, emulator: Emulator, preview: dict[str, Any]) -> None:
    """B4: the preview's drift printed the shape's whole live `services` dict, the hand-made token's value in it
    (text and --json). Now per field, like dev's: the name and a fingerprint of the value."""
    upsert(emulator, preview, "HANDMADE_TOKEN", "hm_SECRET_VALUE_9999")
    upsert(emulator, preview, "LOG_LEVEL", "warn")  # declared plain: its values are shown, like dev's
    emulator.reset_stats()
    runs = drift_outputs(project)
    assert [p.returncode for p in runs] == [2, 2, 2], [p.stdout + p.stderr for p in runs]
    assert emulator.stats()["by_operation"] == {"EnvironmentSnapshot": 3}, "one call per check"
    assert_never_shown(runs, "hm_SECRET_VALUE_9999")
    found = fields(runs[0])
    token = found["pr-48-shape.services.web.variables.HANDMADE_TOKEN"]
    assert token["declared"] is None and hidden(token["live"], "hm_SECRET_VALUE_9999"), found
    assert found["pr-48-shape.services.web.variables.LOG_LEVEL"]["live"] == "warn", found
    text = runs[1].stdout
    assert "services.web.variables.HANDMADE_TOKEN: declared (absent), live [hidden hmac:" in text, text
    assert bare("hm_SECRET_VALUE_9999") not in text, "a bare hash lets a reader test guesses (adv15b N3)"
    assert "'variables'" not in text, "no whole dict of the live shape"


def test_a_preview_secret_overwritten_by_hand_is_reported_by_fingerprint(
        project: PulumiProject, emulator: Emulator, preview: dict[str, Any]) -> None:
    """B5: with only the preview's JWT_SECRET overwritten, `drift pr-48` reported clean. Now it reports it like
    dev's (`secrets.JWT_SECRET: declared [hidden ...], live [hidden ...]`), and --fix restores it."""
    declared = project.outputs("pr-48", secrets=True)["previewSecrets"]["JWT_SECRET"]
    upsert(emulator, preview, "JWT_SECRET", "overwritten_JWT_VALUE_1234")
    emulator.reset_stats()
    runs = drift_outputs(project)
    assert [p.returncode for p in runs] == [2, 2, 2], [p.stdout + p.stderr for p in runs]
    assert emulator.stats()["by_operation"] == {"EnvironmentSnapshot": 3}, "one call per check"
    for value in ("overwritten_JWT_VALUE_1234", declared):
        assert_never_shown(runs, value)
    jwt = fields(runs[0])["pr-48-shape.secrets.JWT_SECRET"]
    assert hidden(jwt["declared"], declared) and hidden(jwt["live"], "overwritten_JWT_VALUE_1234"), jwt
    assert jwt["declared"] != jwt["live"]
    assert "secrets.JWT_SECRET: declared [hidden hmac:" in runs[1].stdout, runs[1].stdout
    fixed = cli(project, "drift", "pr-48", "--fix", check=False)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert_never_shown([fixed], "overwritten_JWT_VALUE_1234")
    assert cli(project, "drift", "pr-48", check=False).returncode == 0
