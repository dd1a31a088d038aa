"""The configuration of one ACS environment, read from stack config and validated before anything is declared.

Stack config (`Pulumi.<stack>.yaml`) holds a structured `acs:environment` object and one secret per name listed
in `secrets` (`pulumi config set --secret acs:JWT_SECRET ...`). A PR stack `pr-<N>` has no file of its own:
its configuration is the dev stack's with the PR overrides of `pr_config`.

`models` holds the schema, `stacks` the stack files and name checks, `preflight` the checks before a stack is
created; callers import from `infra.config`.
"""
from infra.config.models import (Alerts, Channel, ConfigError, Domain, EnvironmentConfig, Healthcheck,
                                 PostgresDatabase, ProjectRef, ServiceConfig, Source, SqliteDatabase, check_backup_label,
                                 check_secret_references,
                                 parse_environment, parse_percent, parse_size_mb)
from infra.config.preflight import check_config, check_token, preflight, require_stack_file, verify_token
from infra.config.stacks import (app_repo, check_known_keys, check_secret_storage, check_secrets_set, check_stack_name,
                                 check_unique_subdomain, guard_stack, is_app_image, load_stack_file, parse_pr_number,
                                 parse_pr_numbers, pr_config)
from infra.railway.facts import PR_RULE, PR_STACK  # the product's names, for the callers of infra.config

__all__ = ["PR_RULE", "PR_STACK", "Alerts", "Channel", "ConfigError", "Domain", "EnvironmentConfig", "Healthcheck",
           "PostgresDatabase", "ProjectRef", "ServiceConfig", "Source", "SqliteDatabase",
           "check_backup_label", "check_secret_references", "parse_environment", "parse_percent", "parse_size_mb", "check_config", "check_token", "preflight",
           "require_stack_file", "verify_token",
           "check_known_keys", "check_secret_storage", "check_secrets_set", "check_stack_name", "check_unique_subdomain", "guard_stack",
           "load_stack_file", "parse_pr_number", "parse_pr_numbers", "pr_config", "app_repo", "is_app_image"]
