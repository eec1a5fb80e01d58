"""Lazy package attributes: a package names what it exports, and each name's module is
imported on first use (so ``import kgagent`` and ``kgagent --help`` load no torch)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``names`` maps an attribute to the module
    that defines it; the value is imported on first access and cached in the package."""

    def __getattr__(name: str) -> Any:
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(target), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
