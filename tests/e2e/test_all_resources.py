"""Every resource kind with the real engine: up, a clean preview, drift seen by `preview --refresh`,
refresh after an out-of-band delete, and a destroy that leaves the emulator empty."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, Emulator, PulumiProject, program_project

pytestmark = pytest.mark.e2e


@pytest.fixture
def program(tmp_path: Path, emulator: Emulator) -> PulumiProject:
    proj = program_project(tmp_path, ROOT / "tests/e2e/programs/all_resources", "allres", emulator)
    proj.run("stack", "init", "test")
    proj.run("config", "set", "--secret", "apiKey", "sk-live-abcdef123456", stack="test")
    return proj


def test_every_resource(program: PulumiProject, emulator: Emulator) -> None:
    program.run("up", "--yes", "--skip-preview", stack="test")
    out = program.outputs("test")
    assert out["url"] == "https://all-resources.up.railway.app"
    assert {r["type"] for r in out["dns"]} == {"CNAME", "TXT"}
    program.run("preview", "--expect-no-changes", stack="test")

    # Drift made in the "dashboard": preview --refresh names the changed field, without writing the state.
    emulator.data("mutation($s:String!,$e:String!){ serviceInstanceUpdate(serviceId:$s, environmentId:$e, "
                  "input:{healthcheckPath:\"/changed\"}) }", s=out["webId"], e=out["environmentId"])
    preview = program.run("preview", "--refresh", "--diff", stack="test")
    assert '~ healthcheck_path   : "/changed" => "/health"' in preview.stdout
    assert "sk-live-abcdef123456" not in preview.stdout + preview.stderr

    # The volume grew to 4096 MB outside Pulumi: the declared 2048 would shrink it, refused before any API call.
    emulator.data("mutation($e:String!,$patch:EnvironmentConfig){ environmentPatchCommit(environmentId:$e, "
                  "patch:$patch) }", e=out["environmentId"], patch={"volumes": {out["filesId"]: {"sizeMB": 4096}}})
    refused = program.run("preview", "--refresh", stack="test", check=False)
    assert refused.returncode != 0
    assert "cannot shrink a volume from 4096 MB to 2048 MB" in refused.stdout + refused.stderr
    refresh = program.run("refresh", "--yes", "--skip-preview", "--diff", stack="test")
    assert "~ size_mb" in refresh.stdout and "2048 => 4096" in refresh.stdout

    # Deleted out of band: refresh drops it, up puts back exactly it.
    emulator.data("mutation($e:String!){ serviceDomainDelete(id:$e) }",
                  e=emulator.inventory()["service_domains"][0]["id"])
    program.run("refresh", "--yes", "--skip-preview", stack="test")
    program.run("up", "--yes", "--skip-preview", "--config", "filesSizeMb=4096", stack="test")
    inventory = emulator.inventory()
    assert [d["domain"] for d in inventory["service_domains"]] == ["all-resources.up.railway.app"]
    program.run("preview", "--expect-no-changes", "--refresh", "--config", "filesSizeMb=4096", stack="test")

    program.run("destroy", "--yes", "--skip-preview", stack="test")
    leftovers = {kind: rows for kind, rows in emulator.inventory().items() if rows}
    assert not leftovers, leftovers
