"""The framework-free core stays framework-free: reviewsvc/ never imports Django, DRF, Celery or apps."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "reviewsvc"
FORBIDDEN = ("django", "rest_framework", "celery", "kombu", "apps", "config")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def forbidden_imports(path: Path) -> list[str]:
    return sorted(name for name in imported_modules(path) if name.split(".")[0] in FORBIDDEN)


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_no_framework(path):
    assert forbidden_imports(path) == []


def test_the_import_walk_would_catch_a_framework_import(tmp_path):
    offender = tmp_path / "offender.py"
    offender.write_text("from django.conf import settings\nimport apps.clips\n")
    assert forbidden_imports(offender) == ["apps.clips", "django.conf"]
