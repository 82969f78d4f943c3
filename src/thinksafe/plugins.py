"""Plug-in discovery: every module of a package is imported once, so that it registers itself.

Third-party packages add benchmarks, judges, attacks or command groups without editing
thinksafe: an entry point in the group named like the package (`thinksafe.benchmarks`,
`thinksafe.judges`, `thinksafe.attacks`, `thinksafe.commands`, `thinksafe.analysis`) names a
module, which is imported after the built-in ones and registers itself the same way.

    # a plug-in's pyproject.toml
    [project.entry-points."thinksafe.benchmarks"]
    my-bench = "my_package.my_bench"
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType

from thinksafe.errors import ThinksafeError


class PluginError(ThinksafeError, RuntimeError):
    """An installed plug-in could not be loaded; the message names its entry point."""


@functools.cache
def plugin_modules(package: str) -> tuple[ModuleType, ...]:
    """The modules of `package` (all but `base`) and of its entry-point group, imported; scanned once per process."""
    path = importlib.import_module(package).__path__
    names = sorted(info.name for info in pkgutil.iter_modules(path) if info.name != "base")
    modules = [importlib.import_module(f"{package}.{name}") for name in names]
    for point in sorted(entry_points(group=package), key=lambda p: p.name):
        try:
            loaded = point.load()
        except Exception as error:  # noqa: BLE001 - a broken plug-in is named, not a bare traceback
            raise PluginError(f"plug-in {point.name!r} ({point.value}) in group {package} failed to load: {error}") from error
        if isinstance(loaded, ModuleType):
            modules.append(loaded)
    return tuple(modules)
