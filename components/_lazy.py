"""Lazy package exports: `import nanguard.components.gate` stays cheap until a name is used."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def exports(package: str, names: Mapping[str, str]) -> tuple[Callable, Callable]:
    """`(__getattr__, __dir__)` for a package whose `names` map to the modules defining them."""

    def __getattr__(name):  # noqa: N807 (module protocol)
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    def __dir__():  # noqa: N807
        return sorted(names)

    return __getattr__, __dir__
