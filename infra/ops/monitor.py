"""Monitored rollout: watch a service's metrics for a window; on a threshold breach roll back and say which.

Every tick reads the last interval in one API call (CPU and memory against their limits, request and 5xx
counts, p95 latency) and compares it with the stack's alert thresholds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from infra.config import Alerts
from infra.railway import RailwayClient, client_from_env
from infra.ops.release import Target, rollback

METRICS = ("error_rate", "response_time_ms", "memory", "cpu")
LABELS = {"error_rate": "error rate", "response_time_ms": "response time (p95)", "memory": "memory",
          "cpu": "CPU"}


@dataclass
class Sample:
    at: float
    values: dict[str, float]


@dataclass
class MonitorReport:
    stack: str
    service: str
    window_seconds: float
    thresholds: dict[str, float]
    samples: list[Sample] = field(default_factory=list)
    breach: dict[str, Any] | None = None
    rolled_back: dict[str, Any] | None = None

    @property
    def stable(self) -> bool:
        return self.breach is None

    def worst(self) -> dict[str, float]:
        return {m: max((s.values[m] for s in self.samples), default=0.0) for m in METRICS}

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "service": self.service, "window_seconds": self.window_seconds,
                "thresholds": self.thresholds, "worst": self.worst(), "verdict": "stable" if self.stable else "breach",
                "breach": self.breach, "rolled_back": self.rolled_back, "ticks": len(self.samples)}


def thresholds_of(alerts: Alerts) -> dict[str, float]:
    return {"error_rate": alerts.error_rate, "response_time_ms": alerts.response_time, "memory": alerts.memory,
            "cpu": alerts.cpu}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def read_interval(client: RailwayClient, t: Target, service_id: str, start: float, end: float,
                  step: int) -> dict[str, float]:
    data = client.query("ServiceMetrics", serviceId=service_id, environmentId=t.environment_id,
                        startDate=_iso(start), endDate=_iso(end), step=step)
    series = {m["measurement"]: [v["value"] for v in m["values"]] for m in data["metrics"]}
    requests = sum(s["value"] for s in data["requests"]["samples"])
    errors = sum(s["value"] for s in data["errors"]["samples"])

    def share(usage: str, limit: str) -> float:
        used, cap = series.get(usage) or [0.0], series.get(limit) or [0.0]
        return max(used) / max(cap) if max(cap) else 0.0

    return {"error_rate": errors / requests if requests else 0.0,
            "response_time_ms": max((s["p95"] for s in data["latency"]["samples"]), default=0.0),
            "memory": share("MEMORY_USAGE_GB", "MEMORY_LIMIT_GB"), "cpu": share("CPU_USAGE", "CPU_LIMIT")}


def fmt(metric: str, value: float) -> str:
    return f"{value:.0f}ms" if metric == "response_time_ms" else f"{value * 100:.2f}%"


def monitor(t: Target, service: str, alerts: Alerts, window_s: float, interval_s: float, *,
            roll_back: bool = True, on_tick: Callable[[int, int, dict[str, float]], Any] | None = None,
            client: RailwayClient | None = None, root: Path | None = None) -> MonitorReport:
    """With `root` (the project), a breach rolls the stack's release back: the previous release's image runs
    and is pinned again, and the bad release's record says why (a later `up` does not bring it back)."""
    client = client or client_from_env()
    service_id = t.service_ids[service]
    report = MonitorReport(t.stack, service, window_s, thresholds_of(alerts))
    ticks = max(1, int(round(window_s / interval_s)))
    step = max(1, int(interval_s))
    for tick in range(1, ticks + 1):
        time.sleep(interval_s)
        end = time.time()
        values = read_interval(client, t, service_id, end - interval_s, end, step)
        report.samples.append(Sample(end, values))
        if on_tick:
            on_tick(tick, ticks, values)
        breached = [(m, values[m]) for m in METRICS if values[m] > report.thresholds[m]]
        if breached:
            metric, observed = breached[0]
            report.breach = {"metric": metric, "threshold": report.thresholds[metric], "observed": observed,
                             "message": f"{LABELS[metric]} {fmt(metric, observed)} > {fmt(metric, report.thresholds[metric])}"}
            if roll_back:
                report.rolled_back = _roll_back(t, service, report.breach["message"], client, root)
            break
    return report


def _roll_back(t: Target, service: str, reason: str, client: RailwayClient, root: Path | None) -> dict[str, Any]:
    if root is None:  # no stack to record in: one deployment back
        return rollback(t, service, client=client)
    from infra.ops import promotion
    return promotion.roll_back_release(t.stack, root, service=service, reason=reason)


# ---- report ---------------------------------------------------------------------------------------------
SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], ceiling: float) -> str:
    top = max([ceiling, *values]) or 1.0
    return "".join(SPARKS[min(len(SPARKS) - 1, int(v / top * (len(SPARKS) - 1)))] for v in values)


def svg_chart(report: MonitorReport, width: int = 640, row: int = 70) -> str:
    """One small line chart per metric, threshold dashed in red."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(METRICS) + 10}" '
             'font-family="sans-serif" font-size="11">']
    for i, metric in enumerate(METRICS):
        values = [s.values[metric] for s in report.samples]
        limit = report.thresholds[metric]
        top = max([limit * 1.25, *values]) or 1.0
        y0 = i * row + 10

        def y(v: float) -> float:
            return y0 + (row - 25) * (1 - v / top) + 5

        xs = [60 + (width - 80) * (j / max(1, len(values) - 1)) for j in range(len(values))]
        points = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in zip(xs, values))
        parts.append(f'<text x="4" y="{y0 + 12}">{LABELS[metric]}</text>')
        parts.append(f'<line x1="60" x2="{width - 20}" y1="{y(limit):.1f}" y2="{y(limit):.1f}" stroke="#d33" '
                     'stroke-dasharray="4 3"/>')
        parts.append(f'<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{points}"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def markdown(report: MonitorReport, chart_name: str | None = None) -> str:
    worst = report.worst()
    verdict = "stable" if report.stable else f"**breach: {report.breach['message']}**"
    lines = [f"## Rollout monitor: {report.stack}/{report.service}", "",
             f"Window: {report.window_seconds:.0f}s, {len(report.samples)} reading(s). Verdict: {verdict}.", "",
             "| metric | threshold | worst observed | trend |", "|---|---:|---:|---|"]
    for metric in METRICS:
        values = [s.values[metric] for s in report.samples]
        lines.append(f"| {LABELS[metric]} | {fmt(metric, report.thresholds[metric])} | {fmt(metric, worst[metric])} |"
                     f" `{sparkline(values, report.thresholds[metric])}` |")
    if report.rolled_back:
        lines += ["", f"Rolled back to deployment `{report.rolled_back['rolled_back_to']}` "
                      f"(now live: `{report.rolled_back['deployment']}`)."]
    if chart_name:
        lines += ["", f"![monitored series]({chart_name})"]
    return "\n".join(lines) + "\n"


def write_report(report: MonitorReport, path: Path) -> None:
    chart = path.with_suffix(".svg")
    chart.write_text(svg_chart(report))
    path.write_text(markdown(report, chart.name))


__all__ = ["monitor", "write_report", "markdown", "MonitorReport"]
