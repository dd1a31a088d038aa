"""Stack operations through the Pulumi Automation API, shared by the CLI commands.

Runs the same program as `pulumi up` in the project directory. Two runs for one stack are serialised by a file
lock (the second waits, up to a timeout), on top of the backend's own stack lock.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pulumi.automation as auto
from infra.config import PR_STACK, ConfigError, load_stack_file

PROJECT_NAME = "acs"
PR_NAME = re.compile(r"^pr-(\d+)$")


class LockTimeout(RuntimeError):
    """Another run holds the stack."""


class StaleLock(LockTimeout):
    """The lock a killed run left could not be released; nothing else may run until it is."""


@dataclass
class StackResult:
    stack: str
    action: str
    url: str | None = None
    changes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "action": self.action, "url": self.url, "changes": self.changes,
                "outputs": self.outputs, "seconds": round(self.seconds, 2)}


def project_dir(explicit: str | None = None) -> Path:
    """The Pulumi project: --project-dir, ACS_PROJECT_DIR, or the directory holding this package."""
    path = Path(explicit or os.environ.get("ACS_PROJECT_DIR") or Path(__file__).resolve().parent.parent)
    if not (path / "Pulumi.yaml").exists():
        raise ConfigError(f"no Pulumi.yaml in {path}")
    return path


@contextmanager
def stack_lock(stack: str, timeout: float) -> Iterator[None]:
    """Serialises runs for one stack on this machine (per backend)."""
    key = hashlib.sha256(f"{os.environ.get('PULUMI_BACKEND_URL', '')}|{stack}".encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"acs-stack-{key}.lock"
    with open(path, "w") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"another run for stack {stack} is in progress (waited {timeout:.0f}s)")
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def workspace(root: Path) -> auto.LocalWorkspace:
    return auto.LocalWorkspace(work_dir=str(root))


def select(stack: str, root: Path, create: bool) -> auto.Stack:
    opts = auto.LocalWorkspaceOptions(work_dir=str(root))
    if create:
        return auto.create_or_select_stack(stack, work_dir=str(root), opts=opts)
    return auto.select_stack(stack, work_dir=str(root), opts=opts)


def stack_exists(stack: str, root: Path) -> bool:
    return any(s.name == stack for s in workspace(root).list_stacks())


def ensure_pr_secrets(stack: auto.Stack, root: Path) -> list[str]:
    """A PR stack gets preview secrets: `ACS_PREVIEW_<NAME>` from CI if given, else a random value made once and
    kept as a stack secret. Never the dev or prod values."""
    names = (load_stack_file("dev", root).get("acs:environment") or {}).get("secrets") or []
    present = stack.get_all_config()
    made = []
    for name in names:
        if f"{PROJECT_NAME}:{name}" in present:
            continue
        value = os.environ.get(f"ACS_PREVIEW_{name}") or secrets.token_urlsafe(32)
        stack.set_config(f"{PROJECT_NAME}:{name}", auto.ConfigValue(value=value, secret=True))
        made.append(name)
    return made


def _changes(summary: Any) -> dict[str, int]:
    return {k: v for k, v in (summary.resource_changes or {}).items() if v}


def up(stack_name: str, root: Path, *, lock_timeout: float = 600, on_output: Callable[[str], Any] | None = None,
       expect_pr: bool = False) -> StackResult:
    if expect_pr and not PR_STACK.match(stack_name):
        raise ConfigError(f"{stack_name!r} is not a PR stack")
    started = time.monotonic()
    with stack_lock(stack_name, lock_timeout):
        stack = select(stack_name, root, create=True)
        if PR_STACK.match(stack_name):
            ensure_pr_secrets(stack, root)
        result = stack.up(on_output=on_output, show_secrets=False, suppress_progress=True)
    outputs = {k: ("[secret]" if v.secret else v.value) for k, v in result.outputs.items()}
    return StackResult(stack_name, "up", outputs.get("url"), _changes(result.summary), outputs,
                       time.monotonic() - started)


def destroy_and_remove(stack_name: str, root: Path, *, lock_timeout: float = 600,
                       on_output: Callable[[str], Any] | None = None) -> StackResult:
    """Destroys the stack's resources and removes the stack; a stack that never existed is fine."""
    started = time.monotonic()
    with stack_lock(stack_name, lock_timeout):
        if not stack_exists(stack_name, root):
            return StackResult(stack_name, "absent", seconds=time.monotonic() - started)
        stack = select(stack_name, root, create=False)
        result = stack.destroy(on_output=on_output, show_secrets=False, suppress_progress=True)
        workspace(root).remove_stack(stack_name)
        (root / f"Pulumi.{stack_name}.yaml").unlink(missing_ok=True)
    return StackResult(stack_name, "destroyed", changes=_changes(result.summary),
                       seconds=time.monotonic() - started)


