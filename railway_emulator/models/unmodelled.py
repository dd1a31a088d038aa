"""Railway features the emulator does not model (buckets, sandboxes, cloud agents, signals, HA Postgres PITR,
CDN edge configs, private networks, egress gateways, template publishing, shells).

Every operation of Railway's own clients on them is still answered with Railway's semantics, never a schema
error: reads of lists answer empty and nullable reads answer null (none of these objects can exist here),
reads and writes of one object by id answer "<kind> not found", what Railway documents as a no-op answers
true, and what would create one answers "<feature> are not implemented in the Railway emulator" (moto's
explicit not-implemented error, never an empty success). Ids the request names are still checked for access.
"""
from __future__ import annotations

from typing import Any, Callable

from railway_emulator.errors import BadRequest, NotFound
from railway_emulator.models.records import Token
from railway_emulator.models.store import Store

# operation -> the feature named in the not-implemented error (operations that would create or change one)
NOT_IMPLEMENTED = {
    "bucket_create": "Buckets", "cloud_agent_create": "Cloud agents", "sandbox_create": "Sandboxes",
    "sandbox_checkpoint_create": "Sandboxes", "sandbox_template_build_mutation": "Sandboxes", "signal_create": "Signals",
    "egress_gateway_association_create": "Egress gateways", "enable_pitr_for_ha_cluster": "HA Postgres clusters",
    "disable_pitr_for_ha_cluster": "HA Postgres clusters", "volume_instance_pitr_restore": "Point-in-time restores",
    "enable_service_cdn": "CDN edge configs", "update_service_edge_config": "CDN edge configs",
    "set_service_under_attack_mode": "CDN edge configs", "generate_shell_token": "Shell sessions",
    "template_generate": "Template publishing", "template_revert": "HA Postgres clusters",
}
# operation -> the kind of object it names by id, none of which exists in the emulator
NOT_FOUND = {
    "bucket_update": "Bucket", "bucket_credentials_reset": "Bucket", "bucket_instance_details": "Bucket",
    "bucket_s3_credentials": "Bucket", "cloud_agent_delete": "Cloud agent", "cloud_agent_sleep": "Cloud agent",
    "cloud_agent_wake": "Cloud agent", "sandbox_destroy": "Sandbox", "sandbox_heartbeat": "Sandbox",
    "sandbox_checkpoint_delete": "Sandbox checkpoint", "sandbox_checkpoint_rename": "Sandbox checkpoint",
    "signal_default_set": "Signal", "signal_delete": "Signal", "signal_replace": "Signal", "signal_rule_set": "Signal",
    "signal_rule_unset": "Signal", "template_delete": "Template", "template_publish": "Template",
    "template_unpublish": "Template", "private_network_endpoint_rename": "Private network endpoint",
    "private_network_endpoint_name_available": "Private network", "sandbox_template_build": "Sandbox template build",
}
# reads whose answer is a (possibly paged) list: empty
EMPTY = ("cloud_agents", "my_cloud_agents", "sandboxes", "sandbox_checkpoints", "signals", "private_networks",
         "egress_gateways", "dns_query_logs", "network_flow_logs", "template_search", "workspace_templates",
         "deployment_triggers")
# reads of one nullable object, documented as null when there is none (e.g. "Returns null when the service
# isn't an HA root", "Null if the agent has no running machine")
NOTHING = ("cloud_agent", "cloud_agent_console_sessions", "sandbox", "signal", "private_network_endpoint",
           "pitr_ha_cluster_replication_health", "pitr_ha_workflow_progress")
# writes Railway documents as succeeding when there is nothing to act on ("Idempotent; returns true even if CDN
# is disabled", "No-ops if no workflow is running"); clearing and disabling what does not exist are alike
NO_OP = ("purge_service_cache", "cancel_pitr_ha_workflow", "clear_pitr_ha_workflow_progress",
         "disable_service_cdn", "egress_gateway_associations_clear")


class UnmodelledBackend(Store):
    """The operations above, generated from the tables (each checks the ids it is given, then answers)."""

    def _reach(self, tok: Token, args: dict[str, Any]) -> None:
        """Access checks on the project, environment, service and workspace a request names, wherever they are
        (arguments or input object): a token never learns about objects it cannot reach."""
        given = {**(args.get("inp") or {}), **args}
        project_id, env_id = given.get("project_id") or given.get("projectId"), \
            given.get("environment_id") or given.get("environmentId")
        service_id = given.get("service_id") or given.get("serviceId") or \
            given.get("root_service_id") or given.get("rootServiceId")
        workspace_id = given.get("workspace_id") or given.get("workspaceId")
        if project_id:
            self.project(tok, project_id)
        if env_id and service_id:
            self.service_instance(tok, env_id, service_id)
        elif env_id:
            self.environment(tok, env_id)
        if workspace_id and (tok.is_project_token or workspace_id != tok.workspaceId):
            raise NotFound("Workspace")


def _operation(name: str, answer: Callable[[], Any]) -> Callable[..., Any]:
    def op(self: UnmodelledBackend, tok: Token, **args: Any) -> Any:
        self._reach(tok, args)
        return answer()
    op.__name__ = name
    return op


def _raise(make: Callable[[], Exception]) -> Callable[[], Any]:
    def answer() -> Any:
        raise make()
    return answer


for _name, _feature in NOT_IMPLEMENTED.items():
    setattr(UnmodelledBackend, _name, _operation(_name, _raise(
        lambda feature=_feature: BadRequest(f"{feature} are not implemented in the Railway emulator"))))
for _name, _kind in NOT_FOUND.items():
    setattr(UnmodelledBackend, _name, _operation(_name, _raise(lambda kind=_kind: NotFound(kind))))
for _name in EMPTY:
    setattr(UnmodelledBackend, _name, _operation(_name, list))
for _name in NOTHING:
    setattr(UnmodelledBackend, _name, _operation(_name, lambda: None))
for _name in NO_OP:
    setattr(UnmodelledBackend, _name, _operation(_name, lambda: True))
