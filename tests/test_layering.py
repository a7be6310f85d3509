"""The arrows of the layout point one way (DESIGN.md, "Layout"): checked on the source, import by import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import ROOT

PURE_PACKAGES = ["ranking", "email", "sources"]
# The single modules pure code may lean on: settings, bundled files, taxonomy, preference values, signed tokens,
# LaTeX to text.
PURE_MODULES = ["digest", "digest.wording", "digest.schedule", "digest.latex", "digest.latex_commands", "digest.latex_tables",
                "digest.config", "digest.resources", "digest.arxiv_categories", "digest.preferences",
                "digest.tokens", "digest.config_base", "digest.config_mail",
                # mail that comes back, parsed; the adapters (apply, handler, listener, imap) are not pure
                "digest.inbound", "digest.inbound.verp", "digest.inbound.mime", "digest.inbound.reports",
                "digest.inbound.plain", "digest.inbound.commands", "digest.inbound.classify",
                "digest.inbound.answers"]
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


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str, root: Path = ROOT) -> Path | None:
    """The file of module `name` under `root`, or None when `name` is not a module (an imported function, say)."""
    base = root.joinpath(*name.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def digest_imports(path: Path, root: Path = ROOT) -> set[str]:
    """The digest modules `path` imports when it runs (`from digest.x import f` counts as digest.x)."""
    return {n for n in runtime_imports(path) if (n == "digest" or n.startswith("digest.")) and module_path(n, root)}


def reach(start: str, root: Path = ROOT) -> dict[str, list[str]]:
    """Every digest module `start` imports, directly or through others, with one chain of imports that gets there."""
    chains = {start: [start]}
    todo = [start]
    while todo:
        name = todo.pop()
        for found in sorted(digest_imports(module_path(name, root), root) - chains.keys()):
            chains[found] = chains[name] + [found]
            todo.append(found)
    return chains


def pure_set(root: Path = ROOT) -> set[str]:
    return set(PURE_MODULES) | {module_name(p, root) for folder in PURE_PACKAGES
                                for p in (root / "digest" / folder).rglob("*.py")}


@pytest.mark.parametrize("path", modules(*PURE_PACKAGES), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_packages_import_no_database_network_or_celery(path):
    assert _hits(runtime_imports(path), IO_MODULES) == []


@pytest.mark.parametrize("name", sorted(pure_set()))
def test_pure_modules_reach_only_pure_modules_and_no_io(name):
    chains = reach(name)
    assert {m: " -> ".join(c) for m, c in chains.items() if m not in pure_set()} == {}
    assert {m: _hits(runtime_imports(module_path(m)), IO_MODULES) for m in chains
            if _hits(runtime_imports(module_path(m)), IO_MODULES)} == {}


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


def test_the_transitive_check_sees_a_forbidden_module_two_imports_away(tmp_path):
    for rel, body in {"digest/__init__.py": "", "digest/email/__init__.py": "",
                      "digest/email/a.py": "from digest.preferences import f\n",
                      "digest/preferences.py": "def f():\n    from digest import subscriptions\n",
                      "digest/subscriptions.py": "import sqlalchemy\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    chains = reach("digest.email.a", tmp_path)
    assert chains["digest.subscriptions"] == ["digest.email.a", "digest.preferences", "digest.subscriptions"]
    assert "digest.subscriptions" not in pure_set(tmp_path)


def _house_limit_breaches(root: Path) -> list[str]:
    """Modules over 400 lines, and functions over 60 lines without a 'house limit waived' comment just above."""
    import ast

    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        if len(lines) > 400:
            found.append(f"{path.relative_to(root)}: {len(lines)} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                above = lines[node.lineno - 2] if node.lineno > 1 else ""
                if "house limit waived" not in above:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}()")
    return found


def test_modules_and_functions_stay_within_the_house_limits():
    assert _house_limit_breaches(ROOT / "digest") + _house_limit_breaches(ROOT / "scheduler") == []


def test_the_house_limit_check_sees_a_long_module_and_a_long_function(tmp_path):
    (tmp_path / "long.py").write_text("def f():\n" + "    x = 1\n" * 70 + "\n" * 340)
    assert _house_limit_breaches(tmp_path) == ["long.py: 411 lines", "long.py:1 f()"]
