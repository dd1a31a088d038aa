"""The direction of imports the README's Layout section promises, read from the source: the Pulumi program side
(`infra` outside `infra/ops`) never imports the operations, and its layers import downwards only; the emulator
never imports the product, and the product never imports the emulator."""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def sources(package: str, exclude: str | None = None) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    # `python -m infra` is the command's entry point: the one file of the program side that names the operations
    return [f for f in files if not (exclude and ((ROOT / exclude) in f.parents or f.name == "__main__.py"))]


@pytest.mark.parametrize(("package", "exclude", "forbidden"), [
    ("infra", "infra/ops", ("infra.ops",)),
    ("infra", None, ("railway_emulator",)),
    ("railway_emulator", None, ("infra",)),
    # the layers of the program side, bottom up: railway (client, facts) -> providers -> config -> components -> program
    ("infra/railway", None, ("infra.ownership", "infra.providers", "infra.config", "infra.versions", "infra.components",
                             "infra.program")),
    ("infra/providers", None, ("infra.config", "infra.versions", "infra.components", "infra.program")),
    ("infra/config", None, ("infra.providers", "infra.versions", "infra.components", "infra.program")),
])
def test_imports_point_one_way(package: str, exclude: str | None, forbidden: tuple[str, ...]) -> None:
    offenders = {str(f.relative_to(ROOT)): sorted(m for m in imported_modules(f)
                                                  if any(m == p or m.startswith(p + ".") for p in forbidden))
                 for f in sources(package, exclude)}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checker_sees_a_lazy_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from infra.ops import automation\n")
    assert "infra.ops.automation" in imported_modules(probe)


ENGINE_VERBS = {"up", "refresh", "destroy", "preview"}


def engine_calls(path: Path) -> list[str]:
    """`<stack>.up(...)`-style calls (receiver not the runner module itself), as 'function: receiver.verb'."""
    found: list[str] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ENGINE_VERBS \
                and not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("ops", "automation")):
            found.append(f"{function}: {ast.unparse(node.func)}")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(path.read_text()), "<module>")
    return found


def test_every_engine_operation_goes_through_the_one_stack_runner() -> None:
    """Issue 18: `refresh` ran outside the stack lock and the release flow called `stack.up` itself. Only
    `infra.ops.automation.run` (which holds the lock) may call an engine operation."""
    offenders = {str(f.relative_to(ROOT)): calls for f in sorted((ROOT / "infra" / "ops").rglob("*.py"))
                 if (calls := [c for c in engine_calls(f) if not c.startswith("run: ")])}
    assert offenders == {}


def test_the_runner_checker_sees_a_direct_call(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def deploy(stack):\n    return ops.run(stack, 'up') or stack.up(on_output=print)\n")
    assert engine_calls(probe) == ["deploy: stack.up"]


# Folders whose every file the Layout tree names; elsewhere (one module per resource kind, one GraphQL document
# per operation, the emulator's per-area backends, the tests) it describes the folder.
NAMED_ONE_BY_ONE = ("infra", "infra/railway", "infra/config", "infra/components", "infra/ops", "infra/ops/cli",
                    "railway_emulator", ".github/workflows", "scripts", "benchmarks", "tools")


def layout_tree() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Layout", 1)[1].split("```")[1]


def test_the_layout_tree_names_what_is_there() -> None:
    """adv18b C: the tree left out benchmarks/, scripts/, tools/, .github/workflows/, infra/__main__.py,
    infra/railway/errors.py and six emulator files. Every top-level entry, and every file of the folders above,
    is named in it (a module by its name without `.py`)."""
    tree = layout_tree()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    top = {path.split("/")[0] for path in tracked} - {"README.md", "pyproject.toml", ".gitignore"}
    named = {path for path in tracked if path.rsplit("/", 1)[0] in NAMED_ONE_BY_ONE and "/" in path
             and not path.endswith("__init__.py")}
    missing = sorted({name for name in top if not re.search(rf"(^|\s){re.escape(name)}[/\s]", tree)
                      and not (name.startswith("Pulumi.") and "Pulumi.<stack>.yaml" in tree)}
                     | {path for path in named if not re.search(rf"\b{re.escape(path.rsplit('/', 1)[1])}\b", tree)})
    assert not missing, f"not in the README's Layout tree: {missing}"
