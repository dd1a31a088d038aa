"""Adversarial pass on issue 14 (B9): commands that only read other stacks, and refused commands, write nothing
into the clone; a stack without its file is refused in one line like `up`, before any API call."""
from __future__ import annotations

import json

import pytest

from tests.conftest import Emulator, PulumiProject
from tests.e2e.test_bad_input_cli import acs, no_traceback

pytestmark = pytest.mark.e2e


def test_reads_and_refusals_write_no_stack_file_of_another_stack(project: PulumiProject, emulator: Emulator) -> None:
    """B9: a stack whose file was removed (qa2: the stack stays, empty) got its `Pulumi.qa2.yaml` back, holding only
    an `encryptionsalt:` line, from `drift --all` (its engine preview), and `drift qa2 [--fix]` ended in "CHECK
    FAILED: an unhandled error occurred: Program exited with non-zero exit code: 1"."""
    project.up("prod")
    project.run("stack", "init", "qa2")  # an empty stack, as `destroy qa2` leaves it
    qa2 = project.dir / "Pulumi.qa2.yaml"
    qa2.unlink(missing_ok=True)
    files = sorted(p.name for p in project.dir.glob("Pulumi.*.yaml"))

    refused = acs(project, "destroy", "prod")
    assert refused.returncode == 1 and "prod holds protected data" in refused.stderr, refused.stderr
    assert sorted(p.name for p in project.dir.glob("Pulumi.*.yaml")) == files

    checked = acs(project, "--json", "drift", "--all")
    by_stack = {r["stack"]: r for r in json.loads(checked.stdout)}
    assert by_stack["prod"]["error"] is None and not by_stack["prod"]["drifted"], by_stack
    assert "no stack file Pulumi.qa2.yaml" in by_stack["qa2"]["error"], by_stack
    assert checked.returncode == 1 and not qa2.exists()

    for args in (("drift", "qa2"), ("drift", "qa2", "--fix"), ("drift", "prod", "qa2")):
        emulator.reset_stats()
        proc = acs(project, *args)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stderr.startswith("error: no stack file Pulumi.qa2.yaml in "), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        no_traceback(proc)
        assert emulator.stats()["total"] == 0, emulator.stats()
    assert sorted(p.name for p in project.dir.glob("Pulumi.*.yaml")) == files
