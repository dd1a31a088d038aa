"""Issue 14 items 7, 8, 10, 11: bad stack input is refused by the config model, naming the key and what is allowed."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from infra.config import (ConfigError, check_config, check_secret_references, check_secret_storage, check_stack_name, check_unique_subdomain, guard_stack,
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


def dev_file(tmp_path: Path, was: str, now: str) -> Path:
    """A project whose Pulumi.dev.yaml is the committed one with `was` replaced by `now` (once)."""
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    assert was in text
    (tmp_path / "Pulumi.yaml").write_text("name: acs\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace(was, now, 1))
    return tmp_path


@pytest.mark.parametrize("check", [preflight, check_config], ids=["up", "drift"])
def test_plain_secret_in_the_stack_file_is_refused_before_a_stack_exists(tmp_path: Path, check) -> None:
    """Issue 14 item 7: the same check on the stack file itself, before any stack is created. adv22 B2: `drift`
    of such a stack read Railway, then failed with "Program exited with non-zero exit code: 1"; the check it
    shares with `up` refuses it, naming the key only."""
    block = re.search(r"  acs:JWT_SECRET:\n    secure: \S+\n", (ROOT / "Pulumi.dev.yaml").read_text()).group(0)
    root = dev_file(tmp_path, block, "  acs:JWT_SECRET: plaintext-jwt\n")
    with pytest.raises(ConfigError) as err:
        check("dev", root)
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


def test_secret_referencing_an_undeclared_service_is_refused_without_its_value() -> None:
    """adv14c B3: a stack secret holding `${{Foo.BAR}}` was applied and Railway rendered it empty. The same rule as
    for plain variables refuses it, naming the key and the service, never printing the value."""
    cfg = parse_environment(dev())
    value = "TOPSECRET-${{Foo.BAR}}-tail"
    with pytest.raises(ConfigError) as err:
        check_secret_references(cfg, {"JWT_SECRET": value, "API_KEY": "plain-key"})
    message = str(err.value)
    assert "acs:JWT_SECRET" in message and "'Foo'" in message and "Postgres" in message, message
    assert "TOPSECRET" not in message and "tail" not in message and "API_KEY" not in message, message
    check_secret_references(cfg, {"JWT_SECRET": "a-${{Postgres.PGHOST}}-${{shared.X}}-${{RAILWAY_PRIVATE_DOMAIN}}"})


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
    raw.pop("alerts", None)  # alerts are the project-making stack's (test_alerts_need_a_project_made_by_the_stack)
    assert parse_environment(raw).project.id == "4f2c1f0e-0000-4000-8000-000000000001"


def test_alerts_need_a_project_made_by_the_stack() -> None:
    """Adversarial pass on issue 14 (item 6): alerts on a stack given `project.id` were refused only after its
    environment was made; now by the config check, before any call, naming the key."""
    raw = dev()
    raw["project"] = {"id": "4f2c1f0e-0000-4000-8000-000000000001"}
    with pytest.raises(ConfigError) as err:
        parse_environment(raw)
    assert "alerts" in str(err.value) and "project.name" in str(err.value)


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


# ---- adversarial pass on issue 14: smaller breaks ---------------------------------------------------------------
@pytest.mark.parametrize("image", ["ghcr.io/acme/app:1 2", " ghcr.io/acme/app:1", "ghcr.io/acme/app:1\n",
                                   "ghcr.io/Acme/app:1", "ghcr.io/acme/app:", "ghcr.io/acme/app@sha256:abc", "app::1"])
def test_malformed_image_reference_is_refused(image: str) -> None:
    """Adversarial pass: an image reference with a space (`ghcr.io/acme/app:1 2`) was accepted and only failed on
    Railway's side. Refused by the model (before any API call), naming the key and the allowed form."""
    raw = dev()
    raw["services"][0]["source"] = {"image": image}
    message = refused(raw)
    assert "acs:environment.services[0].source.image" in message and "<registry>/<name>:<tag>" in message, message


def test_malformed_postgres_image_is_refused() -> None:
    raw = dev()
    raw["database"]["image"] = "postgres 16"
    assert "acs:environment.database.image" in refused(raw)


@pytest.mark.parametrize("image", ["ghcr.io/acs-team/acs:develop", "postgres:16", "nginx",
                                   "localhost:5000/a/b_c:v1.2-rc", "ghcr.io/acme/app@sha256:" + "a" * 64, "ghcr.io/acme/app:1@sha256:" + "b" * 64])
def test_valid_image_references(image: str) -> None:
    raw = dev()
    raw["services"][0]["source"] = {"image": image}
    assert parse_environment(raw).services[0].source.image == image