@dataclass
class PrStack:
    name: str
    number: int
    updated: datetime | None
    url: str | None
    environment_id: str | None

    def age_hours(self, now: datetime | None = None) -> float | None:
        if self.updated is None:
            return None
        return ((now or datetime.now(timezone.utc)) - self.updated).total_seconds() / 3600


def pr_stacks(root: Path) -> list[PrStack]:
    out = []
    for summary in workspace(root).list_stacks():
        match = PR_NAME.match(summary.name)
        if not match:
            continue
        updated = _parse_time(summary.last_update)
        outputs = select(summary.name, root, create=False).outputs() if summary.resource_count else {}
        out.append(PrStack(summary.name, int(match.group(1)), updated,
                           outputs["url"].value if "url" in outputs else None,
                           outputs["environmentId"].value if "environmentId" in outputs else None))
    return sorted(out, key=lambda s: s.number)


def _parse_time(value: str | datetime | None) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def stack_output(stack_name: str, root: Path, key: str) -> Any:
    outputs = select(stack_name, root, create=False).outputs()
    return outputs[key].value if key in outputs else None


def parse_duration(text: str) -> float:
    """'36h', '7d', '90m' -> hours."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([mhd])", text.strip())
    if not match:
        raise ConfigError(f"--max-age {text!r}: use a number with m, h or d (e.g. 36h, 7d)")
    return float(match.group(1)) * {"m": 1 / 60, "h": 1, "d": 24}[match.group(2)]


def restore_checkpoint(stack_name: str) -> bool:
    """A run killed while writing the checkpoint of a file backend leaves it truncated: put back the newest
    intact copy (the backend's own `.bak`, else its backups folder). Resources made after that copy are adopted
    by name on the next up."""
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        return False
    base = Path(url[len("file://"):]) / ".pulumi"
    target = base / "stacks" / PROJECT_NAME / f"{stack_name}.json"
    candidates = [target.with_name(target.name + ".bak")]
    candidates += sorted((base / "backups" / PROJECT_NAME / stack_name).glob(f"{stack_name}.*.json"),
                         key=lambda p: p.stat().st_mtime, reverse=True)
    for candidate in candidates:
        try:
            json.loads(candidate.read_text())
        except (OSError, ValueError):
            continue
        target.write_text(candidate.read_text())
        return True
    return False


def recover(stack_name: str, root: Path, *, on_output: Callable[[str], Any] | None = None) -> StackResult:
    """After a run was killed midway: release its stale lock, drop its pending creates (the providers adopt
    whatever those creates left in Railway on the next create, by name within the stack's environment), then
    bring the stack to the declared state."""
    started = time.monotonic()
    stack = select(stack_name, root, create=False)
    try:
        stack.export_stack()
    except auto.CommandError as exc:
        if "failed to load checkpoint" not in str(exc) or not restore_checkpoint(stack_name):
            raise
    try:
        stack.cancel()  # releases the dead run's lock; succeeds when there is none (file backend)
    except auto.CommandError as exc:
        cause = str(exc).split("stderr:", 1)[-1].strip()
        raise StaleLock(f"{stack_name}: could not release the lock a killed run left: {cause}") from exc
    stack.refresh(clear_pending_creates=True, on_output=on_output, suppress_progress=True)
    with stack_lock(stack_name, 600):
        result = stack.up(on_output=on_output, show_secrets=False, suppress_progress=True)
    outputs = {k: ("[secret]" if v.secret else v.value) for k, v in result.outputs.items()}
    return StackResult(stack_name, "recovered", outputs.get("url"), _changes(result.summary), outputs,
                       time.monotonic() - started)
