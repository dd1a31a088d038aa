"""The shape a fresh fork is given (`ForkShape`, see infra.providers.fork): one `environmentPatchCommit` that
gives the declared services their source, settings, limits, variables and Railway domain, and removes from the
fork every copied instance, volume instance and shared variable the program does not declare."""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.ownership import OWNER_VARIABLE
from infra.providers import secret_prints, snapshot, variable_sets
from infra.providers.base import (CheckFailure, CheckResult, CreateResult, Field, RailwayProvider, ReadResult,
                                  UpdateResult, client, ignore_missing)
from infra.providers.service_instance import SETTINGS, settings_failures


class ForkBehindSource(Exception):
    """A declared service the fork does not hold and its source does not run either: one line for the user."""


def _networking(spec: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any] | None:
    """The service's Railway domain, in the same patch (`{<domain>: {port}}`, null removes): a preview's public
    service gets its `acs-pr-<N>` name without a create and a rename of its own."""
    domains: dict[str, Any] = {}
    if old and old.get("domain") and old.get("domain") != spec.get("domain"):
        domains[old["domain"]] = None
    if spec.get("domain"):
        domains[spec["domain"]] = {"port": spec.get("port")}
    return {"serviceDomains": domains} if domains else None


def _service_patch(spec: dict[str, Any], secrets: dict[str, str], drop: list[str],
                   old: dict[str, Any] | None = None) -> dict[str, Any]:
    source = {"image": spec["image"]} if spec.get("image") else {"repo": spec.get("repo"), "branch": spec.get("branch")}
    deploy: dict[str, Any] = {SETTINGS[k]: v for k, v in (spec.get("settings") or {}).items()}
    memory = int(spec["memory_bytes"]) if spec.get("memory_bytes") else None  # Railway's stored unit, exactly
    containers = {k: v for k, v in (("memoryBytes", memory), ("cpu", spec.get("vcpus"))) if v}
    deploy["limitOverride"] = {"containers": containers} if containers else None
    variables: dict[str, Any] = {name: None for name in drop}
    variables.update({k: {"value": str(v)} for k, v in {**(spec.get("variables") or {}), **secrets}.items()})
    patch = {"source": source, "deploy": deploy, "variables": variables}
    networking = _networking(spec, old)
    return {**patch, "networking": networking} if networking else patch


def shape_patch(copied: dict[str, Any], services: dict[str, Any], secrets: dict[str, str],
                previous: dict[str, Any] | None = None, owner: str | None = None) -> dict[str, Any]:
    """The one patch that turns a fresh fork (`previous` None) into the declared shape, or moves it from one
    declared shape to another; `owner` (when new) marks the fork. Raises when a declared service is not in the
    fork."""
    have = copied.get("services") or {}
    missing = sorted(set(services) - set(have))
    if missing:  # a fresh fork of a source that does not run them (an existing fork is re-forked first)
        raise ForkBehindSource(f"railway fork shape: {', '.join(missing)} not in the source environment (services "
                               f"there: {', '.join(sorted(have)) or 'none'}); bring the source stack up first")
    patch: dict[str, Any] = {"services": {}}
    for name, spec in services.items():
        if previous is None:
            declared = set(spec.get("variables") or {}) | set(secrets)
            drop = [v for v in have[name]["variables"] if v not in declared]
        else:
            old = (previous["services"].get(name) or {})
            if old == spec and previous["secrets"] == secrets:
                continue
            drop = sorted(set(old.get("variables") or {}) | set(previous["secrets"])
                          - set(spec.get("variables") or {}) - set(secrets))
        patch["services"][have[name]["id"]] = _service_patch(spec, secrets, drop,
                                                             None if previous is None else old)
    if previous is None:
        kept = {have[name]["id"] for name in services}
        patch["services"].update({s["id"]: None for name, s in have.items() if name not in services})
        patch["volumes"] = {vol: None for vol, sid in (copied.get("volumes") or {}).items() if sid not in kept}
        patch["sharedVariables"] = {name: None for name in copied.get("shared_variables") or []}
    if owner:
        patch.setdefault("sharedVariables", {})[OWNER_VARIABLE] = {"value": owner}
    return patch


def _live_service(config: dict[str, Any], sid: str, declared: dict[str, Any]) -> dict[str, Any] | None:
    live = (config.get("services") or {}).get(sid)
    if live is None:
        return None
    deploy = live.get("deploy") or {}
    containers = ((deploy.get("limitOverride") or {}).get("containers") or {})
    source = live.get("source") or {}
    shape = {"image": source.get("image"), "repo": source.get("repo"), "branch": source.get("branch"),
             "settings": {k: deploy.get(SETTINGS[k]) for k in (declared.get("settings") or {})},
             "memory_bytes": containers.get("memoryBytes"),
             "vcpus": containers.get("cpu"),
             "variables": {k: v["value"] for k, v in (live.get("variables") or {}).items()}}
    if "domain" in declared:  # the instance's Railway domain (one per instance) and its port
        name, spec = next(iter(((live.get("networking") or {}).get("serviceDomains") or {}).items()), (None, {}))
        shape.update(domain=name, port=(spec or {}).get("port"))
    return shape


def _secret_prints(config: dict[str, Any], props: dict[str, Any]) -> dict[str, Any] | None:
    """The shape's secrets as drift compares them (only under drift's key, see `secret_prints`): each is given to
    every shaped service, so a value changed on any one of them shows."""
    services = config.get("services") or {}
    lives = [{k: v["value"] for k, v in (services[sid].get("variables") or {}).items()}
             for sid in (props.get("service_ids") or {}).values() if sid in services]
    return secret_prints.published_across(lives, props.get("secret_names") or [])


