"""The emulator's state and behaviour: everything Railway would store, and the rules it applies.

One mixin per Railway area, composed into one `Backend` the way moto composes a service's backends (EC2Backend
inherits InstanceBackend, EBSBackend, ...): `Store` holds the tables, persistence and access checks; each area
adds the operations named after Railway's (`service_instance_update` answers `serviceInstanceUpdate`); `account`
holds the user's side, `unmodelled` answers what Railway's clients ask of features not modelled. Nothing
here knows about GraphQL or HTTP. Every public method runs under the backend's lock (the HTTP server is
threaded), and raises `errors.RailwayError` with Railway's own messages.
"""
from __future__ import annotations

from railway_emulator.errors import BadRequest, NotAuthorized, NotFound
from railway_emulator.models.account import AccountBackend
from railway_emulator.models.deployments import DeploymentsBackend
from railway_emulator.models.domains import DomainsBackend
from railway_emulator.models.environment_config import EnvironmentConfigBackend
from railway_emulator.models.notifications import NotificationRulesBackend
from railway_emulator.models.projects import ProjectsBackend
from railway_emulator.models.records import (DOMAIN_SUFFIX, INSTANCE_DEFAULTS, Backup, CustomDomain, Deployment,
                                             Environment, Project, Service, ServiceDomain, ServiceInstance, Token,
                                             Volume, VolumeInstance, now_iso)
from railway_emulator.models.services import ServicesBackend
from railway_emulator.models.templates import TemplatesBackend
from railway_emulator.models.unmodelled import UnmodelledBackend
from railway_emulator.models.variables import VariablesBackend
from railway_emulator.models.volumes import VolumesBackend


class Backend(AccountBackend, ProjectsBackend, ServicesBackend, VariablesBackend, VolumesBackend, DomainsBackend,
              DeploymentsBackend, TemplatesBackend, NotificationRulesBackend, EnvironmentConfigBackend,
              UnmodelledBackend):
    """All of Railway the emulator models, behind one lock, optionally persisted to a SQLite file."""


__all__ = ["DOMAIN_SUFFIX", "INSTANCE_DEFAULTS", "Backend", "BadRequest", "Backup", "CustomDomain", "Deployment",
           "Environment", "NotAuthorized", "NotFound", "Project", "Service", "ServiceDomain", "ServiceInstance",
           "Token", "Volume", "VolumeInstance", "now_iso"]
