"""Issue 14 items 7, 8, 10, 11: bad stack input is refused by the config model, naming the key and what is allowed."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from infra.config import (ConfigError, check_secret_storage, check_stack_name, check_unique_subdomain,
                          parse_environment, parse_pr_number, parse_pr_numbers, preflight)

ROOT = Path(__file__).resolve().parents[2]


def dev() -> dict:
    return copy.deepcopy(yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]["acs:environment"])


def refused(raw: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_environment(raw)
    return str(err.value)


def test_secret_given_as_plain_config_is_refused() -> None:
    """Issue 14 item 7: a declared secret set without `--secret` (plain text in the stack file) is refused, naming
    the key and how to set it, and the value never appears in the message."""
    with pytest.raises(ConfigError) as err:
        check_secret_storage(["API_KEY", "JWT_SECRET"], present={"API_KEY", "JWT_SECRET"}, secret_keys={"API_KEY"})
    message = str(err.value)
    assert "acs:JWT_SECRET" in message and "pulumi config set --secret acs:JWT_SECRET" in message
    assert "acs:API_KEY" not in message
    check_secret_storage(["API_KEY"], present={"API_KEY"}, secret_keys={"API_KEY"})  # encrypted: fine


def test_plain_secret_in_the_stack_file_is_refused_before_a_stack_exists(tmp_path: Path) -> None:
    """Issue 14 item 7: the same check on the stack file itself, before any stack is created."""
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace(
        "  acs:JWT_SECRET:\n    secure: ", "  acs:JWT_SECRET: plaintext-jwt\n  acs:UNUSED_OLD:\n    secure: ")
    (tmp_path / "Pulumi.yaml").write_text("name: acs\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        preflight("dev", tmp_path)
    assert "acs:JWT_SECRET" in str(err.value) and "plaintext-jwt" not in str(err.value)


@pytest.mark.parametrize("where,value", [
    ("env", "${{Other.VAR}}"),
    ("service", "https://${{api.RAILWAY_PUBLIC_DOMAIN}}/v1"),
    ("env", "${{Postgres.DATABASE_URL}}"),  # dev with sqlite has no Postgres service
])
def test_reference_to_an_undeclared_service_is_refused(where: str, value: str) -> None:
    """Issue 14 item 8: `${{Other.VAR}}` naming a service the environment does not declare renders empty on
    Railway; it is refused, naming the key, the service and what may be referenced."""
    raw = dev()
    if value.startswith("${{Postgres"):
        raw["database"] = {"kind": "sqlite"}
    target = raw["variables"] if where == "env" else raw["services"][0].setdefault("variables", {})
    target["UPSTREAM"] = value
    message = refused(raw)
    key = "acs:environment.variables.UPSTREAM" if where == "env" else "acs:environment.services[0].variables.UPSTREAM"
    assert key in message and "does not declare" in message and "shared." in message


@pytest.mark.parametrize("value", ["${{shared.API_HOST}}", "${{PORT}}", "${{RAILWAY_PUBLIC_DOMAIN}}",
                                   "${{web.RAILWAY_PRIVATE_DOMAIN}}", "${{ Postgres.DATABASE_URL }}", "plain ${x}"])
def test_allowed_references(value: str) -> None:
    """Issue 14 item 8: shared variables, the same service's variables, Railway-provided names and declared
    services (the Postgres database included) stay allowed."""
    raw = dev()
    raw["variables"]["UPSTREAM"] = value
    assert parse_environment(raw).variables["UPSTREAM"] == value


@pytest.mark.parametrize("stack", ["pr-99999999", "pr-0", "pr-007", "pr-1; rm -rf /", "pr-", "pr-x", "../prod",
                                   "Dev Stack", ""])
def test_stack_names_outside_the_one_rule_are_refused(stack: str) -> None:
    """Issue 14 item 10: one rule for stack names and PR numbers (1 to 9,999,999, no leading zero)."""
    with pytest.raises(ConfigError) as err:
        check_stack_name(stack)
    assert repr(stack) in str(err.value)


@pytest.mark.parametrize("stack", ["dev", "prod", "staging", "pr-1", "pr-42", "pr-9999999"])
def test_good_stack_names(stack: str) -> None:
    check_stack_name(stack)


@pytest.mark.parametrize("text", ["0", "007", "99999999", "-1", "a", "1.5", " ", "1e3"])
def test_bad_pr_numbers(text: str) -> None:
    """Issue 14 item 10: `pr up 0` and friends are refused with the rule, by the same parser every command uses."""
    with pytest.raises(ConfigError, match="1 to 9999999"):
        parse_pr_number(text)


def test_pr_number_lists() -> None:
    """Issue 14 items 10 and 12: `pr gc --open 1,a` names the bad entry instead of a traceback."""
    assert parse_pr_numbers("1, 2,9999999", "--open") == {1, 2, 9999999}
    assert parse_pr_numbers("none", "--open") == set()
    with pytest.raises(ConfigError, match=r"--open: 'a'.*1 to 9999999"):
        parse_pr_numbers("1,a", "--open")


@pytest.mark.parametrize("text", ["", " ", ",", " , "])
def test_an_empty_open_list_is_not_no_open_prs(text: str) -> None:
    """Adversarial pass on issue 14: `pr gc --open ''` (a failed `gh pr list` in a script) treated every preview
    as closed and would delete them all. "No PR is open" must be said explicitly: `--open none`."""
    with pytest.raises(ConfigError, match="--open none"):
        parse_pr_numbers(text, "--open")


@pytest.mark.parametrize("path,value,key", [
    (["services", 0, "replicas"], True, "acs:environment.services[0].replicas"),
    (["services", 0, "public"], "yes", "acs:environment.services[0].public"),
    (["services", 0, "startCommand"], "", "acs:environment.services[0].startCommand"),
    (["services", 0, "startCommand"], "   ", "acs:environment.services[0].startCommand"),
    (["services", 0, "preDeployCommand"], "", "acs:environment.services[0].preDeployCommand"),
    (["services", 0, "vcpu"], True, "acs:environment.services[0].vcpu"),
    (["services", 0, "port"], "3000", "acs:environment.services[0].port"),
    (["services", 0, "healthcheck", "timeoutSeconds"], False, "acs:environment.services[0].healthcheck.timeoutSeconds"),
    (["protect"], "no", "acs:environment.protect"),
    (["project"], {"id": "-" * 36}, "acs:environment.project"),
    (["project"], {"id": "ZZZZZZZZ-0000-4000-8000-000000000001"}, "acs:environment.project"),
])
def test_loose_values_are_refused(path: list, value: object, key: str) -> None:
    """Issue 14 item 11: values pydantic would coerce (true -> 1, 'yes' -> True), empty commands and an id of
    36 dashes are refused, naming the key."""
    raw = dev()
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert key in refused(raw)


def test_project_id_must_be_a_uuid() -> None:
    raw = dev()
    raw["project"] = {"id": "4f2c1f0e-0000-4000-8000-000000000001"}
    assert parse_environment(raw).project.id == "4f2c1f0e-0000-4000-8000-000000000001"


def test_subdomain_of_another_stack_is_refused() -> None:
    """Issue 14 item 11: dev using prod's subdomain `kars` would take prod's address (or fail midway on Railway's
    global uniqueness); refused before any API call, naming the key and the stack that holds it."""
    raw = dev()
    raw["domain"]["subdomain"] = "kars"
    with pytest.raises(ConfigError) as err:
        check_unique_subdomain("dev", parse_environment(raw), ROOT)
    assert "acs:environment.domain.subdomain" in str(err.value) and "prod" in str(err.value)
    raw["domain"]["subdomain"] = "acs-pr-12"  # the PR previews' names are reserved too
    with pytest.raises(ConfigError, match="acs-pr-"):
        check_unique_subdomain("dev", parse_environment(raw), ROOT)
    check_unique_subdomain("dev", parse_environment(dev()), ROOT)


@pytest.mark.parametrize("text", ["", "config:\n", "config: {}\n", "config:\n  acs:other: 1\n"])
def test_empty_stack_file_is_refused_before_a_stack_exists(tmp_path: Path, text: str) -> None:
    """Issue 14 item 9: an empty stack file (or one without acs:environment) gets a clear error from the
    preflight, which runs before the stack is created."""
    (tmp_path / "Pulumi.yaml").write_text("name: acs\n")
    (tmp_path / "Pulumi.staging.yaml").write_text(text)
    with pytest.raises(ConfigError, match="acs:environment: missing"):
        preflight("staging", tmp_path)


def test_missing_stack_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: acs\n")
    with pytest.raises(ConfigError, match="Pulumi.staging.yaml"):
        preflight("staging", tmp_path)
