"""Adversarial pass on issue 16 (B7): what promotion implies. The image moves (by digest) and so does the code's
behaviour (commands, health path, restart policy, port); the destination's own tuning stays: capacity, and the
health-check timeout (prod's 120 s window was replaced by dev's 60 s on every promotion)."""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from infra.ops import promotion_plan

ROOT = Path(__file__).resolve().parents[2]


def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def web(root: Path, stack: str) -> dict:
    return yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text())["config"]["acs:environment"]["services"][0]


def test_promotion_keeps_the_destinations_health_check_timeout(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert (web(root, "dev")["healthcheck"]["timeoutSeconds"], web(root, "prod")["healthcheck"]["timeoutSeconds"]) \
        == (60, 120)
    plan = promotion_plan.promote_plan("dev", "prod", root)
    assert "web.healthcheck" in {d["what"] for d in plan["differences"]}, "the difference is shown"
    assert "web.healthcheck" not in {c["change"] for c in plan["changes"]}, plan["changes"]
    before = (root / "Pulumi.prod.yaml").read_text()
    promotion_plan.apply_promotion(plan, root)
    assert (root / "Pulumi.prod.yaml").read_text() == before


def test_promotion_moves_the_health_path_with_the_code(tmp_path: Path) -> None:
    root = project(tmp_path)
    dev = root / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace("path: /health", "path: /healthz"))
    plan = promotion_plan.promote_plan("dev", "prod", root)
    change = next(c for c in plan["changes"] if c["change"] == "web.healthcheck")
    assert change["to"] == {"path": "/healthz", "timeout_seconds": 120}, change
    promotion_plan.apply_promotion(plan, root)
    assert web(root, "prod")["healthcheck"] == {"path": "/healthz", "timeoutSeconds": 120}
    assert promotion_plan.promote_plan("dev", "prod", root)["changes"] == [], "promoted: nothing left to move"


AMBIGUOUS = {"A_NO": "NO", "NEW_FLAG": "yes", "A_OFF": "Off", "MODE": "0755", "RATIO": "1e3", "WHEN": "12:30",
             "TILDE": "~", "NULLISH": "null", "PLAIN": "hello"}


def test_promoted_values_read_back_as_the_strings_they_were(tmp_path: Path) -> None:
    """adv18 break 2: `NO`, `yes`, `Off` were written unquoted (ruamel writes YAML 1.2, where they are strings);
    the stack file's readers follow YAML 1.1 and read them as booleans, so prod's file was left unusable. Every
    promoted value reads back as the same string, and promoting again finds nothing to move."""
    root = project(tmp_path)
    dev = root / "Pulumi.dev.yaml"
    quoted = "".join(f"      {k}: \"{v}\"\n" for k, v in AMBIGUOUS.items())
    dev.write_text(dev.read_text().replace("      LOG_LEVEL: debug\n", "      LOG_LEVEL: debug\n" + quoted))
    promotion_plan.apply_promotion(promotion_plan.promote_plan("dev", "prod", root), root)
    variables = yaml.safe_load((root / "Pulumi.prod.yaml").read_text())["config"]["acs:environment"]["variables"]
    assert {k: variables[k] for k in AMBIGUOUS} == AMBIGUOUS
    assert promotion_plan.promote_plan("dev", "prod", root)["changes"] == [], "promoted: nothing left to move"


def test_promotion_keeps_the_files_line_endings(tmp_path: Path) -> None:
    """adv22 minor 7: a prod file with CRLF line endings was rewritten with LF: every line showed as changed."""
    root = project(tmp_path)
    prod = root / "Pulumi.prod.yaml"
    prod.write_bytes(prod.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    dev = root / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace("path: /health", "path: /healthz"))
    promotion_plan.apply_promotion(promotion_plan.promote_plan("dev", "prod", root), root)
    written = prod.read_bytes()
    assert b"/healthz" in written and written.count(b"\r\n") == written.count(b"\n"), written[:200]
