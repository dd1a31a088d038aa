"""A drift check's result and its renderings (text, markdown, exit code). Values a report shows have passed
through `masked` or a fingerprint: a secret is never rendered."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MASK = "[secret]"


@dataclass
class FieldDrift:
    field: str
    declared: Any
    live: Any


@dataclass
class ResourceDrift:
    resource: str
    kind: str  # changed | deleted | unmanaged
    fields: list[FieldDrift] = field(default_factory=list)
    note: str = ""
    removal: dict[str, Any] | None = None  # for unmanaged objects: the mutation that removes it


@dataclass
class StackDrift:
    stack: str
    resources: list[ResourceDrift] = field(default_factory=list)
    error: str | None = None
    fixed: dict[str, int] | None = None
    remaining: list[ResourceDrift] = field(default_factory=list)  # what a fix left in place (unmanaged, conflicts)
    seconds: float = 0.0

    @property
    def drifted(self) -> bool:
        return bool(self.resources)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted": self.drifted}


def masked(value: Any) -> Any:
    if isinstance(value, dict) and ("ciphertext" in value or "4dabf18193072939515e22adb298388d" in value):
        return MASK
    return value


# ---- rendering ----------------------------------------------------------------------------------------------
def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    return str(masked(value))


def text_report(results: list[StackDrift]) -> str:
    lines = []
    for r in results:
        if r.error:
            lines.append(f"{r.stack}: CHECK FAILED: {r.error}")
            continue
        lines.append(f"{r.stack}: {'DRIFT' if r.drifted else 'no drift'} ({r.seconds:.1f}s)")
        for res in r.resources:
            lines.append(f"  {res.resource}: {res.kind}" + (f" - {res.note}" if res.note else ""))
            for f in res.fields:
                lines.append(f"    {f.field}: declared {_show(f.declared)}, live {_show(f.live)}")
        if r.fixed is not None:
            lines.append(f"  fixed: {r.fixed or 'nothing to change'}")
    return "\n".join(lines)


def markdown_report(results: list[StackDrift]) -> str:
    lines = ["## Drift report", "", "| stack | resource | kind | field | declared | live |", "|---|---|---|---|---|---|"]
    for r in results:
        if r.error:
            lines.append(f"| {r.stack} | - | **check failed** | - | - | {r.error} |")
        elif not r.drifted:
            lines.append(f"| {r.stack} | - | no drift | - | - | - |")
        for res in r.resources:
            if not res.fields:
                lines.append(f"| {r.stack} | {res.resource} | {res.kind} | - | - | {res.note} |")
            for f in res.fields:
                lines.append(f"| {r.stack} | {res.resource} | {res.kind} | `{f.field}` | `{_show(f.declared)}` | "
                             f"`{_show(f.live)}` |")
    return "\n".join(lines)


def exit_code(results: list[StackDrift]) -> int:
    """1: a check failed (never mistaken for drift); 2: drift (after --fix: drift left in place); 0: clean."""
    if any(r.error for r in results):
        return 1
    left = [r for r in results if (r.remaining if r.fixed is not None else r.drifted) or r.remaining]
    return 2 if left else 0