@pytest.mark.parametrize("stack,stage", [("dev", "prod"), ("prod", "dev"), ("staging", "pr")])
def test_stage_must_match_the_stack(stack: str, stage: str) -> None:
    """Adversarial pass: `stage: prod` in the stack file of stack `dev` was accepted silently (dev would get prod's
    rules). dev and prod stacks have their own stage, `pr` is only for pr-<N>; refused naming key and allowed."""
    raw = dev()
    raw["stage"] = stage
    if stage == "prod":
        raw["alerts"]["severities"] = ["CRITICAL"]
    if stage == "pr":  # a valid preview shape, in the wrong stack
        raw.update(ephemeral=True, database={"kind": "sqlite"}, alerts=None)
    with pytest.raises(ConfigError) as err:
        guard_stack(stack, parse_environment(raw))
    message = str(err.value)
    assert "acs:environment.stage" in message and repr(stage) in message, message
    assert ("allowed: 'dev'" in message or "allowed: 'prod'" in message or "allowed: 'dev' or 'prod'" in message)


@pytest.mark.parametrize("stack,stage", [("dev", "dev"), ("staging", "dev"), ("staging", "prod"), ("qa", "dev")])
def test_stage_allowed_for_the_stack(stack: str, stage: str) -> None:
    raw = dev()
    raw["stage"], raw["name"] = stage, stack
    guard_stack(stack, parse_environment(raw))


@pytest.mark.parametrize("where,name", [("env", "RAILWAY_TOKEN"), ("env", "RAILWAY_API_TOKEN"),
                                        ("service", "STRIPE_SECRET"), ("env", "DB_PASSWORD"),
                                        ("service", "GITHUB_TOKEN"), ("env", "OPENAI_API_KEY")])
def test_plain_variable_with_a_secret_name_is_refused(where: str, name: str) -> None:
    """Adversarial pass: a plain variable named RAILWAY_TOKEN (a credential in clear in the stack file) was
    accepted. Refused like a declared secret given as plain text, naming the key and the way to set it; the value
    is never shown."""
    raw = dev()
    target = raw["variables"] if where == "env" else raw["services"][0].setdefault("variables", {})
    target[name] = "tok-plaintext-value"
    message = refused(raw)
    key = f"acs:environment.variables.{name}" if where == "env" else f"acs:environment.services[0].variables.{name}"
    assert key in message and f"pulumi config set --secret acs:{name}" in message, message
    assert "tok-plaintext-value" not in message


@pytest.mark.parametrize("name,value", [("SESSION_SECRET", "${{shared.SESSION_SECRET}}"), ("TOKEN_TTL", "3600"),
                                        ("KEYBOARD", "us"), ("PUBLIC_KEY_URL", "https://x")])
def test_secret_like_names_that_hold_no_secret_stay_allowed(name: str, value: str) -> None:
    """A reference to a Railway variable holds no value in the file; names that only contain TOKEN/KEY are fine."""
    raw = dev()
    raw["variables"][name] = value
    assert parse_environment(raw).variables[name] == value


@pytest.mark.parametrize("text", ["0d", "0h", "0m", "0.0d", "00h"])
def test_zero_max_age_is_refused(text: str) -> None:
    """Adversarial pass: `pr gc --max-age 0d` treated every preview as expired. A max age must be above zero."""
    from infra.ops.cli.common import seconds
    with pytest.raises(ConfigError) as err:
        seconds("--max-age", text)
    assert "--max-age" in str(err.value) and "positive" in str(err.value) and "36h" in str(err.value)


def test_positive_max_age() -> None:
    from infra.ops.cli.common import seconds
    assert seconds("--max-age", "36h") == 36 * 3600 and seconds("--max-age", "90m") == 5400


@pytest.mark.parametrize("name", ["ACS_INFRA_OWNER", "DATABASE_URL", "DATABASE_KIND", "DATABASE_SEED", "PORT"])
@pytest.mark.parametrize("where", ["env", "service", "secret"])
def test_names_the_tool_sets_itself_are_refused(where: str, name: str) -> None:
    """Adversarial pass (issue 14, ownership): a plain variable `ACS_INFRA_OWNER` (the tool's ownership marker) or
    `DATABASE_URL` (the database reference the component sets, which silently won) was accepted. Refused before any
    API call, naming the key and why it is reserved."""
    raw = dev()
    if where == "secret":
        raw["secrets"] = [*raw.get("secrets", []), name]
        key = "acs:environment.secrets"
    else:
        target = raw["variables"] if where == "env" else raw["services"][0].setdefault("variables", {})
        target[name] = "postgresql://elsewhere" if name == "DATABASE_URL" else "3000"
        key = f"acs:environment.variables.{name}" if where == "env" else f"acs:environment.services[0].variables.{name}"
    message = refused(raw)
    assert key in message and name in message and "reserved" in message, message