class ForkShapeFailed(Exception):
    """The first shaping of a fork failed; says whether the fork (with its source's copies) is gone."""


def _unshaped_fork_removed(env_id: str, cause: Exception) -> ForkShapeFailed:
    """An unshaped fork still holds its source's copies: the source's variables with their secret values and the
    source's database instance. It is this stack's own fresh fork (the shape is created once, right after it), so
    it is deleted rather than left reachable from a PR build; the next `up` reads it as gone and forks again."""
    try:
        ignore_missing(lambda: client().mutate("EnvironmentDelete", id=env_id, must_complete=True))
    except Exception as exc:
        return ForkShapeFailed(f"railway fork shape: shaping fork {env_id} failed ({cause}), and deleting it failed "
                               f"too ({exc}): it still holds copies of its source's variables and services. Remove "
                               "it (`acs-infra pr down <N>`) before anything deploys there.")
    return ForkShapeFailed(f"railway fork shape: shaping fork {env_id} failed ({cause}); the fork was deleted, so it "
                           "holds none of its source's variables or services. Run it again.")


class ForkShapeProvider(RailwayProvider):
    kind = "railway fork shape"
    fields = (Field("environment_id", replaces=True), Field("copied", replaces=True), Field("services", default={}),
              Field("secret_variables", default={}), Field("secret_names", default=[]), Field("owner"))
    required = ("environment_id", "copied")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        for name, spec in (news.get("services") or {}).items():
            if bool(spec.get("image")) == bool(spec.get("repo")):
                yield CheckFailure("services", f"{self.kind}: service {name}: give exactly one source, image or repo")
            yield from settings_failures(f"{self.kind}: service {name}", spec.get("settings") or {})
            yield from variable_sets.validate(f"{self.kind}: service {name}",
                                              {"variables": spec.get("variables"),
                                               "secret_variables": news.get("secret_variables")})

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return super().check(olds, variable_sets.with_names(news))

    @staticmethod
    def _outs(props: dict[str, Any]) -> dict[str, Any]:
        have = props["copied"]["services"]
        return {"service_ids": {name: have[name]["id"] for name in props.get("services") or {}}}

    def _commit(self, env_id: str, patch: dict[str, Any], must_complete: bool = False) -> None:
        if patch["services"] or len(patch) > 1:
            client().mutate("EnvironmentPatchCommit", environmentId=env_id, patch=patch, must_complete=must_complete,
                            commitMessage="acs-infra: preview shape")

    def create(self, props: dict[str, Any]) -> CreateResult:
        try:
            patch = shape_patch(props["copied"], props.get("services") or {}, props.get("secret_variables") or {},
                                owner=props.get("owner"))
            # the fork made just before holds its source's copies until this lands: it waits out the hourly
            # budget's reset rather than leave a half-made preview (adversarial issue 17, break 1)
            self._commit(props["environment_id"], patch, must_complete=True)
        except Exception as exc:
            raise _unshaped_fork_removed(props["environment_id"], exc) from None
        return CreateResult(f"{props['environment_id']}:shape", {**self.inputs_of(props), **self._outs(props)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:
            env = snapshot.environment(props["environment_id"])  # the fork's snapshot: no read of its own
            if env is None or env.get("deletedAt"):
                return None
            config = env.get("config") or {}
            services, secrets = {}, {}
            for name, sid in (props.get("service_ids") or {}).items():
                live = _live_service(config, sid, (props.get("services") or {}).get(name) or {})
                if live is None:
                    continue  # reported as a change: the declared service is gone from the fork
                split = variable_sets.split(live["variables"], props.get("secret_names") or [])
                services[name], secrets = {**live, "variables": split["variables"]}, split["secret_variables"]
            return {**props, "services": services, "secret_variables": secrets,
                    secret_prints.OUTPUT: _secret_prints(config, props)}
        return self.read_or_gone(id_, props, fetch)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        previous = {"services": olds.get("services") or {}, "secrets": olds.get("secret_variables") or {}}
        owner = news.get("owner") if news.get("owner") != olds.get("owner") else None
        patch = shape_patch(news["copied"], news.get("services") or {}, news.get("secret_variables") or {}, previous,
                            owner)
        self._commit(news["environment_id"], patch)
        return UpdateResult({**self.inputs_of(news), **self._outs(news)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Nothing to undo on Railway: the shape goes with its fork."""


class ForkShape(Resource):
    """The declared shape of a fork: `services` by name ({image|repo, branch, settings, memory_bytes, vcpus,
    variables, and for a public service its Railway domain and port}) plus secret variables given to each."""

    service_ids: Output[dict[str, str]]

    def __init__(self, resource_name: str, *, environment_id: Input[str], copied: Input[dict[str, Any]],
                 services: Input[dict[str, Any]], secret_variables: Input[dict[str, Input[str]]] | None = None,
                 owner: Input[str] | None = None, opts: ResourceOptions | None = None) -> None:
        opts = ResourceOptions.merge(opts, ResourceOptions(additional_secret_outputs=["secret_variables"]))
        super().__init__(ForkShapeProvider(), resource_name, {
            "environment_id": environment_id, "copied": copied, "services": services,
            "secret_variables": Output.secret(secret_variables) if secret_variables else {}, "secret_names": None,
            "owner": owner, "service_ids": None}, opts)
