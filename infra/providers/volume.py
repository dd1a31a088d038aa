"""Railway volume attached to a service in one environment. Size grows through the environment config
(no mutation takes a size); shrinking is refused before any API call, as Railway cannot downsize."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.ownership import NotOwnedError
from infra.providers import snapshot
from infra.providers.intent import SEND_WINDOW, deadline, not_made_by, stamp
from infra.providers.base import (CheckFailure, CheckResult, CreateResult, Field, RailwayProvider, ReadResult,
                                  UpdateResult, client, create_once, ignore_missing, undo_on_failure)


def volume_failures(kind: str, olds: dict[str, Any], news: dict[str, Any]) -> Iterator[CheckFailure]:
    size = news.get("size_mb")
    if size is not None and int(size) <= 0:
        yield CheckFailure("size_mb", f"{kind}: size_mb {size} must be positive")
    if size is not None and olds.get("size_mb") and int(size) < int(olds["size_mb"]):
        yield CheckFailure("size_mb", f"{kind}: cannot shrink a volume from {int(olds['size_mb'])} MB to {int(size)} MB "
                                      "(Railway volumes only grow)")
    mount = news.get("mount_path")
    if mount is not None and not str(mount).startswith("/"):
        yield CheckFailure("mount_path", f"{kind}: mount_path {mount!r} must be an absolute path")


def find_volume_instance(environment_id: str, volume_id: str) -> dict[str, Any] | None:
    env = client().query("VolumeInstancesOfEnvironment", environmentId=environment_id)["environment"]
    return next((e["node"] for e in env["volumeInstances"]["edges"] if e["node"]["volumeId"] == volume_id), None)


VOLUME_INTENT = "volume_intent"  # input stamped by a stand-alone volume's check: when its create was meant


def create_volume(project_id: str, environment_id: str, service_id: str, mount_path: str,
                  size_mb: int | None, service_made_at: str | None = None, check_found: bool = False,
                  intent: str | None = None) -> dict[str, Any]:
    """volumeCreate, then the size through the environment config; returns volume and instance ids.

    `check_found`: a volume already on the service is taken only when a killed run of this create made it: its
    service was adopted (made at `service_made_at` by that run, which then made the volume within one create's
    window, infra.providers.intent); one made later, or on a service this run made, is someone else's.
    `intent` (a stand-alone volume's recorded create): one found is taken only when made inside its window."""
    payload = {"projectId": project_id, "environmentId": environment_id, "serviceId": service_id,
               "mountPath": mount_path}
    # never sent later: what bounds that window
    due = deadline(intent) if intent else time.time() + SEND_WINDOW.total_seconds()

    def find() -> dict[str, Any] | None:
        env = client().query("VolumeInstancesOfEnvironment", environmentId=environment_id)["environment"]
        node = next((e["node"] for e in env["volumeInstances"]["edges"] if e["node"]["serviceId"] == service_id), None)
        return node and {"id": node["volumeId"], "volumeInstances": {"edges": [{"node": node}]}}

    def owned(found: dict[str, Any]) -> None:
        node = found["volumeInstances"]["edges"][0]["node"]
        longest = client().longest_answer()  # the service's answer, then the volume's: same clock as createdAt
        if intent:
            why = not_made_by(intent, node["createdAt"], longest)
        elif service_made_at:
            why = not_made_by(service_made_at, node["createdAt"], 2 * longest, skew=timedelta(seconds=longest))
        else:
            why = "its service was made by this run, the volume by someone else"
        if why:
            raise NotOwnedError(f"railway volume {node['volumeId']} at {node['mountPath']} is already attached to "
                                f"service {service_id}, and not by this stack's create ({why}); nothing was changed, "
                                "the volume is left alone. Move it off the service (keep its data) and run again.")

    vol = create_once(lambda: client().mutate("VolumeCreate", idempotent=False, not_after=due,
                                              input=payload)["volumeCreate"], find,
                      owned=owned if check_found or intent else None)
    instance = vol["volumeInstances"]["edges"][0]["node"]
    if size_mb and int(size_mb) != instance["sizeMB"]:
        with undo_on_failure(lambda: client().mutate("VolumeDelete", volumeId=vol["id"])):
            resize(environment_id, vol["id"], int(size_mb))
    return {"volume_id": vol["id"], "volume_instance_id": instance["id"]}


def resize(environment_id: str, volume_id: str, size_mb: int) -> None:
    client().mutate("EnvironmentPatchCommit", environmentId=environment_id,
                    patch={"volumes": {volume_id: {"sizeMB": size_mb}}}, commitMessage="acs-infra: volume size")


class VolumeProvider(RailwayProvider):
    kind = "railway volume"
    fields = (Field("project_id", replaces=True), Field("environment_id", replaces=True),
              Field("service_id", replaces=True), Field("mount_path"), Field("size_mb"))
    required = ("project_id", "environment_id", "service_id", "mount_path")

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)
        result.failures.extend(volume_failures(self.kind, olds, news))
        # a create (also a replacement's) is meant now: a volume found on the service is taken only when that
        # create made it (a killed run's), never one attached by hand (adversarial pass 3, B9)
        replacing = bool(olds) and any(olds.get(f.name) != result.inputs.get(f.name) for f in self.fields
                                       if f.replaces)
        stamp(VOLUME_INTENT, {} if replacing else olds, result.inputs)
        return result

    def create(self, props: dict[str, Any]) -> CreateResult:
        ids = create_volume(props["project_id"], props["environment_id"], props["service_id"], props["mount_path"],
                            props.get("size_mb"), intent=props.get(VOLUME_INTENT))
        return CreateResult(ids["volume_id"], {**self.inputs_of(props), **ids})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:
            vi = next((v for v in snapshot.volume_instances(props["environment_id"]) or [] if v["volumeId"] == id_), None)
            return vi and {"mount_path": vi["mountPath"], "size_mb": vi["sizeMB"], "service_id": vi["serviceId"],
                           "volume_instance_id": vi["id"]}
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if olds.get("mount_path") != news["mount_path"]:
            client().mutate("VolumeInstanceUpdate", volumeId=id_, environmentId=news["environment_id"],
                            # serviceId always: Railway disconnects a volume whose update leaves it out
                            input={"mountPath": news["mount_path"], "serviceId": news["service_id"]})
        if news.get("size_mb") and news.get("size_mb") != olds.get("size_mb"):
            resize(news["environment_id"], id_, int(news["size_mb"]))
        return UpdateResult({**self.inputs_of(news), "volume_id": id_,
                             "volume_instance_id": olds.get("volume_instance_id")})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ignore_missing(lambda: client().mutate("VolumeDelete", volumeId=id_))


class Volume(Resource):
    volume_id: Output[str]
    volume_instance_id: Output[str]
    size_mb: Output[int]

    def __init__(self, resource_name: str, *, project_id: Input[str], environment_id: Input[str],
                 service_id: Input[str], mount_path: Input[str], size_mb: Input[int] | None = None,
                 opts: ResourceOptions | None = None) -> None:
        super().__init__(VolumeProvider(), resource_name, {
            "project_id": project_id, "environment_id": environment_id, "service_id": service_id,
            "mount_path": mount_path, "size_mb": size_mb, "volume_id": None, "volume_instance_id": None}, opts)
