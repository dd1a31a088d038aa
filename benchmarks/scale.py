"""Team-scale scenarios: many runners sharing one token and one state backend, each a separate process with its
own clone, workspace, temp dir and Pulumi home (only the backend directory and the Railway token are shared).

- previews by separate processes under Hobby limits: failures, 429s, runs a 429 failed, wall seconds;
- previews against a budget that cannot hold them (a short rate window stands in for Railway's hour): how they
  queue, and that no environment is left half-made;
- drift: API calls per environment for `drift` over dev, prod and the previews.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNNER_FILES = ("__main__.py", "Pulumi.dev.yaml", "Pulumi.prod.yaml")


def runner_env(bench: Any, base: Path) -> tuple[Path, dict[str, str]]:
    """A runner's own clone and environment; the state backend and the token are the bench's (shared)."""
    work, tmp, home = base / "project", base / "tmp", base / "home"
    for path in (work, tmp, home):
        path.mkdir(parents=True, exist_ok=True)
    for name in RUNNER_FILES:
        shutil.copy(ROOT / name, work / name)
    (work / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text().replace(
        "virtualenv: .venv", f"virtualenv: {ROOT / '.venv'}"))
    env = {**bench.env, "TMPDIR": str(tmp), "PULUMI_HOME": str(home)}
    env.pop("ACS_RAILWAY_RPS", None)  # each runner paces itself from Railway's answers
    return work, env


# Runners alive at once on this machine: each holds the CLI, an engine, a language host and a provider (about
# 300 MB together), so 200 at once would not fit in 24 GiB. More previews than this queue for a free runner, as CI
# jobs queue for runners; every runner still checks the shared budget itself.
RUNNERS_AT_ONCE = 50


def pr_up_processes(bench: Any, numbers: list[int], at_once: int = RUNNERS_AT_ONCE) -> dict[str, Any]:
    """`acs-infra pr up N` for every N, each in its own runner, up to `at_once` at a time."""
    runners = [runner_env(bench, bench.tmp / f"runner-{n}") for n in numbers]

    def one(args: tuple[int, tuple[Path, dict[str, str]]]) -> dict[str, Any]:
        n, (work, env) = args
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "infra", "--json", "--project-dir", str(work), "pr", "up", str(n)],
                              env=env, capture_output=True, text=True, timeout=7200)
        return {"pr": n, "code": proc.returncode, "seconds": time.monotonic() - started,
                "waited_for_budget": "hourly API budget" in proc.stderr,
                "failed_by_429": proc.returncode != 0 and "429" in proc.stdout + proc.stderr,
                "error": proc.stderr[-300:] if proc.returncode else ""}

    with ThreadPoolExecutor(max_workers=min(len(numbers), at_once)) as pool:
        runs = list(pool.map(one, zip(numbers, runners)))
    for run in runs:
        if run["code"]:
            print(f"    pr-{run['pr']} failed: {run['error']}", flush=True)
    finished = sorted(run["seconds"] for run in runs)
    return {"stacks": len(numbers), "runners_at_once": min(len(numbers), at_once), "failed": sum(1 for r in runs if r["code"]),
            "failed_by_429": sum(1 for r in runs if r["failed_by_429"]),
            "waited_for_budget": sum(1 for r in runs if r["waited_for_budget"]),
            "first_done_s": round(finished[0], 1), "last_done_s": round(finished[-1], 1),
            "half_made": half_made(bench, numbers)}


def half_made(bench: Any, numbers: list[int]) -> list[str]:
    """Preview environments that exist without their whole content (web service with its domain)."""
    inv = bench.server.backend.inventory()
    out = []
    for env in inv["environments"]:
        if env["name"] not in {f"pr-{n}" for n in numbers}:
            continue
        services = {i["serviceId"] for i in inv["instances"] if i["environmentId"] == env["id"]}
        domains = [d for d in inv["service_domains"] if d["environmentId"] == env["id"]]
        if not services or not domains:
            out.append(env["name"])
    return out


def drift_calls(bench: Any, stacks: list[str]) -> dict[str, Any]:
    """API calls of one `drift` over the given stacks, per environment."""
    bench.server.stats.reset()
    code = bench.cli("drift", *stacks, check=False).returncode
    calls = bench.server.stats.snapshot()
    return {"exit": code, "environments": len(stacks), "calls_per_environment": round(calls["total"] / len(stacks), 2)}


def run(bench: Any, processes: int, quota_previews: int, quota_budget: int, quota_window_s: float,
        quota_runners: int = RUNNERS_AT_ONCE) -> None:
    """The scale scenarios; the full ones are 50 processes and 200 previews against Hobby's 1,000 per hour."""
    first = list(range(500, 500 + processes))
    if processes:  # --processes 0 runs the quota scenario alone
        bench.server.limiter.set_limits(10, 1000)  # Railway Hobby
        bench.measure(f"{processes} previews by {processes} processes (Hobby)", lambda: pr_up_processes(bench, first))
        bench.server.limiter.set_limits(10000, 1000)
        bench.measure(f"drift dev prod + {processes} previews", lambda: drift_calls(bench, ["dev", "prod", *[
            f"pr-{n}" for n in first]]))
        bench.measure("drift dev prod", lambda: drift_calls(bench, ["dev", "prod"]))
    queued = list(range(700, 700 + quota_previews))
    bench.server.limiter.set_limits(10, quota_budget, quota_window_s)
    bench.measure(f"{quota_previews} previews, budget {quota_budget} per {quota_window_s:.0f}s window",
                  lambda: {**pr_up_processes(bench, queued, quota_runners), "budget_per_window": quota_budget,
                           "window_s": quota_window_s})
    bench.server.limiter.set_limits(100000, 100000000)


def print_scale(rows: list[dict[str, Any]]) -> None:
    keys = ("stacks", "runners_at_once", "failed", "failed_by_429", "waited_for_budget", "first_done_s", "last_done_s", "half_made",
            "calls_per_environment", "budget_per_window", "window_s")
    print("\n| scale scenario | API calls | 429s | seconds | figures |\n|---|---:|---:|---:|---|")
    for row in rows:
        figures = ", ".join(f"{k}={json.dumps(row[k])}" for k in keys if k in row)
        print(f"| {row['scenario']} | {row['api_calls']} | {row['rate_limited']} | {row['seconds']} | {figures} |")


def env_ready(bench: Any) -> None:
    """dev and prod exist before the previews (they derive from dev)."""
    for stack in ("dev", "prod"):
        if bench.run("pulumi", "stack", "ls", "--json", check=False).stdout.count(f'"name": "{stack}"') == 0:
            bench.run("pulumi", "stack", "init", stack)
        bench.run("pulumi", "up", "--yes", "--skip-preview", "--stack", stack)

