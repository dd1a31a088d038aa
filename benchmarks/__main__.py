"""`python -m benchmarks`: API calls and seconds for each operation against the emulator, with a set latency.

Prints a table and writes JSON (bench-results/latest.json). Run it through scripts/bench.sh (sets up the
toolchain). Budgets: PR up <= 4 calls (a fork of dev, one patch, the domain; was 6), PR down 1 (was 2),
no-op up 0, refresh <= 1 per resource, dev/prod from empty <= 25, N PR stacks in parallel under Hobby limits with
none failing. `--only pr` runs just dev up and the single-PR rows.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from benchmarks import scale
from railway_emulator.faults import Faults
from railway_emulator.server import DEFAULT_TOKEN, EmulatorServer

ROOT = Path(__file__).resolve().parent.parent


class Bench:
    def __init__(self, latency_ms: float) -> None:
        self.server = EmulatorServer(faults=Faults(latency_ms=latency_ms), deploy_seconds=0.5).start()
        self.tmp = Path(tempfile.mkdtemp(prefix="acs-bench-"))
        self.dir = self.tmp / "project"
        self.dir.mkdir()
        for name in ("__main__.py", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
            shutil.copy(ROOT / name, self.dir / name)
        (self.dir / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text().replace(
            "virtualenv: .venv", f"virtualenv: {ROOT / '.venv'}"))
        (self.tmp / "state").mkdir()
        self.env = {**os.environ, "PULUMI_BACKEND_URL": f"file://{self.tmp / 'state'}",
                    "PULUMI_CONFIG_PASSPHRASE": "acs-local-demo", "PULUMI_SKIP_UPDATE_CHECK": "true",
                    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true", "RAILWAY_API_URL": self.server.url,
                    "RAILWAY_API_TOKEN": DEFAULT_TOKEN}
        self.env.pop("RAILWAY_TOKEN", None)
        self.rows: list[dict[str, Any]] = []

    def stats(self) -> dict[str, Any]:
        return self.server.stats.snapshot()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(args, cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=3600)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return proc

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "infra", "--json", "--project-dir", str(self.dir), *args, check=check)

    def measure(self, name: str, action: Callable[[], Any], resources: int | None = None) -> dict[str, Any]:
        self.server.stats.reset()
        started = time.monotonic()
        extra = action()
        extra = extra if isinstance(extra, dict) else {}
        seconds = time.monotonic() - started
        s = self.stats()
        row = {"scenario": name, "api_calls": s["total"], "writes": s["write_total"], "seconds": round(seconds, 2),
               "rate_limited": s["rate_limited"], "by_operation": s["by_operation"], **extra}
        if resources:
            row["calls_per_resource"] = round(s["total"] / resources, 2)
        self.rows.append(row)
        print(f"  {name:<34} {row['api_calls']:>6} calls {row['seconds']:>8.2f}s", flush=True)
        return row

    def resources(self, stack: str) -> int:
        state = json.loads(self.run("pulumi", "stack", "export", "--stack", stack).stdout)
        return sum(1 for r in state["deployment"]["resources"] if r["type"] == "pulumi-python:dynamic:Resource")

    def parallel(self, numbers: list[int], command: str) -> dict[str, Any]:
        with ThreadPoolExecutor(max_workers=len(numbers)) as pool:
            procs = list(pool.map(lambda n: self.cli("pr", command, str(n), check=False), numbers))
        failed = [n for n, p in zip(numbers, procs) if p.returncode != 0]
        for n, p in zip(numbers, procs):
            if p.returncode != 0:
                print(f"    pr-{n} failed: {p.stderr[-400:]}", flush=True)
        return {"stacks": len(numbers), "failed": len(failed)}


def per_resource_calls(server: EmulatorServer) -> list[dict[str, Any]]:
    """API calls each provider spends to create, read and delete one object (in-process, same emulator)."""
    os.environ.update({"RAILWAY_API_URL": server.url, "RAILWAY_API_TOKEN": DEFAULT_TOKEN, "ACS_RAILWAY_RPS": "0"})
    from infra.providers import base
    from infra.providers.backup_schedule import BackupScheduleProvider
    from infra.providers.custom_domain import CustomDomainProvider
    from infra.providers.domain import RailwayDomainProvider
    from infra.providers.environment import EnvironmentProvider
    from infra.providers.limits import ServiceLimitsProvider
    from infra.providers.postgres import PostgresProvider
    from infra.providers.project import ProjectProvider
    from infra.providers.service import ServiceProvider
    from infra.providers.service_instance import ServiceSettingsProvider
    from infra.providers.variables import VariablesProvider
    from infra.providers.volume import VolumeProvider
    base.reset_client()

    def count(fn: Callable[[], Any]) -> tuple[int, Any]:
        server.stats.reset()
        out = fn()
        return server.stats.snapshot()["total"], out

    def create(provider: Any, props: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        inputs = provider.check({}, props).inputs
        calls, result = count(lambda: provider.create(inputs))
        return calls, result.id, result.outs

    rows = []
    _, pid, pouts = create(ProjectProvider(), {"name": "bench-resources", "default_environment_name": "base"})
    base_env = pouts["default_environment_id"]
    _, sid, _ = create(ServiceProvider(), {"project_id": pid, "environment_id": base_env, "name": "anchor",
                                           "image": "node:20"})
    _, vid, vouts = create(VolumeProvider(), {"project_id": pid, "environment_id": base_env, "service_id": sid,
                                              "mount_path": "/data"})
    cases: list[tuple[str, Any, dict[str, Any]]] = [
        ("project", ProjectProvider(), {"name": "bench-other"}),
        ("environment", EnvironmentProvider(), {"project_id": pid, "name": "bench-env", "ephemeral": True}),
        ("service (+variables)", ServiceProvider(), {"project_id": pid, "environment_id": base_env, "name": "svc",
                                                     "image": "node:20", "variables": {"A": "1"},
                                                     "secret_variables": {"S": "x"}}),
        ("service settings", ServiceSettingsProvider(), {"service_id": sid, "environment_id": base_env,
                                                         "healthcheck_path": "/health", "num_replicas": 1}),
        ("service limits", ServiceLimitsProvider(), {"service_id": sid, "environment_id": base_env,
                                                     "memory_bytes": 512 * 1024 ** 2, "vcpus": 1}),
        ("shared variables", VariablesProvider(), {"project_id": pid, "environment_id": base_env,
                                                   "variables": {"X": "1"}}),
        ("volume (sized)", VolumeProvider(), {"project_id": pid, "environment_id": base_env, "service_id": None,
                                              "mount_path": "/files", "size_mb": 2048}),
        ("postgres (service+volume+size)", PostgresProvider(), {"project_id": pid, "environment_id": base_env,
                                                                "volume_size_mb": 1024}),
        ("railway domain (chosen name)", RailwayDomainProvider(), {"project_id": pid, "environment_id": base_env,
                                                                   "service_id": sid, "subdomain": "bench"}),
        ("custom domain", CustomDomainProvider(), {"project_id": pid, "environment_id": base_env, "service_id": sid,
                                                   "domain": "bench.example.com"}),
        ("backup schedule", BackupScheduleProvider(), {"volume_instance_id": vouts["volume_instance_id"],
                                                       "kinds": ["DAILY"]}),
    ]
    for label, provider, props in cases:
        if label == "volume (sized)":  # a volume needs a service of its own
            _, own, _ = create(ServiceProvider(), {"project_id": pid, "environment_id": base_env, "name": "files",
                                                   "image": "nginx"})
            props = {**props, "service_id": own}
        c_create, id_, outs = create(provider, props)
        c_read, _ = count(lambda: provider.read(id_, outs))
        c_delete, _ = count(lambda: provider.delete(id_, outs))
        rows.append({"resource": label, "create": c_create, "read": c_read, "delete": c_delete})
    base.reset_client()
    return rows


IMAGE_A = "ghcr.io/acs-team/acs@sha256:" + "a" * 64
IMAGE_B = "ghcr.io/acs-team/acs@sha256:" + "b" * 64


def version_rows(bench: Bench) -> list[dict[str, Any]]:
    """Issue 16: a release (new image, unchanged configuration) and a promotion (dev's exact image to prod)."""
    bench.cli("deploy", "dev", "--image", IMAGE_A, "--commit", "a" * 40)
    bench.cli("deploy", "prod", "--image", IMAGE_A, "--commit", "a" * 40)
    bench.measure("release: deploy prod --image (new image)",
                  lambda: bench.cli("deploy", "prod", "--image", IMAGE_B, "--commit", "b" * 40))
    bench.measure("release again (same image: no-op)", lambda: bench.cli("deploy", "prod", "--image", IMAGE_B))
    bench.cli("deploy", "dev", "--image", IMAGE_A, "--commit", "a" * 40)
    bench.measure("promotion: promote dev prod", lambda: bench.cli("promote", "dev", "prod"))
    return bench.rows


def machine() -> dict[str, Any]:
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    pulumi = subprocess.run(["pulumi", "version"], capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "memory_gib": round(int(mem) / 1024 ** 2, 1), "cpu": cpu,
            "python": platform.python_version(), "pulumi": pulumi, "platform": platform.platform()}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks")
    ap.add_argument("--latency-ms", type=float, default=100.0, help="latency the emulator adds to every request")
    ap.add_argument("--parallel", default="10,50", help="PR stacks brought up at once, comma-separated")
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "latest.json"))
    ap.add_argument("--only", choices=["all", "pr", "versions"], default="all",
                    help="pr: dev up and the single-PR rows only; versions: a release and a promotion")
    ap.add_argument("--processes", type=int, default=50, help="previews brought up by as many separate runners")
    ap.add_argument("--quota-previews", type=int, default=200, help="previews queued against a budget too small")
    ap.add_argument("--quota-budget", type=int, default=1000, help="requests per window for that scenario (Hobby)")
    ap.add_argument("--quota-window", type=float, default=3600, help="the window's length in seconds (Railway: 1 h)")
    ap.add_argument("--quota-runners", type=int, default=scale.RUNNERS_AT_ONCE,
                    help="runners alive at once in that scenario (each re-reads the budget once per window it waits: "
                         "keep the budget well above this)")
    ap.add_argument("--only-scale", action="store_true", help="run only the team-scale scenarios")
    args = ap.parse_args()
    bench = Bench(args.latency_ms)
    facts = machine()
    print(f"machine: {facts}\nemulator latency: {args.latency_ms:.0f} ms per request\n", flush=True)
    if args.only == "pr":
        return finish(bench, facts, args, [], pr_rows(bench))
    if args.only_scale:
        return run_scale(bench, facts, args)
    if args.only == "versions":
        return finish(bench, facts, args, [], version_rows(bench))
    print("per resource (create / read / delete calls):", flush=True)
    per_resource = per_resource_calls(bench.server)
    for row in per_resource:
        print(f"  {row['resource']:<34} {row['create']} / {row['read']} / {row['delete']}", flush=True)
    bench.server.backend.reset()
    print("\nstack operations:", flush=True)
    bench.run("pulumi", "stack", "init", "dev")
    bench.measure("dev up from empty", lambda: bench.run("pulumi", "up", "--yes", "--skip-preview", "--stack", "dev"))
    bench.measure("no-op up (dev)", lambda: bench.run("pulumi", "up", "--yes", "--skip-preview", "--stack", "dev"))
    dev_resources = bench.resources("dev")
    bench.measure("preview --refresh (dev)", lambda: bench.run("pulumi", "preview", "--refresh", "--stack", "dev"),
                  resources=dev_resources)
    bench.run("pulumi", "stack", "init", "prod")
    bench.measure("prod up from empty",
                  lambda: bench.run("pulumi", "up", "--yes", "--skip-preview", "--stack", "prod"))
    single_pr(bench)
    bench.server.limiter.set_limits(10, 1000)  # Railway Hobby from here on
    for n in [int(x) for x in args.parallel.split(",") if x]:
        numbers = list(range(100, 100 + n))
        bench.server.limiter.set_limits(10, 1000)
        bench.measure(f"{n} PR stacks up in parallel (Hobby)", lambda: bench.parallel(numbers, "up"))
        if n == 10:
            bench.server.limiter.set_limits(10, 1000)
            bench.measure("drift: dev + prod + 10 PR stacks (Hobby)",
                          lambda: {"exit": bench.cli("drift", "--all", check=False).returncode})
        bench.server.limiter.set_limits(10, 1000)
        bench.measure(f"{n} PR stacks down in parallel (Hobby)", lambda: bench.parallel(numbers, "down"))
    finish(bench, facts, args, per_resource, bench.rows)


