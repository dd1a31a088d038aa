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
