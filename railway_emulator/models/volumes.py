"""Volumes, their instances in each environment, and backups with their schedules."""
from __future__ import annotations

from typing import Any

from railway_emulator.errors import BadRequest, NotFound
from railway_emulator.models.records import (BACKUP_CRON, BACKUP_RETENTION, DEFAULT_VOLUME_MB, Backup, Token, Volume,
                                             VolumeInstance, generated_name, new_id, now_iso)
from railway_emulator.models.store import Store


class VolumesBackend(Store):
    """volumeCreate/Update/Delete, volumeInstanceUpdate, volumeInstanceBackup*."""

    def volume_create(self, tok: Token, inp: dict[str, Any]) -> Volume:
        project = self.project(tok, inp["projectId"])
        mount = inp["mountPath"]
        if not mount.startswith("/"):
            raise BadRequest("Mount path must be an absolute path")
        env_id, service_id = inp.get("environmentId"), inp.get("serviceId")
        if service_id:
            self.service(tok, service_id)
        if env_id:
            env = self.environment(tok, env_id)
            if service_id:
                inst = self.service_instance(tok, env.id, service_id)
                if (inst.settings.get("numReplicas") or 1) > 1:
                    raise BadRequest("Volumes cannot be attached to services with multiple replicas")
                if any(vi.serviceId == service_id for vi in self.volume_instances_of(env_id=env.id)):
                    raise BadRequest("Service already has a volume attached")
        vol = Volume(id=new_id(), name=generated_name(), projectId=project.id, createdAt=now_iso(self.clock.now()))
        self.tables["volumes"][vol.id] = vol
        # An absent environmentId (or null) creates no instance, as users of the real API found (TF #61).
        if env_id:
            self.add_volume_instance(vol.id, env_id, mount, service_id, DEFAULT_VOLUME_MB, inp.get("region"))
        return vol

    def add_volume_instance(self, volume_id: str, env_id: str, mount: str, service_id: str | None,
                             size_mb: int, region: str | None = None) -> VolumeInstance:
        vi = VolumeInstance(id=new_id(), volumeId=volume_id, environmentId=env_id, mountPath=mount,
                            serviceId=service_id, sizeMB=size_mb, region=region or "us-west2",
                            createdAt=now_iso(self.clock.now()))
        self.tables["volume_instances"][vi.id] = vi
        return vi

    def drop_volume_instance(self, vi_id: str) -> None:
        self.tables["volume_instances"].pop(vi_id, None)
        for key in [k for k, b in self.tables["backups"].items() if b.volumeInstanceId == vi_id]:
            del self.tables["backups"][key]

    def volume_update(self, tok: Token, volume_id: str, inp: dict[str, Any]) -> Volume:
        vol = self.volume(tok, volume_id)
        self.check_env_scope(tok, [vi.environmentId for vi in self.volume_instances_of(volume_id=volume_id)])
        if inp.get("name"):
            vol.name = inp["name"]
        return vol

    def volume_instance_update(self, tok: Token, volume_id: str, inp: dict[str, Any],
                               environment_id: str | None = None) -> bool:
        self.volume(tok, volume_id)
        self.check_env_scope(tok, [environment_id] if environment_id else
                             [vi.environmentId for vi in self.volume_instances_of(volume_id=volume_id)])
        for vi in self.volume_instances_of(volume_id=volume_id):
            if environment_id and vi.environmentId != environment_id:
                continue
            if "mountPath" in inp and inp["mountPath"]:
                vi.mountPath = inp["mountPath"]
            # Railway documents that a serviceId not provided disconnects the volume (absent and null alike).
            vi.serviceId = inp.get("serviceId")
            if inp.get("state"):
                vi.state = inp["state"]
        return True

    def volume_delete(self, tok: Token, volume_id: str) -> bool:
        self.volume(tok, volume_id)
        self.check_env_scope(tok, [vi.environmentId for vi in self.volume_instances_of(volume_id=volume_id)])
        for vi in self.volume_instances_of(volume_id=volume_id):
            self.drop_volume_instance(vi.id)
        del self.tables["volumes"][volume_id]
        return True

    def volume_resize(self, vi: VolumeInstance, size_mb: int) -> None:
        if size_mb <= 0:
            raise BadRequest("Volume size must be positive")
        if vi.sized and size_mb < vi.sizeMB:
            raise BadRequest("Volumes cannot be downsized")
        vi.sizeMB, vi.sized = size_mb, True

    def volume_instance_backup_create(self, tok: Token, volume_instance_id: str, name: str | None = None,
                                      schedule_id: str | None = None) -> dict[str, str]:
        vi = self.volume_instance(tok, volume_instance_id)
        backup = Backup(id=new_id(), volumeInstanceId=vi.id, name=name or "Manual", usedMB=min(vi.sizeMB, 120),
                        volumeInstanceSizeMB=vi.sizeMB, scheduleId=schedule_id)
        self.tables["backups"][backup.id] = backup
        return {"workflowId": self.workflow_create("Complete")}

    def volume_instance_backup_list(self, tok: Token, volume_instance_id: str) -> list[Backup]:
        self.volume_instance(tok, volume_instance_id)
        return sorted((b for b in self.tables["backups"].values() if b.volumeInstanceId == volume_instance_id),
                      key=lambda b: b.createdAt, reverse=True)

    def volume_instance_backup_delete(self, tok: Token, volume_instance_id: str,
                                      volume_instance_backup_id: str) -> dict[str, str]:
        if not any(b.id == volume_instance_backup_id for b in self.volume_instance_backup_list(tok, volume_instance_id)):
            raise NotFound("Backup")
        del self.tables["backups"][volume_instance_backup_id]
        return {"workflowId": self.workflow_create("Complete")}

    def volume_instance_backup_lock(self, tok: Token, volume_instance_id: str, volume_instance_backup_id: str) -> bool:
        backup = next((b for b in self.volume_instance_backup_list(tok, volume_instance_id) if b.id == volume_instance_backup_id), None)
        if backup is None:
            raise NotFound("Backup")
        backup.locked, backup.expiresAt = True, None
        return True

    def volume_instance_backup_restore(self, tok: Token, volume_instance_id: str, volume_instance_backup_id: str,
                                       **_unmodelled: Any) -> dict[str, str]:
        """Restores a backup: newer backups go (replicaServiceIds and wipeServiceIds are not modelled)."""
        backups = self.volume_instance_backup_list(tok, volume_instance_id)
        target = next((b for b in backups if b.id == volume_instance_backup_id), None)
        if target is None:
            raise NotFound("Backup")
        for newer in [b for b in backups if b.createdAt > target.createdAt]:  # restore removes newer backups
            del self.tables["backups"][newer.id]
        return {"workflowId": self.workflow_create("Complete")}

    def volume_instance_backup_schedule_update(self, tok: Token, volume_instance_id: str, kinds: list[str]) -> bool:
        vi = self.volume_instance(tok, volume_instance_id)
        vi.backupKinds = sorted(set(kinds))
        return True

    def volume_instance_backup_schedule_list(self, tok: Token, volume_instance_id: str) -> list[dict[str, Any]]:
        vi = self.volume_instance(tok, volume_instance_id)
        return [{"id": f"{vi.id}-{k.lower()}", "name": k.capitalize(), "cron": BACKUP_CRON[k], "kind": k,
                 "retentionSeconds": BACKUP_RETENTION[k], "createdAt": vi.createdAt} for k in vi.backupKinds]
