"""Which Pulumi project a command works on, found the way `pulumi` finds its own: --project-dir, ACS_PROJECT_DIR,
the nearest directory from the current one up holding a project file, else the directory holding this package.
Whichever way it was found, a project other than `acs` is refused: its stack files are not ours to run."""
from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from infra.config import ConfigError

PROJECT_NAME = "acs"
# The names `pulumi` reads a project from (adv27 B14: a Pulumi.yml was skipped, and the package's clone used)
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml", "Pulumi.json")


def project_file(directory: Path) -> Path | None:
    return next((directory / name for name in PROJECT_FILES if (directory / name).is_file()), None)


def project_dir(explicit: str | None = None) -> Path:
    """The project's directory. The package's directory came first once, so a runner's clone sharing another
    clone's virtualenv used that clone's stack files (adv25 m4); another project given by --project-dir or
    ACS_PROJECT_DIR was taken as it was (adv27 B2)."""
    given = explicit or os.environ.get("ACS_PROJECT_DIR")
    if given:
        path = Path(given)
    else:
        here = Path.cwd()
        path = next((d for d in (here, *here.parents) if project_file(d)), Path(__file__).resolve().parents[2])
    found = project_file(path)
    if found is None:
        raise ConfigError(f"no Pulumi.yaml in {path}")
    name = _project_name(found)
    if name != PROJECT_NAME:  # exactly: `pulumi` takes "acs " for another project, whose stacks we would not see
        raise ConfigError(f"{found} is the project {name if name is not None else '?'!r}, not {PROJECT_NAME!r}: "
                          "run acs-infra in the acs project or give --project-dir")
    return path


def _project_name(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError):
        return None
    name = doc.get("name") if isinstance(doc, dict) else None
    return name if isinstance(name, str) else None
