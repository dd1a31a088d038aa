"""A program using every resource kind, for the end-to-end provider test."""
import pulumi
from pulumi import ResourceOptions

from infra.providers import (BackupSchedule, CustomDomain, Environment, PostgresDatabase, Project, RailwayDomain,
                             Service, ServiceLimits, ServiceSettings, Variables, Volume)

cfg = pulumi.Config()
project = Project("project", name="all-resources", default_environment_name="base")
env = Environment("env", project_id=project.id, name="qa", ephemeral=False)
db = PostgresDatabase("db", project_id=project.id, environment_id=env.id, volume_size_mb=1024)
BackupSchedule("backups", volume_instance_id=db.volume_instance_id, kinds=["DAILY", "WEEKLY"])
web = Service("web", project_id=project.id, environment_id=env.id, name="web", image="node:20",
              variables={"NODE_ENV": "qa", "DATABASE_URL": "${{Postgres.DATABASE_URL}}"},
              secret_variables={"API_KEY": cfg.require_secret("apiKey")})
worker = Service("worker", project_id=project.id, environment_id=env.id, name="worker", repo="acs-team/worker",
                 branch="main")
ServiceSettings("web-settings", service_id=web.id, environment_id=env.id, start_command="npm start",
                healthcheck_path="/health", healthcheck_timeout=30, num_replicas=1, restart_policy_type="ON_FAILURE")
ServiceLimits("web-limits", service_id=web.id, environment_id=env.id, memory_bytes=512 * 1024 ** 2, vcpus=1)
Variables("shared", project_id=project.id, environment_id=env.id, variables={"REGION": "eu"})
files = Volume("files", project_id=project.id, environment_id=env.id, service_id=worker.id, mount_path="/files",
               size_mb=cfg.get_int("filesSizeMb") or 2048)
domain = RailwayDomain("domain", project_id=project.id, environment_id=env.id, service_id=web.id,
                       subdomain="all-resources", target_port=3000)
custom = CustomDomain("custom", project_id=project.id, environment_id=env.id, service_id=web.id,
                      domain="app.acs.example", target_port=3000, opts=ResourceOptions(depends_on=[domain]))
pulumi.export("projectId", project.id)
pulumi.export("environmentId", env.id)
pulumi.export("webId", web.id)
pulumi.export("filesId", files.id)
pulumi.export("url", domain.url)
pulumi.export("dns", custom.dns_records)
pulumi.export("databaseUrl", db.database_url)