@pytest.mark.parametrize("label", ["x" * 5000, "x" * 101, "two\nlines", "", "   "])
def test_backup_label_beyond_the_bound_is_refused(label: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Adversarial pass: a 5,000-character backup label was sent to Railway. Railway's schema documents no limit on
    `volumeInstanceBackupCreate(name)`; the tool's bound (100 printable characters) is refused on the command line,
    naming the option and the limit, before any stack or API read."""
    from infra.ops.cli import main
    assert main(["backup", "prod", "--label", label]) == 1
    err = capsys.readouterr().err
    assert "--label" in err and "100" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_backup_label_within_the_bound() -> None:
    from infra.config import check_backup_label
    assert check_backup_label("final") == "final" and check_backup_label("x" * 100) == "x" * 100


# ---- adversarial pass adv22 (issue 18) ----------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["1e3", "1E3", "0o17", "-2e-3", ".5e1", "0O17", "0X1F", "1_0e3", "0o1_7", "08",
                                   "+.5", "0B101"])
def test_a_value_the_engine_reads_as_a_number_is_refused_by_the_checks(tmp_path: Path, value: str) -> None:
    """adv22 B2: `LOG_LEVEL: 1e3` (or `0o17`) is a string to YAML 1.1, which the checks read, and a number to
    YAML 1.2, which the engine reads: the checks passed it and the program failed after Railway was read. The
    checks read a plain scalar as a number when either reading does, so it is named before any call."""
    with pytest.raises(ConfigError, match="acs:environment.variables.LOG_LEVEL"):
        check_config("dev", dev_file(tmp_path, "LOG_LEVEL: debug", f"LOG_LEVEL: {value}"))


@pytest.mark.parametrize("value", ["'1e3'", '"0o17"', "debug", "1e3x", "0o19", "=", "0x", "1e", "e3", "1.2.3"])
def test_strings_stay_strings(tmp_path: Path, value: str) -> None:
    root = dev_file(tmp_path, "LOG_LEVEL: debug", f"LOG_LEVEL: {value}")
    assert check_config("dev", root).variables["LOG_LEVEL"] == value.strip("'\"")


def test_a_key_given_twice_is_refused_as_the_engine_refuses_it(tmp_path: Path) -> None:
    """adv22 minor 1: `stage: prod` below `stage: dev` was read as prod by the checks (the last key wins in
    PyYAML) and refused by the engine ("yaml: unmarshal errors"); `promote --dry-run` planned from it. The checks
    refuse it too, naming the line."""
    root = dev_file(tmp_path, "    stage: dev\n", "    stage: dev\n    stage: prod\n")
    with pytest.raises(ConfigError, match=r"Pulumi.dev.yaml line \d+: not valid YAML \(.*stage.* twice"):
        check_config("dev", root)


@pytest.mark.parametrize("size", ["１２８MB", "٥١٢MB", "1.５GB"])
def test_a_size_is_written_in_ascii_digits(size: str) -> None:
    """adv22 minor 5: `memory: １２８MB` (full-width digits) was applied as 128MB: `\\d` and float() take any
    script's digits. A size is ASCII digits and MB or GB."""
    raw = dev()
    raw["services"][0]["memory"] = size
    assert "acs:environment.services[0].memory" in refused(raw)


@pytest.mark.parametrize("text", ["١٢", "１２"])
def test_a_pr_number_is_written_in_ascii_digits(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_pr_number(text)
    with pytest.raises(ConfigError):
        check_stack_name(f"pr-{text}")


def test_a_size_with_another_unit_names_the_units_there_are() -> None:
    """adv22 minor 6: `512MiB` was told "write it with a unit", though it has one."""
    raw = dev()
    raw["services"][0]["memory"] = "512MiB"
    assert "MB or GB" in refused(raw)


@pytest.mark.parametrize("content,said", [
    ("- config\n- acs:environment\n", "its top level is a list"),
    ("just text\n", "its top level is a str"),
    ("config: [1, 2]\n", "config: must be a mapping"),
])
def test_a_stack_file_that_is_no_mapping_is_named(tmp_path: Path, content: str, said: str) -> None:
    """adv23: a stack file whose top level is a list was read as empty: `destroy` went on to plan, `recover`
    printed the engine's "expected project to be an object"."""
    from infra.config.stacks import load_stack_file
    (tmp_path / "Pulumi.dev.yaml").write_text(content)
    with pytest.raises(ConfigError, match=f"Pulumi.dev.yaml: .*{said}"):
        load_stack_file("dev", tmp_path)


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_a_stack_file_that_is_not_utf8_is_named(tmp_path: Path, encoding: str) -> None:
    """adv23 N1: a UTF-16 Pulumi.dev.yaml (or one Latin-1 byte in it) ended every command in a UnicodeDecodeError
    traceback."""
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("LOG_LEVEL: debug", "LOG_LEVEL: d\u00e9bug", 1)
    (tmp_path / "Pulumi.yaml").write_text("name: acs\n")
    (tmp_path / "Pulumi.dev.yaml").write_bytes(text.encode(encoding))
    with pytest.raises(ConfigError, match="Pulumi.dev.yaml: not UTF-8 text"):
        check_config("dev", tmp_path)


def test_an_unknown_key_is_refused_by_the_checks_every_command_makes(tmp_path: Path) -> None:
    """adv23: an `acs:` key the program refuses as a typo (its own check) passed `drift`'s and `deploy`'s checks,
    which then reached Railway first."""
    root = dev_file(tmp_path, "  acs:API_KEY:\n", "  acs:API_KEYS: typo\n  acs:API_KEY:\n")
    with pytest.raises(ConfigError, match="acs:API_KEYS: unknown key"):
        check_config("dev", root)
