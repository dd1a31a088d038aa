"""`acs-infra drift`: out-of-band changes, field by field."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import typer

from infra.config import ConfigError, check_config, require_stack_file
from infra.ops import automation as ops
from infra.ops.cli.common import STATE, app, guarded, out, root


@app.command("drift")
@guarded
def drift_cmd(stacks: Optional[list[str]] = typer.Argument(None, help="stacks to check (default: dev and prod)"),
              all_stacks: bool = typer.Option(False, "--all", help="every stack, PR previews included"),
              markdown: bool = typer.Option(False, "--markdown", help="Markdown for a step summary or issue"),
              fix: bool = typer.Option(False, "--fix", help="restore declared values, re-create what is missing "
                                                            "(never deletes)"),
              remove_unmanaged: bool = typer.Option(False, "--remove-unmanaged",
                                                    help="also remove unmanaged services without data and domains "
                                                         "(never a volume or database; not on protected stacks)")) -> None:
    """Find out-of-band changes, field by field. Exit 0 clean, 2 drift, 1 the check failed."""
    from infra.ops import drift, drift_report
    names = [s.name for s in ops.workspace(root()).list_stacks()] if all_stacks else (stacks or ["dev", "prod"])
    for name in names if not all_stacks else []:  # a stack named on the command line: refused as `up` refuses it
        require_stack_file(name, root())

    def check(name: str) -> drift_report.StackDrift:
        try:  # its engine run would write a stack file into the clone (B9); a bad value is named (adv18 break 3)
            check_config(name, root())
        except ConfigError as exc:
            return drift_report.StackDrift(name, error=str(exc))
        return drift.check_stack(name, root(), fix=fix, remove_unmanaged_objects=remove_unmanaged)
    with ThreadPoolExecutor(max_workers=4) as pool:  # each check is a separate engine run
        results = list(pool.map(check, names))
    if STATE["json"]:
        out.print_json(json.dumps([r.as_dict() for r in results], default=str))
    elif markdown:
        print(drift_report.markdown_report(results))
    else:
        print(drift_report.text_report(results))
    raise typer.Exit(drift_report.exit_code(results))
