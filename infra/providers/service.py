"""Railway service, scoped to one environment, with its variables managed as one collection.

Created with its source and variables in a single `serviceCreate` (variables set before the first build,
avoiding the build/variables race users hit with separate variable resources). Variables are replaced as a
whole on update (`replace: true`), so one removed from the program is removed from Railway.
"""
from __future__ import annotations

from typing import Any, Iterator

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from infra.providers import variable_sets
from infra.providers import secret_prints, snapshot
from infra.providers.base import (CheckFailure, CheckResult, CreateResult, Field, RailwayProvider, ReadResult,
                                  UpdateResult, client, create_once, ignore_missing)

def source_input(props: dict[str, Any]) -> dict[str, Any]:
    return {"image": props["image"]} if props.get("image") else {"repo": props["repo"]}


class ServiceProvider(RailwayProvider):
    kind = "railway service"
    fields = (Field("project_id", replaces=True), Field("environment_id", replaces=True), Field("name"),
              Field("image"), Field("repo"), Field("branch", replaces=True), Field("variables", default={}),
              Field("secret_variables", default={}), Field("secret_names", default=[]), Field("adopt_id", replaces=True))
    # A service of this name in the environment is adopted at create ("already exists"): a replacement keeping
    # them (a branch change) would adopt, then delete, itself.
    identity = ("project_id", "environment_id", "name")
    keeps_adopted = True  # its delete leaves a service given by id alone
    required = ("project_id", "environment_id", "name")

    def validate(self, news: dict[str, Any]) -> Iterator[CheckFailure]:
        if bool(news.get("image")) == bool(news.get("repo")):
            yield CheckFailure("image", "railway service: give exactly one source, 'image' or 'repo'")
        if news.get("repo") and len(str(news["repo"]).split("/")) != 2:
            yield CheckFailure("repo", f"railway service: repo {news['repo']!r} must look like 'owner/name'")
        yield from variable_sets.validate(self.kind, news)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return super().check(olds, variable_sets.with_names(news))

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.inputs_of(props)
        if props.get("adopt_id"):
            state = self._state(props["adopt_id"], props)
            self._put_variables(props["adopt_id"], props)
            return CreateResult(props["adopt_id"], {**inputs, "name": state["name"]})
        payload: dict[str, Any] = {"projectId": props["project_id"], "environmentId": props["environment_id"],
                                   "name": props["name"], "source": source_input(props),
                                   "variables": variable_sets.merged(props)}
        if props.get("branch"):
            payload["branch"] = props["branch"]
        s = create_once(lambda: client().mutate("ServiceCreate", idempotent=False, input=payload)["serviceCreate"],
                        lambda: self._find(props))
        return CreateResult(s["id"], inputs)

    @staticmethod
    def _find(props: dict[str, Any]) -> dict[str, Any] | None:
        env = client().query("ServiceFindInEnvironment", environmentId=props["environment_id"])["environment"]
        node = next((e["node"] for e in env["serviceInstances"]["edges"] if e["node"]["serviceName"] == props["name"]),
                    None)
        return node and {"id": node["serviceId"], "name": node["serviceName"]}

    @staticmethod
    def _state(id_: str, props: dict[str, Any]) -> dict[str, Any]:
        data = client().query("ServiceState", id=id_, projectId=props["project_id"],
                              environmentId=props["environment_id"])
        source = data["serviceInstance"]["source"] or {}
        return {"name": data["service"]["name"], "image": source.get("image"), "repo": source.get("repo"),
                **variable_sets.split(data["variables"], props.get("secret_names") or [])}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def fetch() -> dict[str, Any] | None:  # from the run's snapshot of the environment
            inst = snapshot.instance(props["environment_id"], id_)
            if inst is None:
                return None
            source = inst["source"] or {}
            live = variable_sets.split(snapshot.variables(props["environment_id"], id_) or {},
                                       props.get("secret_names") or [])
            return {"name": inst["serviceName"], "image": source.get("image"), "repo": source.get("repo"), **live,
                    secret_prints.OUTPUT: secret_prints.published(live["secret_variables"], live["secret_names"])}
        return self.read_or_gone(id_, props, fetch)

    @staticmethod
    def _put_variables(id_: str, props: dict[str, Any]) -> None:
        client().mutate("VariableCollectionUpsert", input={
            "projectId": props["project_id"], "environmentId": props["environment_id"], "serviceId": id_,
            "variables": variable_sets.merged(props), "replace": True})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if olds.get("name") != news["name"]:
            client().mutate("ServiceUpdate", id=id_, input={"name": news["name"]})
        if (olds.get("image"), olds.get("repo")) != (news.get("image"), news.get("repo")):
            client().mutate("ServiceInstanceUpdate", serviceId=id_, environmentId=news["environment_id"],
                            input={"source": source_input(news)})
        if variable_sets.changed(olds, news):
            self._put_variables(id_, news)
        return UpdateResult(self.inputs_of(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopt_id"):
            return  # given by id, not made by the stack: released, never deleted (as a project or environment)
        ignore_missing(lambda: client().mutate("ServiceDelete", id=id_))


class Service(Resource):
    """A service with an image or repo source and its variables, living in one environment."""

    name: Output[str]
    variables: Output[dict[str, str]]

    def __init__(self, resource_name: str, *, project_id: Input[str], environment_id: Input[str], name: Input[str],
                 image: Input[str] | None = None, repo: Input[str] | None = None, branch: Input[str] | None = None,
                 variables: Input[dict[str, Input[str]]] | None = None,
                 secret_variables: Input[dict[str, Input[str]]] | None = None,
                 adopt_id: Input[str] | None = None, opts: ResourceOptions | None = None) -> None:
        # Secret values are read back from Railway: keep them secret in the state whatever the input was.
        opts = ResourceOptions.merge(opts, ResourceOptions(additional_secret_outputs=["secret_variables"]))
        super().__init__(ServiceProvider(), resource_name, {
            "project_id": project_id, "environment_id": environment_id, "name": name, "image": image,
            "repo": repo, "branch": branch, "variables": variables or {},
            "secret_variables": Output.secret(secret_variables) if secret_variables else {}, "secret_names": None,
            "adopt_id": adopt_id}, opts)
