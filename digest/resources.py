"""Find bundled templates/ and seeds/, installed (wheel) or in a checkout."""

from __future__ import annotations

from importlib import util
from pathlib import Path


def resource_dir(name: str) -> Path:
    """The folder of bundled `templates` or `seeds`."""
    # Installed: shipped as the digest.templates / digest.seeds packages. They have
    # no __init__.py, so they are namespace packages: resources.files() returns a
    # MultiplexedPath whose str() is not a path; ask the import spec instead.
    try:
        spec = util.find_spec(f"digest.{name}")
    except ModuleNotFoundError:
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    # Checkout: the top-level folders beside digest/.
    path = Path(__file__).resolve().parent.parent / name
    if path.is_dir():
        return path
    raise FileNotFoundError(f"bundled {name}/ not found; reinstall digest")
