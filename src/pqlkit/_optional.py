"""Lazy imports of optional dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from pqlkit.errors import PqlkitError

__all__ = ["MissingDependencyError", "require"]


class MissingDependencyError(PqlkitError, ImportError):
    """An optional dependency is needed for this feature but is not installed."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise an error saying which pqlkit extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs {module.split('.')[0]}, which is not installed; "
            f"install it with: pip install 'pqlkit[{extra}]'"
        ) from exc