def single_pr(bench: Bench) -> None:
    bench.measure("pr up (one PR)", lambda: bench.cli("pr", "up", "1"))
    bench.measure("pr up again (no change)", lambda: bench.cli("pr", "up", "1"))
    bench.measure("pr down (one PR)", lambda: bench.cli("pr", "down", "1"))


def pr_rows(bench: Bench) -> list[dict[str, Any]]:
    bench.run("pulumi", "stack", "init", "dev")
    bench.measure("dev up from empty", lambda: bench.run("pulumi", "up", "--yes", "--skip-preview", "--stack", "dev"))
    single_pr(bench)
    return bench.rows


def finish(bench: Bench, facts: dict[str, Any], args: argparse.Namespace, per_resource: list[dict[str, Any]],
           rows: list[dict[str, Any]]) -> None:
    leftovers = [e["name"] for e in bench.server.backend.inventory()["environments"] if e["name"].startswith("pr-")]
    if args.only == "all":
        scale.run(bench, args.processes, args.quota_previews, args.quota_budget, args.quota_window, args.quota_runners)
    result = {"machine": facts, "latency_ms": args.latency_ms, "per_resource": per_resource,
              "scenarios": rows, "pr_environments_left": leftovers}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print_table(result)
    bench.server.stop()
    shutil.rmtree(bench.tmp, ignore_errors=True)


