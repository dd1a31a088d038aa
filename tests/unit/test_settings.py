"""adv27: settings, endpoint, token, project and stack-file values a user can get wrong, each named in one line
before any API call: never a traceback, never a credential repeated back."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infra.config import ConfigError
from infra.ops.cli import main
from infra.railway import client_from_env
from infra.railway.errors import SettingError

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ["ACS_RAILWAY_MAX_WAIT", "ACS_RAILWAY_RPS", "ACS_RAILWAY_TIMEOUT", "ACS_ENGINE_GRACE_SECONDS"]


@pytest.mark.parametrize("value", ["1_0", "١٠", "１０", "٣"])
@pytest.mark.parametrize("name", SETTINGS)
def test_a_setting_is_an_ascii_number(name: str, value: str, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """B8: `float()` read underscores, Arabic-Indic and full-width digits."""
    monkeypatch.setenv(name, value)
    assert main(["--json", "status"]) == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith(f"{name}={value!r} is not allowed"), name


@pytest.mark.parametrize("value", ["1e-300", "5e-324", "0.05"])
def test_a_timeout_too_short_for_any_answer_is_refused(value: str, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """B8: ACS_RAILWAY_TIMEOUT=1e-300 was "above 0" and timed every request out at once."""
    monkeypatch.setenv("ACS_RAILWAY_TIMEOUT", value)
    assert main(["status"]) == 1
    assert "ACS_RAILWAY_TIMEOUT" in capsys.readouterr().err


def test_an_empty_setting_is_its_default_and_spaces_around_one_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.railway.settings import env_settings
    assert env_settings({"ACS_RAILWAY_RPS": "", "ACS_RAILWAY_TIMEOUT": " 5\n"}) == {"timeout": 5.0}


@pytest.mark.parametrize("args", [["--help"], ["--json", "--help"], []])
def test_top_level_help_names_a_bad_setting_too(args: list[str], capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """B9: `acs-infra --help` ran no callback, so a bad setting passed there while `status --help` named it."""
    monkeypatch.setenv("ACS_RAILWAY_RPS", "nan")
    assert main(args) == 1
    said = capsys.readouterr()
    assert "ACS_RAILWAY_RPS='nan' is not allowed" in said.out + said.err, said
    if args[:1] == ["--json"]:
        assert json.loads(said.out)["error"].startswith("ACS_RAILWAY_RPS")


@pytest.mark.parametrize("url", ["ftp://x", "not a url", "http://[::1", "http://", "http://host:port/graphql"])
def test_a_bad_api_url_is_one_line(url: str, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """B6: an httpx traceback (UnsupportedProtocol, InvalidURL)."""
    monkeypatch.setenv("RAILWAY_API_URL", url)
    assert main(["--json", "status"]) == 1
    said = capsys.readouterr()
    assert json.loads(said.out)["error"].startswith("RAILWAY_API_URL=") and "Traceback" not in said.err, said
    with pytest.raises(SettingError, match="RAILWAY_API_URL"):
        client_from_env({"RAILWAY_API_URL": url, "RAILWAY_API_TOKEN": "t"})


@pytest.mark.parametrize("name", ["RAILWAY_API_TOKEN", "RAILWAY_TOKEN"])
@pytest.mark.parametrize("token", ["SECRETTOKé", "SECRET TOK", "SECRET\u00a0TOK", "SECRETTOK\n"])
def test_a_token_that_cannot_be_a_header_is_named_not_shown(name: str, token: str, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """B5: a pasted smart quote or no-break space ended in a UnicodeEncodeError traceback from httpx."""
    monkeypatch.delenv("RAILWAY_API_TOKEN", raising=False)
    monkeypatch.setenv(name, token)
    assert main(["--json", "status"]) == 1
    said = capsys.readouterr()
    error = json.loads(said.out)["error"]
    assert error.startswith(name) and "SECRET" not in said.out + said.err and "Traceback" not in said.err, said
    with pytest.raises(SettingError, match=name):
        client_from_env({name: token})


def test_credentials_in_the_api_url_are_never_repeated() -> None:
    """B7: `cannot connect to http://user:HUNTER2PASS@...` and `?token=HUNTER2` reached the error."""
    from infra.railway import RailwayApiError
    for url in ("http://user:HUNTER2PASS@127.0.0.1:1/graphql/v2", "http://127.0.0.1:1/graphql/v2?token=HUNTER2"):
        client = client_from_env({"RAILWAY_API_URL": url, "RAILWAY_API_TOKEN": "t"}, max_elapsed=0.5)
        with pytest.raises(RailwayApiError) as caught:
            client.query("TokenProjects")
        assert "HUNTER2" not in str(caught.value) and "127.0.0.1:1/graphql/v2" in str(caught.value), caught.value


def other_project(where: Path, text: str = "name: other\nruntime: python\n", name: str = "Pulumi.yaml") -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_text(text)
    return where


@pytest.mark.parametrize("how", ["--project-dir", "ACS_PROJECT_DIR", "symlink"])
def test_another_project_is_refused_however_it_is_given(how: str, tmp_path, capsys,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """B2: only a project found from the current directory was checked; `--project-dir other` said "no stacks"
    and `up dev` went on to Railway's token check."""
    other = other_project(tmp_path / "other")
    (other / "Pulumi.dev.yaml").write_text((ROOT / "Pulumi.dev.yaml").read_text())
    monkeypatch.chdir(ROOT)
    given = tmp_path / "link" if how == "symlink" else other
    if how == "symlink":
        given.symlink_to(other)
    if how == "ACS_PROJECT_DIR":
        monkeypatch.setenv("ACS_PROJECT_DIR", str(given))
    args = ["--project-dir", str(given)] if how != "ACS_PROJECT_DIR" else []
    for command in (["status"], ["up", "dev"], ["destroy", "dev"]):
        assert main([*args, *command]) == 1, command
        assert "is the project 'other', not 'acs'" in capsys.readouterr().err, command


