"""Plug-in discovery: every module of a package is imported once, so that it registers itself."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType


@functools.cache
def plugin_modules(package: str) -> tuple[ModuleType, ...]:
    """The modules of `package` (all but `base`), imported, sorted by name; scanned once per process."""
    path = importlib.import_module(package).__path__
    names = sorted(info.name for info in pkgutil.iter_modules(path) if info.name != "base")
    return tuple(importlib.import_module(f"{package}.{name}") for name in names)
