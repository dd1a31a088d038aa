"""Shared fixtures: an emulator over real HTTP, a GraphQL helper, and a Pulumi project on a local backend."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from infra.ops.engine_command import end_leftovers
from infra.providers.base import reset_client
from railway_emulator.server import DEFAULT_TOKEN, EmulatorServer

ROOT = Path(__file__).resolve().parent.parent
SHARED_REF = ROOT.parent / "shared" / "ref"
PASSPHRASE = "acs-local-demo"


class Emulator:
    """A running emulator plus helpers to inspect it through its own GraphQL and admin endpoints."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.url = server.url
        self.base = server.base_url
        self.http = httpx.Client(timeout=30)

    def gql(self, query: str, token: str = DEFAULT_TOKEN, project_token: str | None = None,
            **variables: Any) -> dict[str, Any]:
        headers = {"Project-Access-Token": project_token} if project_token else {"Authorization": f"Bearer {token}"}
        resp = self.http.post(self.url, json={"query": query, "variables": variables}, headers=headers)
        return resp.json()

    def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = self.gql(query, **variables)
        assert not body.get("errors"), body
        return body["data"]

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        if body is None:
            return self.http.get(f"{self.base}/_emulator{path}").json()
        return self.http.post(f"{self.base}/_emulator{path}", json=body).json()

    def stats(self) -> dict[str, Any]:
        return self.admin("/stats")

    def reset_stats(self) -> None:
        self.admin("/stats/reset", {})

    def inventory(self) -> dict[str, Any]:
        return self.admin("/inventory")

    def freeze(self) -> None:
        """Stops the emulator's clock: a deployment's status changes only when the test advances it."""
        self.admin("/clock", {"freeze": True})

    def advance(self, seconds: float) -> None:
        """Moves the emulator's clock forward instead of sleeping (deployments progress with it)."""
        self.admin("/clock", {"advance": seconds})


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    server = EmulatorServer(deploy_seconds=0.2).start()
    emu = Emulator(server)
    yield emu
    emu.http.close()
    server.stop()


@pytest.fixture
def railway_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """Points the providers' client (in this process) at the emulator."""
    monkeypatch.setenv("RAILWAY_API_URL", emulator.url)
    monkeypatch.setenv("RAILWAY_API_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("ACS_RAILWAY_RPS", "200")
    monkeypatch.delenv("RAILWAY_TOKEN", raising=False)
    reset_client()
    yield emulator
    reset_client()


def pulumi_bin() -> str | None:
    return shutil.which("pulumi")


@dataclass
class PulumiProject:
    """A copy of the project in a temp dir with its own file backend, run with the real `pulumi` CLI."""

    dir: Path
    env: dict[str, str]
    log: list[str] = field(default_factory=list)

    def run(self, *args: str, stack: str | None = None, check: bool = True, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = ["pulumi", *args, "--non-interactive"]
        if stack:
            cmd += ["--stack", stack]
        proc = subprocess.run(cmd, cwd=self.dir, env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout)
        self.log.append(f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def up(self, stack: str, *extra: str) -> subprocess.CompletedProcess[str]:
        self.run("stack", "select", "--create", stack)
        return self.run("up", "--yes", "--skip-preview", *extra, stack=stack)

    def outputs(self, stack: str, secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json"] + (["--show-secrets"] if secrets else [])
        return json.loads(self.run(*args, stack=stack).stdout)

    def export(self, stack: str) -> str:
        return self.run("stack", "export", stack=stack).stdout

    def state_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in (self.dir / "state").rglob("*") if p.is_file())


def copy_project(dest: Path) -> Path:
    for name in ("__main__.py", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, dest / name)
    text = (ROOT / "Pulumi.yaml").read_text().replace("virtualenv: .venv", f"virtualenv: {ROOT / '.venv'}")
    (dest / "Pulumi.yaml").write_text(text)
    return dest


def engine_env(state: Path, emulator: Emulator | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAILWAY_", "PULUMI_BACKEND", "PULUMI_CONFIG"))}
    env.update({"PULUMI_BACKEND_URL": f"file://{state}", "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
                "PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                "ACS_RAILWAY_RPS": "100"})
    if emulator is not None:
        env.update({"RAILWAY_API_URL": emulator.url, "RAILWAY_API_TOKEN": DEFAULT_TOKEN})
    return env


def program_project(tmp_path: Path, source: Path, name: str, emulator: Emulator | None) -> PulumiProject:
    """A test program (a folder with __main__.py) as a Pulumi project on its own file backend."""
    work = tmp_path / name
    shutil.copytree(source, work)
    (work / "Pulumi.yaml").write_text(f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
                                      f"    virtualenv: {ROOT / '.venv'}\n")
    state = tmp_path / "state"
    state.mkdir()
    return PulumiProject(work, engine_env(state, emulator))


# Every process a test's project starts carries this mark. A test that kills or breaks a bare `pulumi` (the fault
# matrix) can leave its language host running, outside any engine guard; the project's teardown ends what is left.
TEST_MARK = "ACS_TEST_PROJECT"


@pytest.fixture
def project(tmp_path: Path, emulator: Emulator) -> Iterator[PulumiProject]:
    if pulumi_bin() is None:
        pytest.fail("pulumi is not on PATH: run the tests through scripts/test.sh, which sets it up")
    work = copy_project(tmp_path / "project") if (tmp_path / "project").mkdir() is None else None
    state = tmp_path / "state"
    state.mkdir()
    mark = uuid.uuid4().hex
    yield PulumiProject(work, {**engine_env(state, emulator), TEST_MARK: mark})
    end_leftovers(mark, TEST_MARK)


def kill_engine(pid: int) -> None:
    """SIGKILL a `pulumi` run and everything it started. The engine puts each plugin (language host, dynamic
    provider) in a process group of its own, so killing the engine's group alone left them running (about 200
    orphans after a full run). The descendants are listed before the kill, while they still have a parent."""
    tree = [pid, *_descendants(pid)]
    for member in tree:
        try:
            os.killpg(os.getpgid(member), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def kill_while_held(project: PulumiProject, emulator: Emulator, operation: str, args: tuple[str, ...],
                    done: Callable[[], Any]) -> None:
    """Runs `acs-infra <args>`; Railway carries out `operation` and holds its answer; once `done()` sees the
    result, the run (still waiting for the answer) is killed with everything it started. Asserts that the
    fault happened: the run was killed while Railway held the answer, not after it ended on its own."""
    emulator.admin("/faults", {"hold_after_next": {operation: 1}, "timeout_seconds": 60})
    run = subprocess.Popen([sys.executable, "-m", "infra", "--project-dir", str(project.dir), *args],
                           env=project.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    deadline = time.monotonic() + 300
    while not done() and run.poll() is None:
        assert time.monotonic() < deadline, f"{operation} was never carried out"
        time.sleep(0.1)
    assert run.poll() is None, "the run ended before the kill"
    kill_engine(run.pid)  # the CLI and everything it started: engine guard, engine, language host, provider
    run.wait()
    assert emulator.stats()["faults"].get("hold_after") == 1, emulator.stats()  # the fault happened
