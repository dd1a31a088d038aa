"""Adversarial pass on issue 16 (B8, B9): a release's input is checked before any engine or API call, and the
release commands take the lock wait `up` takes."""
from __future__ import annotations

import json

import pytest

from infra import versions
from infra.config import ConfigError
from infra.ops import automation as ops
from infra.ops.cli import main

D4 = "ghcr.io/acs-team/acs@sha256:" + "d4" * 32


class ReachedTheEngine(Exception):
    """Raised where the command would start its first engine run or API call."""


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.ops import promotion, release

    def stop(*_: object, **__: object) -> None:
        raise ReachedTheEngine(ops.lock_timeout())
    for module, name in ((release, "deploy"), (ops, "up"), (promotion, "plan"), (ops, "ensure_budget")):
        monkeypatch.setattr(module, name, stop)


@pytest.mark.parametrize("argv", [["deploy", "prod", "--image", ""], ["deploy", "prod", "--image", "  "],
                                  ["deploy", "prod", "--image", "", "--commit", "1234567"],
                                  ["pr", "up", "8", "--image", ""], ["pr", "up", "8", "--image", " "]])
def test_an_empty_image_is_refused_not_taken_as_no_image(argv: list[str], no_engine: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """B8: `deploy prod --image ""` redeployed the running image and recorded it as a healthy release of the given
    commit; `pr up 8 --image ""` kept the moving tag. Refused like `--commit ''`, naming the pinned forms."""
    assert main(["--json", *argv]) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error.startswith("--image") and "@sha256:" in error and "commit-SHA tag" in error, error


def test_an_image_recorded_from_one_commit_is_not_credited_to_another() -> None:
    """B8 addendum: D4 released from 4444444, then `deploy --image D4 --commit 7654321` rewrote the provenance."""
    records = [{"image": D4, "commit": "4444444", "outcome": "healthy"}]
    with pytest.raises(ConfigError) as err:
        versions.check_provenance(records, {"image": D4, "commit": "4444444"}, D4, "7654321")
    assert "4444444" in str(err.value) and "7654321" in str(err.value) and "--commit" in str(err.value)
    with pytest.raises(ConfigError):  # an older record counts too (prod moved on since)
        versions.check_provenance(records, {"image": "other@sha256:" + "e" * 64, "commit": "5555555"}, D4, "7654321")
    versions.check_provenance(records, {"image": D4, "commit": "4444444"}, D4, "4444444")
    versions.check_provenance(records, {"image": D4, "commit": "4444444"}, D4, "4444444" + "0" * 33)  # full SHA
    versions.check_provenance(records, {"image": D4, "commit": "4444444"}, D4, None)
    versions.check_provenance(records, {}, "ghcr.io/acs-team/acs@sha256:" + "f" * 64, "7654321")  # a new image


@pytest.mark.parametrize("argv", [["deploy", "dev", "--image", D4], ["promote", "dev", "prod"], ["rollback", "prod"]])
def test_release_commands_take_a_lock_timeout(argv: list[str], no_engine: None) -> None:
    """B9: the README says `deploy` waits for a locked stack with `--lock-timeout` (exit 3 when it runs out);
    `deploy`, `promote`, `rollback` had no such option. Every engine run of the command waits that long."""
    with pytest.raises(ReachedTheEngine) as reached:
        main([*argv, "--lock-timeout", "5"])
    assert reached.value.args == (5.0,)
    assert ops.lock_timeout() == 600, "the default comes back after the command"


def test_a_failed_release_under_monitor_still_puts_its_report_on_stdout(monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """B11: `--json deploy prod --monitor 30m` (the deploy workflow) gave stdout to the monitor's document and the
    release's report to stderr; when the release failed the monitor never ran, and `result.json` was empty, so the
    post-mortem had no error to show. (The release itself is replaced here: only the CLI's output is tested.)"""
    from infra.ops import release
    failed = release.DeployReport("prod", healthy=False, error="unhealthy after 2s: answered 503", image=D4)
    monkeypatch.setattr(release, "deploy", lambda *_, **__: failed)
    assert main(["--json", "deploy", "prod", "--image", D4, "--monitor", "30m"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "unhealthy after 2s: answered 503"


@pytest.mark.parametrize("argv", [["rollback", "prod", "--lock-timeout", "-5"],
                                  ["deploy", "prod", "--image", D4, "--health-timeout", "-1"],
                                  ["promote", "dev", "prod", "--health-timeout", "-1"], ["up", "dev", "--lock-timeout", "-1"],
                                  ["promote", "dev", "dev"]])
def test_impossible_waits_and_a_self_promotion_are_refused(argv: list[str], no_engine: None,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """adv16b N7: a negative lock or health timeout was taken (a rollback ran; a release was called healthy
    without a probe), and `promote dev dev` deployed dev onto itself. Refused before any engine run."""
    assert main(argv) in (1, 2)
    said = capsys.readouterr()
    assert "Traceback" not in said.out + said.err and ("-" in said.err or "same stack" in said.err), said


def test_the_commit_of_an_image_is_resolved_from_its_records() -> None:
    """adv16b N4, N7: the full SHA of the commit an image was recorded with is the same commit, recorded in the form
    already there (a re-release then writes nothing); without --commit, the recorded commit is the image's."""
    records = [{"image": D4, "commit": "4444444", "outcome": "healthy"}]
    assert versions.resolve_commit(D4, "4444444" + "0" * 33, records) == "4444444"
    assert versions.resolve_commit(D4, None, records) == "4444444"
    assert versions.resolve_commit(D4, "7654321", []) == "7654321"
    assert versions.resolve_commit("ghcr.io/acs-team/acs:1a2b3c4", None, []) == "1a2b3c4"
