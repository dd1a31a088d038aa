"""The stack configuration model: what is accepted, and the message for each kind of mistake."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from infra.config import ConfigError, guard_stack, parse_environment, parse_size_mb, pr_config

ROOT = Path(__file__).resolve().parents[2]


def stack(name: str) -> dict:
    return yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text())["config"]["acs:environment"]


@pytest.mark.parametrize("text,mb", [("512MB", 512), ("1GB", 1024), ("5GB", 5120), ("0.5GB", 512), ("256mb", 256)])
def test_sizes(text: str, mb: int) -> None:
    assert parse_size_mb(text) == mb


@pytest.mark.parametrize("text", ["512", 512, "1TB", "-1GB", "0MB", "1.5MB", "GB"])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(ValueError):
        parse_size_mb(text)


@pytest.mark.parametrize("text,said", [("1.3GB", "'1.3GB' is 1331.2 MB (1 GB = 1024 MB); it must be a whole number of "
                                                 "MB, e.g. \"1331MB\""),
                                       ("0.5MB", "'0.5MB' must be a positive whole number of MB")])
def test_a_size_that_is_not_whole_mb_says_what_it_came_to(text: str, said: str) -> None:
    """adv24 minor: `memory: 1.3GB` was told "must be a positive whole number of MB", not that 1 GB is 1,024 MB."""
    with pytest.raises(ValueError) as err:
        parse_size_mb(text)
    assert str(err.value).startswith(said), err.value


def test_committed_stacks_match_the_table() -> None:
    dev, prod = parse_environment(stack("dev")), parse_environment(stack("prod"))
    assert (dev.services[0].memory, dev.database.volume_size, dev.url) == (512, 1024, "https://acs-dev.up.railway.app")
    assert (dev.variables["NODE_ENV"], dev.variables["LOG_LEVEL"]) == ("development", "debug")
    assert (prod.services[0].memory, prod.database.volume_size, prod.url) == (1024, 5120, "https://kars.up.railway.app")
    assert prod.database.backups == ["DAILY"] and prod.protect
    assert (prod.variables["NODE_ENV"], prod.variables["LOG_LEVEL"]) == ("production", "info")


def test_pr_config_is_derived_from_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    pr = pr_config("pr-42")
    assert pr.name == "pr-42" and pr.ephemeral and pr.stage == "pr" and not pr.protect
    assert pr.services[0].memory == 256 and pr.database.kind == "sqlite" and pr.database.seed
    assert pr.url == "https://acs-pr-42.up.railway.app" and pr.project.stack == "dev"
    assert pr.services[0].source.image == "ghcr.io/acs-team/acs:pr-42"
    assert (pr.variables["NODE_ENV"], pr.variables["LOG_LEVEL"]) == ("development", "debug")
    with pytest.raises(ConfigError, match="not a PR stack"):
        pr_config("feature-x")


def test_pr_stack_can_never_target_prod() -> None:
    prod = parse_environment(stack("prod"))
    with pytest.raises(ConfigError, match="PR stack"):
        guard_stack("pr-1", prod)
    with pytest.raises(ConfigError, match="only for stacks named pr-"):
        guard_stack("dev", parse_environment({**stack("dev"), "stage": "pr", "ephemeral": True, "name": "dev", "alerts": None,
                                              "database": {"kind": "sqlite"}}))


def mutated(path: list, value: object) -> dict:
    raw = copy.deepcopy(stack("dev"))
    node = raw
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return raw


@pytest.mark.parametrize("path,value,message", [
    (["colour"], "blue", "acs:environment.colour: unknown key"),
    (["services", 0, "memory"], "512XB", "acs:environment.services[0].memory: '512XB' is not a size"),
    (["services", 0, "memory"], "64GB", "outside 128MB..8GB"),
    (["database", "volumeSize"], "-1GB", "acs:environment.database.volumeSize: '-1GB' is not a size"),
    (["database", "kind"], "mysql", "database kind must be 'sqlite' or 'postgres'"),
    (["domain", "subdomain"], "-x", "acs:environment.domain.subdomain: '-x' is not a valid subdomain"),
    (["services", 0, "restartPolicy"], "SOMETIMES", "must be 'ON_FAILURE', 'ALWAYS' or 'NEVER'"),
    (["services", 0, "replicas"], 0, "acs:environment.services[0].replicas: Input should be greater than or equal to 1"),
    (["services", 0, "healthcheck", "path"], "health", "acs:environment.services[0].healthcheck.path: 'health' must"),
    (["stage"], "qa", "acs:environment.stage: must be 'pr', 'dev' or 'prod'"),
    (["secrets"], ["jwt"], "must be UPPER_SNAKE_CASE"),
    (["domain"], KeyError, "acs:environment.domain: Field required"),
    (["variables", "NODE_ENV"], "", "have empty values"),
    (["services", 0, "source"], {"image": "a", "repo": "b/c"}, "give exactly one of image or repo"),
])
def test_bad_config_messages(path: list, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_environment(mutated(path, value))
    assert message in str(err.value)


def test_missing_environment_object() -> None:
    with pytest.raises(ConfigError, match="acs:environment: missing"):
        parse_environment(None)


@pytest.mark.parametrize("path,value,message", [
    (["alerts", "errorRate"], "1", "acs:environment.alerts.errorRate: '1' is not a percentage"),
    (["alerts", "responseTime"], "2", "acs:environment.alerts.responseTime: '2' is not a duration"),
    (["alerts", "severities"], ["CRITICAL"], "dev alerts are informational only"),
    (["alerts", "channels"], [{"webhook": "http://x"}], "must be an https:// URL"),
])
def test_bad_alert_config(path: list, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_environment(mutated(path, value))
    assert message in str(err.value)


def test_alert_thresholds_parse() -> None:
    prod = parse_environment(stack("prod"))
    assert (prod.alerts.error_rate, prod.alerts.response_time, prod.alerts.memory, prod.alerts.cpu) == \
        (0.01, 2000, 0.9, 0.9)
    assert prod.alerts.monitor_window == 30 * 60 * 1000 and "CRITICAL" in prod.alerts.severities
    assert parse_environment(stack("dev")).alerts.severities == ["INFO"]
