"""The configuration half of a promotion: what moves from one stage's stack file to another's and what stays.
The image moves as data, by digest (infra.ops.promotion); this module compares and edits the stack files."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from infra.ops.release import _config

STAGE_SPECIFIC_VARIABLES = {"NODE_ENV", "LOG_LEVEL"}
# The image is not promoted through the stack file: it moves as data, by digest (infra.ops.promotion). A declared
# `source` is each stage's own starting point (and a repo source builds from the stage's own branch).
PROMOTED_SERVICE_FIELDS = ("start_command", "pre_deploy_command", "healthcheck", "restart_policy", "port")
KEPT_SERVICE_FIELDS = ("source", "memory", "vcpu", "replicas", "region")
# The health path is the code's (it moves); how long a stage waits for it is the stage's own tuning, like memory
# (prod runs a bigger service, slower to start): the destination's timeout stays.
KEPT_HEALTHCHECK_FIELDS = {"timeout_seconds": "timeoutSeconds"}


def _promoted(key: str, src: Any, dst: Any) -> Any:
    """What promotion sets `key` to in the destination (model field names)."""
    if key == "healthcheck" and src and dst:
        return {**src, **{k: dst[k] for k in KEPT_HEALTHCHECK_FIELDS if k in dst}}
    return src


def promote_plan(source: str, dest: str, root: Path) -> dict[str, Any]:
    """What differs between two stacks' declared configurations, and what promotion would change in `dest`:
    code and behaviour move (source image, commands, health path, non-stage variables); capacity, the health-check
    timeout, data and domains stay. Secret values are never compared: only their names."""
    a, b = _config(source, root), _config(dest, root)
    differences: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    a_services, b_services = {s.name: s for s in a.services}, {s.name: s for s in b.services}
    for name in sorted(set(a_services) | set(b_services)):
        if name not in b_services:
            differences.append({"what": f"service {name}", source: "present", dest: "absent"})
            changes.append({"change": f"add service {name}"})
            continue
        if name not in a_services:
            differences.append({"what": f"service {name}", source: "absent", dest: "present"})
            continue
        sa, sb = a_services[name].model_dump(), b_services[name].model_dump()
        for key in PROMOTED_SERVICE_FIELDS + KEPT_SERVICE_FIELDS:
            if sa.get(key) != sb.get(key):
                differences.append({"what": f"{name}.{key}", source: sa.get(key), dest: sb.get(key)})
                to = _promoted(key, sa.get(key), sb.get(key))
                if key in PROMOTED_SERVICE_FIELDS and to != sb.get(key):
                    changes.append({"change": f"{name}.{key}", "from": sb.get(key), "to": to})
    for key in sorted(set(a.variables) | set(b.variables)):
        va, vb = a.variables.get(key), b.variables.get(key)
        if va != vb:
            differences.append({"what": f"variable {key}", source: va, dest: vb})
            if key not in STAGE_SPECIFIC_VARIABLES and va is not None:
                changes.append({"change": f"variable {key}", "from": vb, "to": va})
    for name in sorted(set(a.secrets) ^ set(b.secrets)):
        differences.append({"what": f"secret {name}", source: "declared" if name in a.secrets else "absent",
                            dest: "declared" if name in b.secrets else "absent"})
        if name in a.secrets:
            changes.append({"change": f"secret {name} must be set in {dest} (value not copied)"})
    for key, va, vb in (("database", a.database.model_dump(), b.database.model_dump()),
                        ("domain", a.domain.model_dump(), b.domain.model_dump())):
        if va != vb:
            differences.append({"what": key, source: va, dest: vb})
    return {"from": source, "to": dest, "differences": differences, "changes": changes}


def apply_promotion(plan: dict[str, Any], root: Path) -> Path:
    """Writes the promoted fields into the destination's stack file (secrets are never copied). The file is
    edited in place, round-trip: comments, key order and untouched values stay as the team wrote them."""
    from ruamel.yaml import YAML
    source = _config(plan["from"], root)
    path = root / f"Pulumi.{plan['to']}.yaml"
    rt = YAML()  # round-trip mode
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)  # the committed stack files' layout
    rt.width = 4096  # never fold a long value (ciphertexts) onto a second line
    doc = rt.load(path.read_text())
    env = doc["config"]["acs:environment"]
    by_name = {s.name: s for s in source.services}
    for svc in env["services"]:
        if svc["name"] not in by_name:
            continue
        src = by_name[svc["name"]].model_dump(by_alias=True, exclude_none=True)
        for key in ("startCommand", "preDeployCommand", "healthcheck", "restartPolicy", "port"):
            if key in src:
                _assign(svc, key, _kept_healthcheck(src[key], svc.get(key)) if key == "healthcheck" else src[key])
    for key, value in source.variables.items():
        if key not in STAGE_SPECIFIC_VARIABLES:
            _assign(env.setdefault("variables", {}), key, value)
    text = io.StringIO()
    rt.dump(doc, text)
    newline = "\r\n" if b"\r\n" in path.read_bytes() else "\n"  # the file's own line endings (adv22 minor 7)
    with path.open("w", newline=newline) as f:
        f.write(text.getvalue())
    return path


def _kept_healthcheck(value: dict[str, Any], dest: Any) -> dict[str, Any]:
    """The source's health check with the destination's own timeout as its file has it (set, or left default)."""
    if not isinstance(dest, dict):
        return value
    kept = {**value}
    for alias in KEPT_HEALTHCHECK_FIELDS.values():
        if alias in dest:
            kept[alias] = dest[alias]
        else:
            kept.pop(alias, None)
    return kept


def _assign(target: Any, key: str, value: Any) -> None:
    """Sets target[key] = value, editing a nested mapping in place rather than replacing it: a comment the
    round-trip loader attached to an existing mapping (e.g. one written above the next key) survives."""
    current = target.get(key)
    if isinstance(current, dict) and isinstance(value, dict):
        for gone in [k for k in current if k not in value]:
            del current[gone]
        for k, v in value.items():
            _assign(current, k, v)
    elif current != value or key not in target:
        target[key] = _unambiguous(value)


def _unambiguous(value: Any) -> Any:
    """The value as it must be written to read back the same: ruamel writes YAML 1.2, where `NO`, `yes`, `Off`
    or `0755` are plain strings, but the stack file's readers (PyYAML here, Pulumi's own) follow YAML 1.1 and
    would read them as a boolean or a number. Such a string is written quoted (adversarial issue 18, break 2)."""
    import yaml

    from infra.config.stack_file import read_yaml
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString
    if isinstance(value, dict):
        return {k: _unambiguous(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unambiguous(v) for v in value]
    if isinstance(value, str):
        try:
            plain = read_yaml(value)
        except yaml.YAMLError:
            plain = None
        if plain != value:
            return DoubleQuotedScalarString(value)
    return value
