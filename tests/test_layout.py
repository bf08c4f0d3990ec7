"""The package's layout keeps its promise: the core imports no model family, no family imports
another, and the top-level package exports only the core API."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import patterning_core

PACKAGE = Path(patterning_core.__file__).parent
FAMILIES = ("tms", "lm", "parens")


def imported_modules(path: Path) -> set[str]:
    """Absolute dotted names of every module that ``path`` imports (relative imports resolved)."""
    package = list(path.relative_to(PACKAGE.parent).parent.parts)  # e.g. ["patterning_core", "tms"]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names |= {f"{module}.{a.name}" for a in node.names}  # `from . import data`
    return names


def family_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "patterning_core" and parts[1] in FAMILIES else None


def test_core_imports_no_family():
    for path in PACKAGE.glob("*.py"):
        families = {family_of(m) for m in imported_modules(path)} - {None}
        assert not families, f"core module {path.name} imports the family {sorted(families)}"


def test_no_family_imports_another():
    for family in FAMILIES:
        for path in (PACKAGE / family).glob("*.py"):
            others = {family_of(m) for m in imported_modules(path)} - {None, family}
            assert not others, f"{family}/{path.name} imports the family {sorted(others)}"


def test_top_level_exports_only_the_core():
    for name in patterning_core.__all__:
        module = getattr(patterning_core, name).__module__
        assert family_of(module) is None, f"patterning_core exports {name} from the family module {module}"


def test_old_flat_modules_are_gone():
    for old in ("models", "tms_control", "tms_development", "polygons", "lm_data", "induction", "spacing",
                "head_susceptibility", "induction_patterning", "parens_data", "parens_patterning"):
        assert importlib.util.find_spec(f"patterning_core.{old}") is None, f"patterning_core.{old} still exists"