def run_scale(bench: Bench, facts: dict[str, Any], args: argparse.Namespace) -> None:
    print("team-scale scenarios:", flush=True)
    scale.env_ready(bench)
    scale.run(bench, args.processes, args.quota_previews, args.quota_budget, args.quota_window, args.quota_runners)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": facts, "latency_ms": args.latency_ms, "scenarios": bench.rows},
                                         indent=2))
    scale.print_scale(bench.rows)
    bench.server.stop()
    shutil.rmtree(bench.tmp, ignore_errors=True)


def print_table(result: dict[str, Any]) -> None:
    print("\n| scenario | API calls | writes | 429s | seconds | notes |\n|---|---:|---:|---:|---:|---|")
    for row in result["scenarios"]:
        notes = []
        if "calls_per_resource" in row:
            notes.append(f"{row['calls_per_resource']} calls/resource")
        if "stacks" in row:
            notes.append(f"{row['stacks'] - row['failed']}/{row['stacks']} succeeded")
        if "exit" in row:
            notes.append(f"exit {row['exit']}")
        print(f"| {row['scenario']} | {row['api_calls']} | {row['writes']} | {row['rate_limited']} | "
              f"{row['seconds']} | {', '.join(notes)} |")
    print("\n| resource | create | read | delete |\n|---|---:|---:|---:|")
    for row in result["per_resource"]:
        print(f"| {row['resource']} | {row['create']} | {row['read']} | {row['delete']} |")
    print(f"\nPR environments left after the run: {result['pr_environments_left'] or 'none'}")
    scale.print_scale([row for row in result["scenarios"] if "stacks" in row or "calls_per_environment" in row])


if __name__ == "__main__":
    main()