@pytest.mark.parametrize("name,text,said", [("Pulumi.yml", "name: other\n", "'other'"),
                                            ("Pulumi.json", '{"name": "other"}', "'other'"),
                                            ("Pulumi.yaml", "name: 'acs '\nruntime: python\n", "'acs '")])
def test_every_project_file_pulumi_reads_is_checked(name: str, text: str, said: str, tmp_path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """B14: a Pulumi.yml or Pulumi.json was skipped (the package's clone used instead), and `name: "acs "` taken
    for acs (pulumi takes it for another project: "no stacks")."""
    from infra.ops.automation import project_dir
    monkeypatch.delenv("ACS_PROJECT_DIR", raising=False)
    monkeypatch.chdir(other_project(tmp_path / "p", text, name))
    with pytest.raises(ConfigError, match=re.escape(f"is the project {said}, not 'acs'")):
        project_dir()
    assert project_dir(str(other_project(tmp_path / "acs", '{"name": "acs"}', "Pulumi.json"))) == tmp_path / "acs"


JWT = re.compile(r"  acs:JWT_SECRET:\n    secure: \S+\n")


@pytest.mark.parametrize("block,why", [
    ("  acs:JWT_SECRET:\n    secure: {good}\n    other: x\n", "holds keys beside `secure`"),
    ("  acs:JWT_SECRET:\n    secure: v1:AAAA:AAAA\n", "its secure value is not one Pulumi encrypted"),
    ("  acs:JWT_SECRET:\n    secure: v1:jSMwqrVzeP02siOa:AAAA\n", "its secure value is not one Pulumi encrypted"),
    ("  acs:JWT_SECRET:\n    secure: {unpadded}\n", "its secure value is not one Pulumi encrypted")],
    ids=["beside-other-keys", "short-nonce", "short-ciphertext", "unpadded"])
def test_a_secure_value_pulumi_could_not_decrypt_is_named(block: str, why: str, tmp_path, capsys,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """B10: `{secure: <ciphertext>, other: x}` is a plain object to Pulumi, so the secret was stored as plain text,
    unnamed. B11: a 3-byte nonce, a ciphertext shorter than its tag, or missing padding passed the shape check."""
    from infra.ops.cli import stacks
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    good = JWT.search(text).group(0).split("secure: ")[1].strip()
    block = block.format(good=good, unpadded=good.rstrip("="))
    (tmp_path / "Pulumi.yaml").write_text("name: acs\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(JWT.sub(block, text))
    monkeypatch.setattr(stacks, "_protected_resources", lambda stack: pytest.fail("the engine was called"))
    assert main(["--project-dir", str(tmp_path), "destroy", "dev"]) == 1
    err = capsys.readouterr().err
    assert f"acs:JWT_SECRET: {why}" in err and good not in err, err
