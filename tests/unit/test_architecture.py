"""Import boundaries that import-linter cannot express."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(package: str) -> list[tuple[Path, str]]:
    found = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((path, node.module))
    return found


def test_core_imports_only_the_standard_library() -> None:
    outside = [
        f"{path.relative_to(ROOT)}: {name}"
        for path, name in _imports("dreamforge_core")
        if name.split(".")[0] not in sys.stdlib_module_names
        and not name.startswith("dreamforge_core")
    ]
    assert outside == []


def test_every_adapter_package_is_in_the_independence_contract() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    listed = {m for c in contracts if c["type"] == "independence" for m in c["modules"]}
    packages = {
        f"dreamforge_adapters.{p.name}"
        for p in (ROOT / "dreamforge_adapters").iterdir()
        if (p / "__init__.py").exists()
    }
    assert packages == listed


def test_the_api_process_never_imports_torch_or_diffusers() -> None:
    probe = (
        "import sys, dreamforge_apps.cli, dreamforge_apps.bootstrap, dreamforge_apps.stack_api;"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'diffusers', 'transformers', 'accelerate'));"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""


def test_only_the_composition_knows_the_container_library() -> None:
    bootstrap = ROOT / "dreamforge_apps" / "bootstrap"
    outside = [
        f"{path.relative_to(ROOT)}: {name}"
        for package in ("dreamforge_core", "dreamforge_adapters", "dreamforge_apps")
        for path, name in _imports(package)
        if name.split(".")[0] == "dependency_injector" and bootstrap not in path.parents
    ]
    assert outside == []
