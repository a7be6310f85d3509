"""Find bundled templates/ and seeds/, installed (wheel) or in a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_dir(name: str) -> Path:
    """The folder of bundled `templates` or `seeds`."""
    # Installed: shipped as the digest.templates / digest.seeds packages.
    try:
        path = Path(str(resources.files(f"digest.{name}")))
        if path.is_dir():
            return path
    except ModuleNotFoundError:
        pass
    # Checkout: the top-level folders beside digest/.
    path = Path(__file__).resolve().parent.parent / name
    if path.is_dir():
        return path
    raise FileNotFoundError(f"bundled {name}/ not found; reinstall digest")
