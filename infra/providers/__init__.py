"""Pulumi dynamic providers, one module per Railway resource kind."""
from infra.providers.backup_schedule import BackupSchedule
from infra.providers.custom_domain import CustomDomain
from infra.providers.domain import RailwayDomain
from infra.providers.environment import Environment
from infra.providers.limits import ServiceLimits
from infra.providers.postgres import PostgresDatabase
from infra.providers.project import Project
from infra.providers.service import Service
from infra.providers.service_instance import ServiceSettings
from infra.providers.variables import Variables
from infra.providers.volume import Volume

__all__ = ["Project", "Environment", "Service", "ServiceSettings", "ServiceLimits", "Variables", "Volume",
           "PostgresDatabase", "RailwayDomain", "CustomDomain", "BackupSchedule"]
