"""Adversarial pass on issue 16 (B11): the deploy workflow's post-mortem. It showed `history | .releases[-1]` as
"what failed" even when the release was refused before it wrote a record (bad image, lock timeout, budget): the
previous release. The release and post-mortem steps of `.github/workflows/deploy.yml` are run here as GitHub runs
them (bash -eo pipefail), in a scratch directory; `acs-infra` is a script that answers as the real command does
(a refusal: `{"error": ...}` on stdout, exit 1; `history`: the stack's records), so the steps' own logic is tested."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/acs-team/acs@sha256:" + "e" * 64
OLD = {"id": "0ld0ld0ld0ld", "kind": "release", "image": "ghcr.io/acs-team/acs@sha256:" + "a" * 64,
       "commit": "1111111", "outcome": "healthy"}
NEW = {"id": "n3wn3wn3wn3w", "kind": "release", "image": IMAGE, "commit": "2222222", "outcome": "rolled back",
       "reason": "unhealthy after 120s: kars.up.railway.app/health answered 503"}

FAKE_CLI = """#!/bin/bash
# acs-infra as the release step meets it: $DEPLOY_ANSWER says how `deploy` ends
args="$*"
case "$args" in
  *" history "*) cat "$WORK/history.json" ;;
  *" deploy "*)
    if [ "$DEPLOY_ANSWER" = refused ]; then
      echo '{"error": "another run holds stack prod (ci@runner-7, pid 42); waited 600s (timeout 600s)"}'
    else
      jq '.releases |= (if any(.[]; .id == $new.id) then map(if .id == $new.id then $new else . end) else . + [$new] end)' \
        --argjson new "$NEW_RECORD" "$WORK/history.json" > "$WORK/h" && mv "$WORK/h" "$WORK/history.json"
      echo "{\\"error\\": \\"unhealthy after 120s: kars.up.railway.app/health answered 503\\", \\"release\\": $NEW_RECORD}"
    fi
    exit 1 ;;
  *" status "*) echo "| stack | image |" ;;
esac
"""


def steps() -> dict[str, str]:
    job = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())["jobs"]["deploy"]
    return {s.get("name") or s.get("id", ""): s.get("run", "") for s in job["steps"]}


def run_release(tmp_path: Path, answer: str, before: list[dict] | None = None) -> str:
    """The release step (fails), then the post-mortem step (`if: failure()`); returns the step summary."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts/env.sh").write_text("")
    (tmp_path / "bin").mkdir()
    cli = tmp_path / "bin/acs-infra"
    cli.write_text(FAKE_CLI)
    cli.chmod(0o755)
    (tmp_path / "history.json").write_text(json.dumps({"stack": "prod", "releases": before or [OLD]}))
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "WORK": str(tmp_path), "STACK": "prod",
           "IMAGE": IMAGE, "GITHUB_SHA": "2222222" + "0" * 33, "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
           "DEPLOY_ANSWER": answer, "NEW_RECORD": json.dumps(NEW)}
    bash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
    release = subprocess.run([*bash, steps()["release"]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert release.returncode == 1, release.stderr
    post = subprocess.run([*bash, steps()["post-mortem"]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert post.returncode == 0, post.stderr
    return (tmp_path / "summary.md").read_text()


def test_a_refused_release_shows_its_error_not_the_previous_record(tmp_path: Path) -> None:
    summary = run_release(tmp_path, "refused")
    assert "another run holds stack prod" in summary, summary
    assert OLD["id"] not in summary and "1111111" not in summary, "the previous release is not what failed"
    assert "no release record" in summary.lower(), summary


def test_a_failed_release_shows_its_error_and_its_own_record(tmp_path: Path) -> None:
    summary = run_release(tmp_path, "unhealthy")
    assert "answered 503" in summary and NEW["id"] in summary and '"rolled back"' in summary, summary
    assert OLD["id"] not in summary, summary


def test_a_rerun_of_a_killed_release_shows_the_record_it_closed(tmp_path: Path) -> None:
    """adv16b N2: the re-run takes over the killed run's `in progress` record (same id, already in the records
    read before): the post-mortem said "refused before it changed anything" for a release that deployed and
    rolled back. A record counts as this release's when its id or its outcome is new."""
    killed = dict(NEW, outcome="in progress", reason=None)
    summary = run_release(tmp_path, "unhealthy", before=[OLD, killed])
    assert "answered 503" in summary and NEW["id"] in summary and '"rolled back"' in summary, summary
    assert "no release record" not in summary.lower(), summary
