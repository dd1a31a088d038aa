"""A minimal program for the toolchain check: a Python dynamic provider resource (and a pulumi-command
resource when that plugin is installed)."""
import os
from pathlib import Path

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider


class FileProvider(ResourceProvider):
    """Writes a file: real side effects the test can see, with create/diff/update/delete."""

    def create(self, props):
        Path(props["path"]).write_text(props["content"])
        return CreateResult(props["path"], dict(props))

    def diff(self, _id, olds, news):
        return DiffResult(changes=olds.get("content") != news.get("content"), replaces=[])

    def update(self, _id, _olds, news):
        Path(news["path"]).write_text(news["content"])
        from pulumi.dynamic import UpdateResult
        return UpdateResult(dict(news))

    def delete(self, _id, props):
        Path(props["path"]).unlink(missing_ok=True)


class File(Resource):
    def __init__(self, name, path, content):
        super().__init__(FileProvider(), name, {"path": path, "content": content})


config = pulumi.Config()
target = File("greeting", config.require("path"), config.get("content") or "hello")
pulumi.export("path", target.id)
if os.environ.get("SMOKE_WITH_COMMAND") == "1":
    import pulumi_command
    cmd = pulumi_command.local.Command("echo", create="echo from-command")
    pulumi.export("stdout", cmd.stdout)
