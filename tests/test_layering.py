"""The arrows of the layout point one way (DESIGN.md, "Layout"): checked on the source, import by import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import ROOT

PURE_PACKAGES = ["ranking", "email", "sources"]
IO_MODULES = ("sqlalchemy", "digest.db", "digest.models", "urllib3", "smtplib", "celery", "redis", "flask")
# `digest send --enqueue` hands batches to the Celery workers: the one place digest/ may reach scheduler/,
# lazily, inside the command.
SCHEDULER_IMPORTS_ALLOWED = {"digest/cli/sending.py"}


def runtime_imports(path: Path) -> list[str]:
    """Every module `path` imports when it runs (annotations-only imports under TYPE_CHECKING left out)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node.test)
               for child in node.body for n in ast.walk(child)}
    names = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _hits(names: list[str], prefixes) -> list[str]:
    return sorted({n for n in names for p in prefixes if n == p or n.startswith(p + ".")})


def modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / "digest" / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules(*PURE_PACKAGES), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_packages_import_no_database_network_or_celery(path):
    assert _hits(runtime_imports(path), IO_MODULES) == []


@pytest.mark.parametrize("path", modules("email"), ids=lambda p: str(p.relative_to(ROOT)))
def test_email_never_imports_delivery(path):
    assert _hits(runtime_imports(path), ["digest.delivery"]) == []


def test_nothing_in_digest_imports_scheduler_but_send_enqueue():
    offenders = {str(p.relative_to(ROOT)) for p in modules(".") if _hits(runtime_imports(p), ["scheduler"])}
    assert offenders == SCHEDULER_IMPORTS_ALLOWED


def test_the_checks_see_an_import_they_forbid(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import flask\n"
                     "def f():\n    from digest.delivery import senders\n    import sqlalchemy.orm\n")
    names = runtime_imports(probe)
    assert _hits(names, IO_MODULES) == ["sqlalchemy.orm"]
    assert _hits(names, ["digest.delivery"]) == ["digest.delivery", "digest.delivery.senders"]
